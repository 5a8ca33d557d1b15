/* WireGuard keys and the mesh-key subkeys (shared/DESIGN.md 4; wireguard.md 4). */
#ifndef CLIQUE_KEYS_H
#define CLIQUE_KEYS_H

#include <stdint.h>

#define KEYS_LEN 32
#define KEYS_BASE64_LEN 45 /* 44 chars + NUL */

/* Subkeys of the mesh key (crypto_kdf, context "cliqueb1"). */
struct keys_mesh {
	uint8_t record[KEYS_LEN]; /* XChaCha20-Poly1305 key of records */
	uint8_t psk[KEYS_LEN];	  /* key of the per-pair PSK BLAKE2b */
	uint8_t name[KEYS_LEN];	  /* key of the opaque object names */
};

void keys_derive_mesh(const uint8_t mesh_key[KEYS_LEN], struct keys_mesh *ret);
void keys_mesh_wipe(struct keys_mesh *k);
void keys_clamp(uint8_t key[KEYS_LEN]);
void keys_public(const uint8_t private_key[KEYS_LEN], uint8_t ret_public[KEYS_LEN]);
/* A new random private key (clamped) and its public key. */
void keys_generate(uint8_t ret_private[KEYS_LEN], uint8_t ret_public[KEYS_LEN]);
/* Writes key at path as base64 and a newline, mode 0600, atomically; flags of fs_write_atomic. */
int keys_write(const char *path, const uint8_t key[KEYS_LEN], unsigned flags);
/* Loads the base64 private key at path, or creates it (O_EXCL, 0600, atomic rename).
 * Returns 0 when loaded, 1 when created; -EINVAL for a malformed file. */
int keys_load_or_create(const char *path, uint8_t ret_private[KEYS_LEN],
			uint8_t ret_public[KEYS_LEN]);
/* keyed BLAKE2b(psk subkey, min(a,b) || max(a,b)): the same on both ends. */
void keys_pair_psk(const uint8_t psk_key[KEYS_LEN], const uint8_t a[KEYS_LEN],
		   const uint8_t b[KEYS_LEN], uint8_t ret[KEYS_LEN]);
/* Standard base64, 44 chars (constant-time libsodium codecs). */
void keys_to_base64(const uint8_t key[KEYS_LEN], char out[KEYS_BASE64_LEN]);
int keys_from_base64(const char *s, uint8_t ret[KEYS_LEN]);

#endif

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "fsutil.h"
#include "keys.h"

/* crypto_kdf contexts are exactly 8 bytes; changing it or an id changes every mesh's keys. */
#define KEYS_KDF_CONTEXT "cliqueb1"

enum keys_subkey_id {
	KEYS_SUBKEY_RECORD = 1,
	KEYS_SUBKEY_PSK = 2,
	KEYS_SUBKEY_NAME = 3,
};

/* One base64 line, optionally newline-terminated; anything longer is not a key file. */
#define KEYS_FILE_MAX 64

void keys_derive_mesh(const uint8_t mesh_key[KEYS_LEN], struct keys_mesh *ret)
{
	crypto_kdf_derive_from_key(ret->record, KEYS_LEN, KEYS_SUBKEY_RECORD, KEYS_KDF_CONTEXT,
				   mesh_key);
	crypto_kdf_derive_from_key(ret->psk, KEYS_LEN, KEYS_SUBKEY_PSK, KEYS_KDF_CONTEXT, mesh_key);
	crypto_kdf_derive_from_key(ret->name, KEYS_LEN, KEYS_SUBKEY_NAME, KEYS_KDF_CONTEXT,
				   mesh_key);
}

void keys_mesh_wipe(struct keys_mesh *k)
{
	sodium_memzero(k, sizeof(*k));
}

/* RFC 7748 5: what `wg genkey` stores and the kernel reports back. */
void keys_clamp(uint8_t key[KEYS_LEN])
{
	key[0] &= 248;
	key[31] = (key[31] & 127) | 64;
}

void keys_public(const uint8_t private_key[KEYS_LEN], uint8_t ret_public[KEYS_LEN])
{
	uint8_t k[KEYS_LEN];

	memcpy(k, private_key, KEYS_LEN);
	keys_clamp(k);
	crypto_scalarmult_curve25519_base(ret_public, k);
	sodium_memzero(k, sizeof(k));
}

void keys_pair_psk(const uint8_t psk_key[KEYS_LEN], const uint8_t a[KEYS_LEN],
		   const uint8_t b[KEYS_LEN], uint8_t ret[KEYS_LEN])
{
	uint8_t in[2 * KEYS_LEN];
	bool a_first = memcmp(a, b, KEYS_LEN) <= 0;

	/* Sorted so both ends hash the same bytes without talking to each other. */
	memcpy(in, a_first ? a : b, KEYS_LEN);
	memcpy(in + KEYS_LEN, a_first ? b : a, KEYS_LEN);
	crypto_generichash(ret, KEYS_LEN, in, sizeof(in), psk_key, KEYS_LEN);
}

void keys_to_base64(const uint8_t key[KEYS_LEN], char out[KEYS_BASE64_LEN])
{
	sodium_bin2base64(out, KEYS_BASE64_LEN, key, KEYS_LEN, sodium_base64_VARIANT_ORIGINAL);
}

int keys_from_base64(const char *s, uint8_t ret[KEYS_LEN])
{
	uint8_t k[KEYS_LEN];
	size_t n = 0;
	int r = -EINVAL;

	/* Exactly 44 characters: libsodium rejects non-zero leftover bits, like wg(8) does. */
	if (!s || strnlen(s, KEYS_BASE64_LEN) != KEYS_BASE64_LEN - 1 ||
	    s[KEYS_BASE64_LEN - 2] != '=')
		return -EINVAL;
	if (sodium_base642bin(k, sizeof(k), s, KEYS_BASE64_LEN - 1, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != KEYS_LEN)
		goto out;
	memcpy(ret, k, KEYS_LEN);
	r = 0;
out:
	sodium_memzero(k, sizeof(k));
	return r;
}

static int keys_read_file(int fd, uint8_t ret[KEYS_LEN])
{
	char text[KEYS_FILE_MAX + 1];
	ssize_t n;
	size_t len = 0;
	int r;

	for (;;) {
		n = read(fd, text + len, sizeof(text) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += n;
		if (len == sizeof(text) - 1) {
			r = -EINVAL;
			goto out;
		}
	}
	text[len] = '\0';
	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	r = keys_from_base64(text, ret);
out:
	sodium_memzero(text, sizeof(text));
	return r;
}

static int keys_load(const char *path, uint8_t ret[KEYS_LEN])
{
	uint8_t k[KEYS_LEN];
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = keys_read_file(fd, k);
	close(fd);
	if (r < 0)
		goto out;
	/* A key from another tool may be unclamped; store and compare only the canonical form. */
	keys_clamp(k);
	memcpy(ret, k, KEYS_LEN);
out:
	sodium_memzero(k, sizeof(k));
	return r;
}

int keys_write(const char *path, const uint8_t key[KEYS_LEN], unsigned flags)
{
	char line[KEYS_BASE64_LEN];
	int r;

	keys_to_base64(key, line);
	line[KEYS_BASE64_LEN - 1] = '\n';
	r = fs_write_atomic(path, line, KEYS_BASE64_LEN, 0600, (gid_t)-1, flags);
	sodium_memzero(line, sizeof(line));
	return r < 0 ? r : 0;
}

void keys_generate(uint8_t ret_private[KEYS_LEN], uint8_t ret_public[KEYS_LEN])
{
	randombytes_buf(ret_private, KEYS_LEN);
	keys_clamp(ret_private);
	keys_public(ret_private, ret_public);
}

int keys_load_or_create(const char *path, uint8_t ret_private[KEYS_LEN],
			uint8_t ret_public[KEYS_LEN])
{
	uint8_t k[KEYS_LEN], p[KEYS_LEN];
	int r, created = 0;

	r = keys_load(path, k);
	if (r == -ENOENT) {
		keys_generate(k, p);
		/* Never replaces an existing key: a concurrent creator loses cleanly with -EEXIST. */
		r = keys_write(path, k, FS_WRITE_NOREPLACE);
		created = 1;
		if (r == -EEXIST) {
			/* Lost a race with another creator: its key is the one on disk. */
			r = keys_load(path, k);
			created = 0;
		}
	}
	if (r < 0)
		goto out;
	memcpy(ret_private, k, KEYS_LEN);
	keys_public(k, ret_public);
	r = created;
out:
	sodium_memzero(k, sizeof(k));
	return r;
}

/*
 * Peer records: JSON {"v":1,"nonce":…,"box":…}, box = XChaCha20-Poly1305 of the payload with the
 * object name as associated data, so a record cannot be moved to another name (DESIGN.md 4).
 */
#ifndef CLIQUE_RECORD_H
#define CLIQUE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "buf.h"

struct json_t;

#define RECORD_MAX_SIZE 4096
#define RECORD_OBJECT_MAX 256

struct record {
	char name[256]; /* validated: printable, no newline, '[', ']', '=', '"', '\\', '#', ';' */
	char provider[16];
	char region[64];
	char zone[128];
	uint8_t public_key[32];
	struct ip_addr address;	       /* mesh address (IPv4) */
	uint16_t port;		       /* listen port */
	struct ip_addr wan, lan, wan6; /* endpoints; family 0 = none */
	uint64_t created, updated;     /* unix seconds (server-corrected clock) */
	uint64_t seq;		       /* increases with every publish */
};

/* "<prefix>nodes/<32 hex of keyed BLAKE2b(name subkey, provider:instance-id)>" */
int record_object_name(const uint8_t name_key[32], const char *prefix, const char *provider,
		       const char *instance_id, char *ret_name, size_t name_size);
/* Serialises and seals rec; ret_envelope is reset first. */
int record_seal(const uint8_t record_key[32], const char *object_name, const struct record *rec,
		struct buf *ret_envelope);
/*
 * Pure: opens and strictly validates. -EMSGSIZE over RECORD_MAX_SIZE, -EBADMSG not a record
 * envelope or authentication failed (wrong mesh key, moved object), -EPROTONOSUPPORT unknown
 * version, -EINVAL payload fields missing, of the wrong type or out of range.
 */
int record_open(const uint8_t record_key[32], const char *object_name, const char *buf, size_t len,
		struct record *ret);
/*
 * Seals arbitrary payload bytes into an envelope (record_seal() after serialising); exposed for
 * tests and fuzz seeds that need authentic envelopes around hostile payloads. -EMSGSIZE when
 * the envelope would exceed RECORD_MAX_SIZE.
 */
int record_seal_payload(const uint8_t record_key[32], const char *object_name, const char *payload,
			size_t len, struct buf *ret_envelope);
/* Serialises root (consumed; NULL is -ENOMEM) as compact JSON with sorted keys and seals it. */
int record_seal_json(const uint8_t record_key[32], const char *object_name, struct json_t *root,
		     struct buf *ret_envelope);
/* Opens an envelope into ret_payload (payload_size bytes) without parsing the payload (address claims):
 * the errors of record_open() before the payload. */
int record_open_payload(const uint8_t record_key[32], const char *object_name, const char *buf,
			size_t len, char *ret_payload, size_t payload_size, size_t *ret_len);
/* Only the payload JSON (for tests and the fuzz harness of the inner parser). */
int record_payload_parse(const char *json, size_t len, struct record *ret);
/* Validates a name/zone/region string per the rule above (non-empty, strlen < max, printable
 * ASCII); 0 or -EINVAL. */
int record_check_string(const char *s, size_t max);

#endif

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <jansson.h>
#include <sodium.h>

#include "keys.h"
#include "record.h"

#define RECORD_VERSION 1
#define RECORD_NAME_HASH_LEN 16
#define RECORD_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define RECORD_TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

int record_check_string(const char *s, size_t max)
{
	size_t n, i;

	if (!s)
		return -EINVAL;
	n = strnlen(s, max);
	if (n == 0 || n >= max)
		return -EINVAL;
	/* These strings reach unit-file comments, logs and `--status`: keep them one inert line. */
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c >= 0x7f || strchr("[]=\"\\#;", c))
			return -EINVAL;
	}
	return 0;
}

int record_object_name(const uint8_t name_key[32], const char *prefix, const char *provider,
		       const char *instance_id, char *ret_name, size_t name_size)
{
	uint8_t hash[RECORD_NAME_HASH_LEN];
	char in[128], hex[2 * RECORD_NAME_HASH_LEN + 1];
	int n;

	/* A ':' in the provider would make "a:b" + "c" collide with "a" + "b:c". */
	if (record_check_string(provider, 16) < 0 || strchr(provider, ':') ||
	    record_check_string(instance_id, 64) < 0)
		return -EINVAL;
	n = snprintf(in, sizeof(in), "%s:%s", provider, instance_id);
	if (n < 0 || (size_t)n >= sizeof(in))
		return -EINVAL;
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)in, n, name_key, KEYS_LEN);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	n = snprintf(ret_name, name_size, "%snodes/%s", prefix, hex);
	if (n < 0 || (size_t)n >= name_size)
		return -ENAMETOOLONG;
	return 0;
}

int record_seal_payload(const uint8_t record_key[32], const char *object_name, const char *payload,
			size_t len, struct buf *ret_envelope)
{
	char nonce64[sodium_base64_ENCODED_LEN(RECORD_NONCE_LEN, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t nonce[RECORD_NONCE_LEN], *box = NULL;
	unsigned long long boxlen;
	size_t box64len;
	char *box64 = NULL;
	int r;

	if (len > RECORD_MAX_SIZE)
		return -EMSGSIZE;
	box = malloc(len + RECORD_TAG_LEN);
	box64len = sodium_base64_ENCODED_LEN(len + RECORD_TAG_LEN, sodium_base64_VARIANT_ORIGINAL);
	box64 = malloc(box64len);
	if (!box || !box64) {
		r = -ENOMEM;
		goto out;
	}
	/* 192-bit random nonces: collisions are not a concern at any publish rate. */
	randombytes_buf(nonce, sizeof(nonce));
	/* The object name as associated data binds the record to its name (no moving, no replay). */
	crypto_aead_xchacha20poly1305_ietf_encrypt(box, &boxlen, (const uint8_t *)payload, len,
						   (const uint8_t *)object_name,
						   strlen(object_name), NULL, nonce, record_key);
	sodium_bin2base64(nonce64, sizeof(nonce64), nonce, sizeof(nonce),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(box64, box64len, box, boxlen, sodium_base64_VARIANT_ORIGINAL);
	buf_reset(ret_envelope);
	r = buf_addf(ret_envelope, "{\"v\":%d,\"nonce\":\"%s\",\"box\":\"%s\"}", RECORD_VERSION,
		     nonce64, box64);
	/* Never publish what record_open() would refuse to read back. */
	if (r == 0 && ret_envelope->len > RECORD_MAX_SIZE)
		r = -EMSGSIZE;
out:
	free(box);
	free(box64);
	return r;
}

static bool record_endpoint_ok(const struct ip_addr *a, int family)
{
	if (a->family != family)
		return false;
	if (family == AF_INET) {
		uint32_t h = ntohl(a->v4.s_addr);

		/* 0.0.0.0, multicast and broadcast cannot be a peer's endpoint. */
		return h != 0 && (h >> 28) != 0xe && h != 0xffffffffu;
	}
	return !IN6_IS_ADDR_UNSPECIFIED(&a->v6) && !IN6_IS_ADDR_MULTICAST(&a->v6);
}

static bool record_valid(const struct record *rec)
{
	return record_check_string(rec->name, sizeof(rec->name)) == 0 &&
	       record_check_string(rec->provider, sizeof(rec->provider)) == 0 &&
	       record_check_string(rec->region, sizeof(rec->region)) == 0 &&
	       record_check_string(rec->zone, sizeof(rec->zone)) == 0 &&
	       !sodium_is_zero(rec->public_key, sizeof(rec->public_key)) &&
	       rec->address.family == AF_INET && rec->port != 0 &&
	       (!rec->wan.family || record_endpoint_ok(&rec->wan, AF_INET)) &&
	       (!rec->lan.family || record_endpoint_ok(&rec->lan, AF_INET)) &&
	       (!rec->wan6.family || record_endpoint_ok(&rec->wan6, AF_INET6)) &&
	       rec->created <= INT64_MAX && rec->updated <= INT64_MAX && rec->seq <= INT64_MAX;
}

static int record_add_endpoint(json_t *obj, const char *key, const struct ip_addr *a)
{
	char s[ADDR_STRLEN];

	if (!a->family)
		return 0;
	return json_object_set_new(obj, key, json_string(addr_fmt(a, s))) < 0 ? -ENOMEM : 0;
}

int record_seal_json(const uint8_t record_key[32], const char *object_name, json_t *root,
		     struct buf *ret_envelope)
{
	char *text;
	int r;

	if (!root)
		return -ENOMEM;
	/* Sorted keys: the same value always serialises to the same bytes. */
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (!text)
		return -ENOMEM;
	r = record_seal_payload(record_key, object_name, text, strlen(text), ret_envelope);
	free(text);
	return r;
}

/* The payload object of rec; NULL when out of memory. */
static json_t *record_to_json(const struct record *rec)
{
	char pk[KEYS_BASE64_LEN], addr[ADDR_STRLEN];
	json_t *eps;
	int r;

	eps = json_object();
	if (!eps)
		return NULL;
	r = record_add_endpoint(eps, "wan", &rec->wan);
	if (r == 0)
		r = record_add_endpoint(eps, "lan", &rec->lan);
	if (r == 0)
		r = record_add_endpoint(eps, "wan6", &rec->wan6);
	if (r < 0) {
		json_decref(eps);
		return NULL;
	}
	keys_to_base64(rec->public_key, pk);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:I, s:I, s:I}", "name",
			 rec->name, "provider", rec->provider, "region", rec->region, "zone",
			 rec->zone, "public_key", pk, "address", addr_fmt(&rec->address, addr),
			 "port", (int)rec->port, "endpoints", eps, "created",
			 (json_int_t)rec->created, "updated", (json_int_t)rec->updated, "seq",
			 (json_int_t)rec->seq);
}

int record_seal(const uint8_t record_key[32], const char *object_name, const struct record *rec,
		struct buf *ret_envelope)
{
	if (!record_valid(rec))
		return -EINVAL;
	return record_seal_json(record_key, object_name, record_to_json(rec), ret_envelope);
}

static int record_copy_string(const char *s, char *out, size_t size)
{
	if (record_check_string(s, size) < 0)
		return -EINVAL;
	strcpy(out, s);
	return 0;
}

static int record_parse_ip(const char *s, int family, bool endpoint, struct ip_addr *ret)
{
	struct ip_addr a;

	if (!s)
		return 0; /* absent endpoint */
	if (addr_parse(s, &a) < 0 || a.family != family)
		return -EINVAL;
	if (endpoint && !record_endpoint_ok(&a, family))
		return -EINVAL;
	*ret = a;
	return 0;
}

/*
 * Unknown payload fields are ignored so a newer node's record still reaches older nodes in a
 * rolling upgrade; the fields we use are exact in type and range.
 */
static int record_from_json(json_t *root, struct record *ret)
{
	const char *name, *provider, *region, *zone, *pk, *address;
	const char *wan = NULL, *lan = NULL, *wan6 = NULL;
	json_int_t port, created, updated, seq;
	struct record rec = {0};
	json_t *eps;
	int r = -EINVAL;

	if (json_unpack(root, "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:I}", "name",
			&name, "provider", &provider, "region", &region, "zone", &zone,
			"public_key", &pk, "address", &address, "port", &port, "endpoints", &eps,
			"created", &created, "updated", &updated, "seq", &seq) < 0)
		return -EINVAL;
	if (json_unpack(eps, "{s?s, s?s, s?s}", "wan", &wan, "lan", &lan, "wan6", &wan6) < 0)
		return -EINVAL;
	if (record_copy_string(name, rec.name, sizeof(rec.name)) < 0 ||
	    record_copy_string(provider, rec.provider, sizeof(rec.provider)) < 0 ||
	    record_copy_string(region, rec.region, sizeof(rec.region)) < 0 ||
	    record_copy_string(zone, rec.zone, sizeof(rec.zone)) < 0)
		goto out;
	if (keys_from_base64(pk, rec.public_key) < 0 || sodium_is_zero(rec.public_key, KEYS_LEN))
		goto out;
	if (record_parse_ip(address, AF_INET, false, &rec.address) < 0 ||
	    record_parse_ip(wan, AF_INET, true, &rec.wan) < 0 ||
	    record_parse_ip(lan, AF_INET, true, &rec.lan) < 0 ||
	    record_parse_ip(wan6, AF_INET6, true, &rec.wan6) < 0)
		goto out;
	if (port < 1 || port > 65535 || created < 0 || updated < 0 || seq < 0)
		goto out;
	rec.port = port;
	rec.created = created;
	rec.updated = updated;
	rec.seq = seq;
	*ret = rec;
	r = 0;
out:
	return r;
}

int record_payload_parse(const char *json, size_t len, struct record *ret)
{
	json_error_t jerr;
	json_t *root;
	int r;

	if (len > RECORD_MAX_SIZE)
		return -EMSGSIZE;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return -EBADMSG;
	r = record_from_json(root, ret);
	json_decref(root);
	return r;
}

static int record_decode(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t n = 0;

	if (sodium_base642bin(out, max, s, strlen(s), NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EBADMSG;
	*ret_len = n;
	return 0;
}

/* Checks the envelope and decodes nonce and box; box has room for RECORD_MAX_SIZE bytes. */
static int record_envelope(const char *buf, size_t len, uint8_t nonce[RECORD_NONCE_LEN],
			   uint8_t *box, size_t *ret_boxlen)
{
	const char *nonce64, *box64;
	json_error_t jerr;
	json_int_t v;
	json_t *root, *jv;
	size_t n;
	int r = -EBADMSG;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return -EBADMSG;
	jv = json_object_get(root, "v");
	if (!json_is_integer(jv))
		goto out;
	/* Before the strict unpack: a future version may carry other fields. */
	if (json_integer_value(jv) != RECORD_VERSION) {
		r = -EPROTONOSUPPORT;
		goto out;
	}
	if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:I, s:s, s:s}", "v", &v, "nonce", &nonce64,
			   "box", &box64) < 0)
		goto out;
	if (record_decode(nonce64, nonce, RECORD_NONCE_LEN, &n) < 0 || n != RECORD_NONCE_LEN)
		goto out;
	if (record_decode(box64, box, RECORD_MAX_SIZE, &n) < 0 || n < RECORD_TAG_LEN)
		goto out;
	*ret_boxlen = n;
	r = 0;
out:
	json_decref(root);
	return r;
}

int record_open_payload(const uint8_t record_key[32], const char *object_name, const char *buf,
			size_t len, char *ret_payload, size_t payload_size, size_t *ret_len)
{
	uint8_t nonce[RECORD_NONCE_LEN], *box = NULL;
	unsigned long long plainlen;
	size_t boxlen = 0;
	int r;

	if (len > RECORD_MAX_SIZE)
		return -EMSGSIZE;
	box = malloc(RECORD_MAX_SIZE);
	if (!box)
		return -ENOMEM;
	r = record_envelope(buf, len, nonce, box, &boxlen);
	if (r < 0)
		goto out;
	if (boxlen - RECORD_TAG_LEN > payload_size) {
		r = -EMSGSIZE;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    (uint8_t *)ret_payload, &plainlen, NULL, box, boxlen,
		    (const uint8_t *)object_name, strlen(object_name), nonce, record_key) != 0) {
		r = -EBADMSG;
		goto out;
	}
	*ret_len = plainlen;
out:
	free(box);
	return r;
}

int record_open(const uint8_t record_key[32], const char *object_name, const char *buf, size_t len,
		struct record *ret)
{
	char *plain;
	size_t plainlen = 0;
	int r;

	plain = malloc(RECORD_MAX_SIZE);
	if (!plain)
		return -ENOMEM;
	r = record_open_payload(record_key, object_name, buf, len, plain, RECORD_MAX_SIZE,
				&plainlen);
	if (!r)
		r = record_payload_parse(plain, plainlen, ret);
	sodium_memzero(plain, RECORD_MAX_SIZE);
	free(plain);
	return r;
}

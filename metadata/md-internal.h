/*
 * Helpers shared by the metadata providers (providers.c): string validation, typed JSON access,
 * DMI reads and the retrying HTTP client. Not part of the public contract (provider.h).
 */
#ifndef CLIQUE_MD_INTERNAL_H
#define CLIQUE_MD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct http_header;
struct ip_addr;
struct ip_prefix;
struct json_t;
struct md_instance;

/* Hard cap on every metadata body and parser input (a real v1.json is a few KiB). */
#define MD_MAX_BODY (256 * 1024)
#define MD_URL_MAX 320

enum md_charset {
	/* ids, regions, network ids: they become zone components ("provider/region/net"), so no
	 * '/', no spaces: [A-Za-z0-9._-] */
	MD_CHARSET_ID,
	/* names: printable ASCII without space, '[', ']', '=', '"', '\\' (provider.h) */
	MD_CHARSET_NAME,
	/* HTTP header value (Linode token): [A-Za-z0-9._~+/=-] */
	MD_CHARSET_TOKEN,
};

/* Copies len bytes of src into dst as a C string: -EINVAL if empty, too long or a byte outside
 * the charset. dst is untouched on failure. */
int md_copy_str(char *dst, size_t dstlen, const char *src, size_t len, enum md_charset cs);
/* Lower-cases ASCII in place. */
void md_lower(char *s);

/* json_loadb with JSON_REJECT_DUPLICATES after the size check: -EMSGSIZE, -EBADMSG. */
int md_json_load(const char *buf, size_t len, struct json_t **ret);
/* obj[key] as a validated string: -ENOENT when missing, null or "", -EINVAL on a wrong type or
 * a bad string. obj may be NULL (-ENOENT). */
int md_json_str(struct json_t *obj, const char *key, char *dst, size_t dstlen, enum md_charset cs);
/* obj[key] when it is of the given json_type (or missing/null: *ret = NULL); -EINVAL otherwise. */
int md_json_opt(struct json_t *obj, const char *key, int type, struct json_t **ret);

/* The address fields of md_instance, for md_take_addr. */
enum md_field {
	MD_WAN4,
	MD_WAN6,
	MD_LAN4,
};

/* origin = "<doc> <path>", path printf-formatted from our own strings and indexes. */
void md_origin(char *origin, size_t len, const char *doc, const char *pathfmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * The one place every provider checks an address from a document. v is a JSON string
 * ("1.2.3.4", "1.2.3.4/32", "10.0.0.1/24", "2001:db8::1/64"); it becomes the field when the
 * field is still empty and it is one usable host of the field's family (addr_host_problem: not
 * a network such as "2001:db8::/64", not link-local, loopback, multicast, ...); the field's
 * origin becomes "<doc> <path>". Returns 1 when taken; 0 when v is missing, null or "", the
 * field is already set, or v is refused (the first refusal is kept in inst->origin.refused);
 * -EINVAL when v is not an address string of that family.
 */
int md_take_addr(struct md_instance *inst, enum md_field field, struct json_t *v, const char *doc,
		 const char *pathfmt, ...) __attribute__((format(printf, 5, 6)));
/* Same for a value already parsed (netmask-style documents); prefix->len is honoured. */
int md_take_prefix(struct md_instance *inst, enum md_field field, const struct ip_prefix *p,
		   const char *doc, const char *pathfmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * obj[addr_key] with the prefix length of obj[len_key] (absent, null or "": the full length):
 * a dotted netmask for IPv4 ("255.255.254.0"), a decimal string or number for IPv6 ("64").
 * -ENOENT when the address is missing, null or ""; -EINVAL when either is malformed or a CIDR
 * length in the address disagrees.
 */
int md_json_prefix(struct json_t *obj, const char *addr_key, const char *len_key, int family,
		   struct ip_prefix *ret);
/* True when inst, after the config overrides, has an address to publish (wan4, wan6 or lan4). */
bool md_instance_usable(const struct config *cfg, const struct md_instance *inst);

/* <sysfs_root>/<rel> ("class/net/eth0/operstate"), whitespace-trimmed; -ENOENT etc. from
 * open/read. */
int md_read_sysfs(const char *sysfs_root, const char *rel, char *ret, size_t retlen);

/* <sysfs_root>/class/dmi/id/<name>, whitespace-trimmed; -ENOENT etc. from open/read. */
int md_read_dmi(const char *sysfs_root, const char *name, char *ret, size_t retlen);
/* True when DMI sys_vendor under sysfs_root is exactly vendor (whitespace-trimmed). */
bool md_dmi_vendor_is(const char *sysfs_root, const char *vendor);

/* Writes a one-line reason to err (may be NULL); never called with a secret. */
void md_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * One metadata session: a deadline of cfg->metadata_timeout seconds (monotonic) shared by all
 * requests of one fetch(), exponential backoff, and optional fallback bases (Linode IPv6) that
 * are tried in order when the current base fails at the transport level.
 */
#define MD_MAX_BASES 3
struct md_http {
	char bases[MD_MAX_BASES][256];
	size_t n_bases;
	bool pinned; /* cfg->metadata_url: no fallback */
	size_t cur;
	uint64_t deadline_ms; /* clock_now_ms() */
	unsigned timeout_s;
	unsigned attempt; /* retries so far: the backoff step */
	char *err;
	size_t errlen;
};

/* base is cfg->metadata_url when set (then no fallback), else default_base (+ fallback_base,
 * may be NULL). Starts the deadline clock. */
int md_http_init(struct md_http *h, const struct config *cfg, const char *default_base,
		 const char *fallback_base, char *err, size_t errlen);
/* One more fallback base, tried after the others; a no-op when metadata_url is set. -ENOSPC
 * beyond MD_MAX_BASES, -EINVAL when empty or too long. */
int md_http_add_base(struct md_http *h, const char *base);
/*
 * method <base><path> with hdrs; retries transport errors, 5xx and 429 until the deadline.
 * 0 with *ret_body (caller frees with buf_free) on 2xx. Else err is set and: -ETIMEDOUT (gave up
 * retrying), -EACCES (401/403), -ENOENT (404), -EPROTO (other status), -EMSGSIZE, -ENOMEM.
 */
int md_http_request(struct md_http *h, const char *method, const char *path,
		    const struct http_header *hdrs, size_t n_hdrs, struct buf *ret_body);
/* The URL of the current base + path, for error messages after a parse failure. */
const char *md_http_url(const struct md_http *h, const char *path, char *out, size_t outlen);

/*
 * One complete read of a provider's documents into *ret, on the session h (its errors set
 * h->err); userdata is the provider's.
 */
typedef int (*md_fetch_once_fn)(struct md_http *h, void *userdata, struct md_instance *ret);
/*
 * DESIGN.md 7 "metadata with no usable address": runs once() until its instance is
 * md_instance_usable, sleeping with the session's backoff until its deadline (metadata can be
 * late at boot). Then -ENODATA and err = "<url>: no usable address after N s: <sought>
 * [; refused: <origin.refused>]", url being where the addresses come from. On success, warns
 * once when the node has only a private address (reachable only inside its private network).
 */
int md_fetch_until_usable(struct md_http *h, const struct config *cfg, const char *path,
			  const char *sought, md_fetch_once_fn once, void *userdata,
			  struct md_instance *ret);

/* A pure parser of one whole metadata document (md_vultr_parse, md_digitalocean_parse). */
typedef int (*md_parse_fn)(const char *buf, size_t len, struct md_instance *ret);
/*
 * The fetch() of a provider whose metadata is one JSON document: GET <base><path> (Accept:
 * application/json) and parse, until it yields a usable address (md_fetch_until_usable, with
 * sought naming what is looked for) or cfg->metadata_timeout is spent.
 */
int md_fetch_json(const struct config *cfg, const char *base, const char *path, md_parse_fn parse,
		  const char *sought, struct md_instance *ret, char *err, size_t errlen);
/* obj[key] as the instance name; its id when key is missing, null or "". -EINVAL when bad. */
int md_json_name(struct json_t *obj, const char *key, struct md_instance *inst);

/* Linode fetch with an explicit sysfs root for the DMI "no metadata here" check (tests). */
int md_linode_fetch_at(const struct config *cfg, const char *sysfs_root, struct md_instance *ret,
		       char *err, size_t errlen);

#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <sodium.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "record.h"
#include "text.h"
#include "../metadata/provider.h"

/* A config file is a few dozen lines; anything far bigger is not one. */
#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_LINE_MAX 1024
/* A secret file holds one value (base64 key or S3 secret) plus a newline. */
#define CONFIG_SECRET_FILE_MAX 512
#define CONFIG_ENV_PREFIX "CLIQUE_"

enum config_key_flags {
	CONFIG_KEY_SECRET = 1 << 0, /* never echo the value */
	CONFIG_KEY_EMPTY = 1 << 1,  /* "" is a valid value (= unset / default) */
};

struct config_key;
typedef int config_parse_fn(const struct config_key *k, struct config *cfg, const char *v);

struct config_key {
	const char *name;
	config_parse_fn *parse;
	size_t off, size;
	unsigned long min, max;
	unsigned flags;
	const char *expect;
	/* instead of expect: the text made at the time of the error (from a table elsewhere) */
	const char *(*expect_fn)(char *buf, size_t len);
	/* the "<key>_file" twin of a secret (or the reverse): setting one clears the other */
	const char *twin;
	unsigned insecure_bit;
};

static char *config_field(const struct config_key *k, struct config *cfg)
{
	return (char *)cfg + k->off;
}

static int config_copy(const struct config_key *k, struct config *cfg, const char *v)
{
	size_t len = strlen(v);

	if (len >= k->size)
		return -EINVAL;
	memcpy(config_field(k, cfg), v, len + 1);
	return 0;
}

static bool config_chars(const char *v, const char *extra)
{
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr(extra, *v))
			return false;
	return true;
}

/* Non-space printable: S3 access and secret keys. */
static int parse_token(const struct config_key *k, struct config *cfg, const char *v)
{
	const char *p;

	for (p = v; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '\\')
			return -EINVAL;
	return config_copy(k, cfg, v);
}

/* Names, zones, regions, ids: they end up in records, logs and unit-file comments. */
static int parse_label(const struct config_key *k, struct config *cfg, const char *v)
{
	if (*v && record_check_string(v, k->size) < 0)
		return -EINVAL;
	return config_copy(k, cfg, v);
}

/* S3 bucket names are path components of every request URL. */
static int parse_bucket(const struct config_key *k, struct config *cfg, const char *v)
{
	if (!*v || !config_chars(v, "._-"))
		return -EINVAL;
	return config_copy(k, cfg, v);
}

static int parse_region(const struct config_key *k, struct config *cfg, const char *v)
{
	if (!*v || !config_chars(v, "_-"))
		return -EINVAL;
	return config_copy(k, cfg, v);
}

/* One program, run without a shell: no arguments, no metacharacters. */
static int parse_command(const struct config_key *k, struct config *cfg, const char *v)
{
	if (!*v || !config_chars(v, "._/+-"))
		return -EINVAL;
	return config_copy(k, cfg, v);
}

static bool config_has_dotdot(const char *path)
{
	const char *p = strstr(path, "..");

	for (; p; p = strstr(p + 2, ".."))
		if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return true;
	return false;
}

static int parse_abspath(const struct config_key *k, struct config *cfg, const char *v)
{
	size_t len = strlen(v);
	int r;

	if (v[0] != '/' || config_has_dotdot(v) || strchr(v, '\\'))
		return -EINVAL;
	r = config_copy(k, cfg, v);
	if (r < 0)
		return r;
	/* "/etc/systemd/network/" and "/etc/systemd/network" are the same directory. */
	while (len > 1 && config_field(k, cfg)[len - 1] == '/')
		config_field(k, cfg)[--len] = '\0';
	return 0;
}

static int config_check_port(const char *s, size_t n)
{
	unsigned long port = 0;
	size_t i;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535 ? 0 : -EINVAL;
}

/* http(s)://host[:port][/path]: host is a DNS name, IPv4 or [IPv6]; no userinfo, no query. */
static int config_check_url(const char *v, bool allow_path)
{
	const char *host, *end, *colon;
	char ip6[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;

	if (!strncmp(v, "http://", 7))
		host = v + 7;
	else if (!strncmp(v, "https://", 8))
		host = v + 8;
	else
		return -EINVAL;
	end = host + strcspn(host, "/");
	if (*end && !allow_path)
		return -EINVAL;
	if (*end && !config_chars(end, "/._~%!$&'()*+,;=:@-"))
		return -EINVAL;
	if (*host == '[') {
		colon = memchr(host, ']', end - host);
		if (!colon || (size_t)(colon - host - 1) >= sizeof(ip6))
			return -EINVAL;
		memcpy(ip6, host + 1, colon - host - 1);
		ip6[colon - host - 1] = '\0';
		if (inet_pton(AF_INET6, ip6, &a6) != 1)
			return -EINVAL;
		colon++;
		if (colon == end)
			return 0;
		if (*colon != ':')
			return -EINVAL;
	} else {
		colon = memchr(host, ':', end - host);
		if (!colon)
			colon = end;
		if (colon == host)
			return -EINVAL;
		for (const char *p = host; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
				return -EINVAL;
		if (colon == end)
			return 0;
	}
	return config_check_port(colon + 1, end - colon - 1);
}

static int parse_url(const struct config_key *k, struct config *cfg, const char *v)
{
	if (*v && config_check_url(v, true) < 0)
		return -EINVAL;
	return config_copy(k, cfg, v);
}

/* The S3 client appends "/<bucket>/<key>" itself (path-style). */
static int parse_endpoint(const struct config_key *k, struct config *cfg, const char *v)
{
	char tmp[256];
	size_t len = strlen(v);

	if (len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, v, len + 1);
	if (len && tmp[len - 1] == '/')
		tmp[--len] = '\0';
	if (config_check_url(tmp, false) < 0)
		return -EINVAL;
	return config_copy(k, cfg, tmp);
}

static int parse_prefix(const struct config_key *k, struct config *cfg, const char *v)
{
	char tmp[128];
	size_t len = strlen(v);

	if (!len)
		return config_copy(k, cfg, v);
	if (len + 2 > sizeof(tmp) || v[0] == '/' || strstr(v, "//") || !config_chars(v, "._/-"))
		return -EINVAL;
	memcpy(tmp, v, len + 1);
	/* "clique" means the "clique/" folder, not every key starting with "clique". */
	if (tmp[len - 1] != '/') {
		tmp[len++] = '/';
		tmp[len] = '\0';
	}
	if (strstr(tmp, "/./") || !strncmp(tmp, "./", 2) || config_has_dotdot(tmp))
		return -EINVAL;
	return config_copy(k, cfg, tmp);
}

static int config_parse_ulong(const char *v, unsigned long *ret)
{
	unsigned long n;
	char *end;

	/* strtoul accepts sign and leading blanks; a config number does not. */
	if (!isdigit((unsigned char)v[0]) || strlen(v) > 10)
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = n;
	return 0;
}

static void config_store_uint(const struct config_key *k, struct config *cfg, unsigned long n)
{
	if (k->size == sizeof(uint16_t))
		*(uint16_t *)config_field(k, cfg) = n;
	else
		*(uint32_t *)config_field(k, cfg) = n;
}

static int parse_uint(const struct config_key *k, struct config *cfg, const char *v)
{
	unsigned long n;

	if (config_parse_ulong(v, &n) < 0 || n < k->min || n > k->max)
		return -EINVAL;
	config_store_uint(k, cfg, n);
	return 0;
}

static int parse_mtu(const struct config_key *k, struct config *cfg, const char *v)
{
	unsigned long n;

	/* 1280 is the IPv6 minimum link MTU; WireGuard refuses less on v6 endpoints. */
	if (config_parse_ulong(v, &n) < 0 || (n != 0 && (n < 1280 || n > 9000)))
		return -EINVAL;
	config_store_uint(k, cfg, n);
	return 0;
}

static int parse_duration(const struct config_key *k, struct config *cfg, const char *v)
{
	static const char units[] = "smhd";
	static const unsigned long mults[] = {1, 60, 3600, 86400};
	char digits[16];
	unsigned long n, mult = 1;
	size_t len = strlen(v);
	const char *u;

	if (!len || len >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, v, len + 1);
	u = strchr(units, v[len - 1]);
	if (u) {
		mult = mults[u - units];
		digits[--len] = '\0';
	}
	if (config_parse_ulong(digits, &n) < 0 || n > k->max / mult)
		return -EINVAL;
	config_store_uint(k, cfg, n * mult);
	return 0;
}

static int parse_ip(const struct config_key *k, struct config *cfg, const char *v)
{
	struct ip_addr a = {0};

	if (*v && (addr_parse(v, &a) < 0 || a.family != (int)k->min))
		return -EINVAL;
	memcpy(config_field(k, cfg), &a, sizeof(a));
	return 0;
}

static uint32_t config_v4(const struct ip_addr *a)
{
	return ntohl(a->v4.s_addr);
}

static void config_set_v4(struct ip_addr *a, uint32_t host)
{
	a->family = AF_INET;
	a->v4.s_addr = htonl(host);
}

static void config_default_pool(struct config *cfg)
{
	uint32_t net = config_v4(&cfg->network.addr);
	uint32_t hostmask = cfg->network.len ? 0xffffffffu >> cfg->network.len : 0xffffffffu;

	config_set_v4(&cfg->pool_start, net + 1);
	config_set_v4(&cfg->pool_end, (net | hostmask) - 1);
}

static int parse_network(const struct config_key *k, struct config *cfg, const char *v)
{
	struct ip_prefix p, masked;

	(void)k;
	/* Mesh addresses are IPv4 /32s; /31 and /32 leave no host to address. */
	if (!strchr(v, '/') || addr_parse_prefix(v, &p) < 0 || p.addr.family != AF_INET ||
	    p.len < 1 || p.len > 30)
		return -EINVAL;
	masked = p;
	addr_mask(&masked);
	/* "10.15.0.3/16" is more likely a misplaced address than a network. */
	if (!addr_equal(&masked.addr, &p.addr))
		return -EINVAL;
	cfg->network = p;
	if (!cfg->has_pool)
		config_default_pool(cfg);
	return 0;
}

static int parse_address(const struct config_key *k, struct config *cfg, const char *v)
{
	struct ip_addr a = {0};

	(void)k;
	if (strcmp(v, "auto") && (addr_parse(v, &a) < 0 || a.family != AF_INET))
		return -EINVAL;
	cfg->address_auto = a.family == 0;
	cfg->address = a;
	return 0;
}

static int parse_pool(const struct config_key *k, struct config *cfg, const char *v)
{
	char tmp[2 * INET_ADDRSTRLEN];
	struct ip_addr a, b;
	char *dash;

	(void)k;
	if (strlen(v) >= sizeof(tmp))
		return -EINVAL;
	strcpy(tmp, v);
	dash = strchr(tmp, '-');
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (addr_parse(tmp, &a) < 0 || addr_parse(dash + 1, &b) < 0 || a.family != AF_INET ||
	    b.family != AF_INET || addr_cmp(&a, &b) > 0)
		return -EINVAL;
	cfg->pool_start = a;
	cfg->pool_end = b;
	cfg->has_pool = true;
	return 0;
}

/* What the kernel's dev_valid_name() accepts, minus characters unit files or shells mind. */
static int parse_ifname(const struct config_key *k, struct config *cfg, const char *v)
{
	if (!ifname_valid(v) || !config_chars(v, "_.-"))
		return -EINVAL;
	return config_copy(k, cfg, v);
}

static const char *const config_backend_names[] = {
	[CONFIG_BACKEND_AUTO] = "auto",
	[CONFIG_BACKEND_KERNEL] = "kernel",
	[CONFIG_BACKEND_USERSPACE] = "userspace",
};

static int config_lookup(const char *const *names, size_t n, const char *v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], v))
			return i;
	return -EINVAL;
}

/* "auto" or a name of the provider table: a new provider needs no line here */
static int parse_provider(const struct config_key *k, struct config *cfg, const char *v)
{
	if (strcmp(v, "auto") && !md_provider_find(v))
		return -EINVAL;
	return config_copy(k, cfg, v);
}

static const char *expect_provider(char *buf, size_t len)
{
	char names[128];

	snprintf(buf, len, "auto or one of %s", md_provider_names(names, sizeof(names)));
	return buf;
}

static int parse_backend(const struct config_key *k, struct config *cfg, const char *v)
{
	int i;

	(void)k;
	i = config_lookup(config_backend_names, 3, v);
	if (i < 0)
		return i;
	cfg->backend = i;
	return 0;
}

static int parse_mesh_key(const struct config_key *k, struct config *cfg, const char *v)
{
	int r;

	(void)k;
	r = keys_from_base64(v, cfg->mesh_key);
	if (r < 0)
		return r;
	cfg->has_mesh_key = true;
	return 0;
}

#define KEY(n, fn, f, ...)                                                 \
	{                                                                  \
		.name = n, .parse = fn, .off = offsetof(struct config, f), \
		.size = sizeof(((struct config *)0)->f), __VA_ARGS__       \
	}
#define LABEL "printable text without []=\"\\#;"

static const struct config_key config_keys[] = {
	KEY("bucket_endpoint", parse_endpoint, bucket_endpoint,
	    .expect = "an http:// or https:// URL without a path"),
	KEY("bucket", parse_bucket, bucket, .expect = "a bucket name [A-Za-z0-9._-]"),
	KEY("bucket_region", parse_region, bucket_region, .expect = "a region like us-east-1"),
	KEY("bucket_parallel", parse_uint, bucket_parallel, .min = 1, .max = 64,
	    .expect = "GETs in flight, 1-64"),
	KEY("bucket_timeout", parse_duration, bucket_timeout, .max = 86400,
	    .expect = "seconds, or a number with suffix s, m, h; 0 = no limit; at most 1d"),
	KEY("access_key", parse_token, access_key, .flags = CONFIG_KEY_SECRET,
	    .expect = "an S3 access key", .twin = "access_key_file"),
	KEY("access_key_file", parse_abspath, access_key_file, .expect = "an absolute path",
	    .twin = "access_key", .insecure_bit = CONFIG_INSECURE_ACCESS_KEY_FILE),
	KEY("secret_key", parse_token, secret_key, .flags = CONFIG_KEY_SECRET,
	    .expect = "an S3 secret key", .twin = "secret_key_file"),
	KEY("secret_key_file", parse_abspath, secret_key_file, .expect = "an absolute path",
	    .twin = "secret_key", .insecure_bit = CONFIG_INSECURE_SECRET_KEY_FILE),
	KEY("ca_file", parse_abspath, ca_file, .expect = "an absolute path"),
	KEY("prefix", parse_prefix, prefix, .flags = CONFIG_KEY_EMPTY,
	    .expect = "empty or a relative key prefix like clique/"),
	KEY("mesh_key", parse_mesh_key, mesh_key, .flags = CONFIG_KEY_SECRET,
	    .expect = "base64 of 32 bytes", .twin = "mesh_key_file"),
	KEY("mesh_key_file", parse_abspath, mesh_key_file, .expect = "an absolute path",
	    .twin = "mesh_key", .insecure_bit = CONFIG_INSECURE_MESH_KEY_FILE),
	KEY("network", parse_network, network,
	    .expect = "an IPv4 network like 10.15.0.0/16, prefix length 1-30"),
	KEY("address", parse_address, address, .expect = "an IPv4 address or auto"),
	KEY("pool", parse_pool, pool_start, .expect = "an IPv4 range like 10.15.2.1-10.15.2.254"),
	KEY("interface", parse_ifname, interface,
	    .expect = "an interface name of 1-15 characters [A-Za-z0-9_.-]"),
	KEY("listen_port", parse_uint, listen_port, .min = 1, .max = 65535, .expect = "1-65535"),
	KEY("mtu", parse_mtu, mtu, .expect = "0 or 1280-9000"),
	KEY("keepalive", parse_uint, keepalive, .max = 65535, .expect = "seconds, 0-65535"),
	KEY("provider", parse_provider, provider, .expect_fn = expect_provider),
	KEY("zone", parse_label, zone, .flags = CONFIG_KEY_EMPTY, .expect = LABEL),
	KEY("backend", parse_backend, backend, .expect = "auto, kernel or userspace"),
	KEY("userspace_command", parse_command, userspace_command,
	    .expect = "a program name or path [A-Za-z0-9._/+-]"),
	KEY("networkd_dir", parse_abspath, networkd_dir, .expect = "an absolute path"),
	KEY("state_dir", parse_abspath, state_dir, .expect = "an absolute path"),
	KEY("metadata_url", parse_url, metadata_url, .flags = CONFIG_KEY_EMPTY,
	    .expect = "an http:// or https:// URL"),
	KEY("metadata_timeout", parse_duration, metadata_timeout, .max = 86400,
	    .expect = "seconds, or a number with suffix s, m, h; at most 1d"),
	KEY("expire_after", parse_duration, expire_after, .max = UINT32_MAX,
	    .expect = "seconds, or a number with suffix s, m, h, d; 0 = never"),
	KEY("instance_id", parse_label, instance_id, .flags = CONFIG_KEY_EMPTY, .expect = LABEL),
	KEY("name", parse_label, name, .flags = CONFIG_KEY_EMPTY, .expect = LABEL),
	KEY("region", parse_label, region, .flags = CONFIG_KEY_EMPTY, .expect = LABEL),
	KEY("wan_ipv4", parse_ip, wan_ipv4, .min = AF_INET, .flags = CONFIG_KEY_EMPTY,
	    .expect = "an IPv4 address"),
	KEY("wan_ipv6", parse_ip, wan_ipv6, .min = AF_INET6, .flags = CONFIG_KEY_EMPTY,
	    .expect = "an IPv6 address"),
	KEY("lan_ipv4", parse_ip, lan_ipv4, .min = AF_INET, .flags = CONFIG_KEY_EMPTY,
	    .expect = "an IPv4 address"),
};

#define CONFIG_N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static int config_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_N_KEYS; i++)
		if (!strcmp(config_keys[i].name, name))
			return i;
	return -ENOENT;
}

/* A key and its "_file" twin are one setting: the lower table index stands for both. */
static int config_slot(int i)
{
	int twin;

	if (!config_keys[i].twin)
		return i;
	twin = config_find(config_keys[i].twin);
	return twin < i ? twin : i;
}

static void config_clear(struct config *cfg, const struct config_key *k)
{
	sodium_memzero(config_field(k, cfg), k->size);
	if (k->parse == parse_mesh_key)
		cfg->has_mesh_key = false;
}

static void config_errorf(struct config_error *err, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void config_errorf(struct config_error *err, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
}

static void config_bad_value(struct config_error *err, unsigned line, const char *where,
			     const struct config_key *k, const char *v)
{
	char q[96], buf[160];
	const char *expect = k->expect_fn ? k->expect_fn(buf, sizeof(buf)) : k->expect;

	if (k->flags & CONFIG_KEY_SECRET) {
		config_errorf(err, line, "%sbad value for %s (expected %s)", where, k->name,
			      expect);
		return;
	}
	log_quote(q, sizeof(q), v, strlen(v));
	config_errorf(err, line, "%sbad value for %s: '%s' (expected %s)", where, k->name, q,
		      expect);
}

/* Quotes would invite the question whether they are stripped; control bytes never belong. */
static bool config_value_chars_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f || *v == '"')
			return false;
	return true;
}

static int config_apply(struct config *cfg, int i, const char *v, unsigned line, const char *where,
			struct config_error *err)
{
	const struct config_key *k = &config_keys[i];
	int r;

	if (!config_value_chars_ok(v) || (!*v && !(k->flags & CONFIG_KEY_EMPTY))) {
		r = -EINVAL;
		goto fail;
	}
	r = k->parse(k, cfg, v);
	if (r < 0)
		goto fail;
	/* The later source wins over the earlier one, whichever form it uses. */
	if (k->twin)
		config_clear(cfg, &config_keys[config_find(k->twin)]);
	return 0;
fail:
	config_bad_value(err, line, where, k, v);
	return -EINVAL;
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->bucket_region, "us-east-1");
	cfg->bucket_parallel = 16; /* DESIGN.md 9: at least 16 GETs in flight at first boot */
	cfg->bucket_timeout = 60;  /* then the mesh comes up from the cache, exit 75 */
	strcpy(cfg->prefix, "clique/");
	cfg->network.addr.family = AF_INET;
	cfg->network.addr.v4.s_addr = htonl(0x0a0f0000); /* 10.15.0.0/16, the seed's network */
	cfg->network.len = 16;
	config_default_pool(cfg);
	cfg->address_auto = true;
	strcpy(cfg->interface, "wg0");
	cfg->listen_port = 51871;
	cfg->keepalive = 25;
	strcpy(cfg->provider, "auto");
	strcpy(cfg->userspace_command, "wireguard-go");
	strcpy(cfg->networkd_dir, "/etc/systemd/network");
	strcpy(cfg->state_dir, "/var/lib/clique-boot");
	cfg->metadata_timeout = 120;
}

int config_set(struct config *cfg, const char *key, const char *value, struct config_error *err)
{
	char q[64];
	int i;

	i = config_find(key);
	if (i < 0) {
		config_errorf(err, 0, "unknown key '%s'",
			      log_quote(q, sizeof(q), key, strlen(key)));
		return -EINVAL;
	}
	return config_apply(cfg, i, value, 0, "", err);
}

static char *config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* seen[] holds the line a slot was set on (0 = not yet). */
static int config_parse_line(struct config *cfg, char *line, unsigned lineno, unsigned *seen,
			     struct config_error *err)
{
	char where[32], q[64], *eq, *key, *value;
	int i, slot;

	line = config_trim(line);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		config_errorf(err, lineno, "line %u: expected 'key = value'", lineno);
		return -EINVAL;
	}
	*eq = '\0';
	key = config_trim(line);
	value = config_trim(eq + 1);
	i = config_find(key);
	if (i < 0) {
		config_errorf(err, lineno, "line %u: unknown key '%s'", lineno,
			      log_quote(q, sizeof(q), key, strlen(key)));
		return -EINVAL;
	}
	slot = config_slot(i);
	if (seen[slot]) {
		config_errorf(err, lineno, "line %u: duplicate key %s (already set on line %u)",
			      lineno, key, seen[slot]);
		return -EINVAL;
	}
	seen[slot] = lineno;
	snprintf(where, sizeof(where), "line %u: ", lineno);
	return config_apply(cfg, i, value, lineno, where, err);
}

int config_parse(struct config *cfg, const char *buf, size_t len, const char *source,
		 struct config_error *err)
{
	unsigned seen[CONFIG_N_KEYS] = {0}, lineno = 0;
	char line[CONFIG_LINE_MAX];
	size_t pos = 0, n;
	const char *nl;
	int r = 0;

	/* The caller (main.c) names the file in front of "line N: ...". */
	(void)source;
	while (pos < len) {
		lineno++;
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n && buf[pos + n - 1] == '\r')
			n--;
		if (n >= sizeof(line) || memchr(buf + pos, '\0', n)) {
			config_errorf(err, lineno, "line %u: %s", lineno,
				      n >= sizeof(line) ? "line too long" : "NUL byte");
			r = -EINVAL;
			break;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		r = config_parse_line(cfg, line, lineno, seen, err);
		if (r < 0)
			break;
		pos += (nl ? (size_t)(nl - (buf + pos)) + 1 : len - pos);
	}
	sodium_memzero(line, sizeof(line));
	return r;
}

/* "CLIQUE_MESH_KEY_FILE=..." -> key "mesh_key_file"; 0 when not ours. */
static int config_env_key(const char *entry, char *key, size_t keylen, const char **ret_value)
{
	const char *name, *eq;
	size_t i, n;

	if (strncmp(entry, CONFIG_ENV_PREFIX, strlen(CONFIG_ENV_PREFIX)))
		return 0;
	name = entry + strlen(CONFIG_ENV_PREFIX);
	eq = strchr(name, '=');
	if (!eq)
		return 0;
	n = eq - name;
	if (n >= keylen)
		n = keylen - 1;
	for (i = 0; i < n; i++)
		key[i] = tolower((unsigned char)name[i]);
	key[n] = '\0';
	*ret_value = eq + 1;
	return 1;
}

int config_apply_env(struct config *cfg, char *const *envp, struct config_error *err)
{
	int seen[CONFIG_N_KEYS], i, slot, r;
	char key[64], value[CONFIG_LINE_MAX], where[96];
	const char *v;
	size_t j;

	for (j = 0; j < CONFIG_N_KEYS; j++)
		seen[j] = -1;
	for (j = 0; envp && envp[j]; j++) {
		if (!config_env_key(envp[j], key, sizeof(key), &v))
			continue;
		i = config_find(key);
		/* Not an error: test harnesses and wrappers set CLIQUE_* variables of their own.
		 * A typo of a required key still fails config_check(). */
		if (i < 0) {
			if (!cfg->env_unknown[0])
				log_quote(cfg->env_unknown, sizeof(cfg->env_unknown), envp[j],
					  strcspn(envp[j], "="));
			continue;
		}
		slot = config_slot(i);
		if (seen[slot] == i)
			continue; /* getenv() semantics: the first definition wins */
		if (seen[slot] >= 0) {
			config_errorf(err, 0, "environment: both %s%s and %s%s are set",
				      CONFIG_ENV_PREFIX, config_keys[seen[slot]].name,
				      CONFIG_ENV_PREFIX, config_keys[i].name);
			return -EINVAL;
		}
		seen[slot] = i;
		if (strlen(v) >= sizeof(value)) {
			config_bad_value(err, 0, "environment: ", &config_keys[i], "(too long)");
			return -EINVAL;
		}
		strcpy(value, v);
		snprintf(where, sizeof(where), "environment %.*s: ", (int)strcspn(envp[j], "="),
			 envp[j]);
		r = config_apply(cfg, i, config_trim(value), 0, where, err);
		sodium_memzero(value, sizeof(value));
		if (r < 0)
			return r;
	}
	return 0;
}

static int config_read_fd(int fd, size_t max, char *buf, size_t *ret_len)
{
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += n;
		if (len > max)
			return -EFBIG;
	}
	*ret_len = len;
	return 0;
}

/* Reads a bounded file; *ret_insecure when others may read it (networkd's S_IRWXO rule). */
static int config_read_file(const char *path, size_t max, char *buf, size_t *ret_len,
			    bool *ret_insecure)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	r = config_read_fd(fd, max, buf, ret_len);
	if (r < 0)
		goto out;
	*ret_insecure = st.st_mode & S_IRWXO;
out:
	close(fd);
	return r;
}

static int config_load_secret(struct config *cfg, int i, struct config_error *err)
{
	const struct config_key *fk = &config_keys[i], *k = &config_keys[config_find(fk->twin)];
	const char *path = config_field(fk, cfg);
	char buf[CONFIG_SECRET_FILE_MAX + 1], where[CONFIG_PATH_MAX + 64];
	bool insecure = false;
	size_t len = 0;
	int r;

	r = config_read_file(path, CONFIG_SECRET_FILE_MAX, buf, &len, &insecure);
	if (r < 0) {
		config_errorf(err, 0, "cannot read %s '%s': %s", fk->name, path, strerror(-r));
		goto out;
	}
	buf[len] = '\0';
	/* `echo key > file` and editors add one newline; nothing else is trimmed. */
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	r = -EINVAL;
	if (strlen(buf) == len && config_value_chars_ok(buf) && *buf)
		r = k->parse(k, cfg, buf);
	if (r < 0) {
		snprintf(where, sizeof(where), "%s '%s': ", fk->name, path);
		config_bad_value(err, 0, where, k, buf);
		r = -EINVAL;
		goto out;
	}
	if (insecure)
		cfg->insecure_files |= fk->insecure_bit;
out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}

int config_load_secrets(struct config *cfg, struct config_error *err)
{
	size_t i;
	int r;

	for (i = 0; i < CONFIG_N_KEYS; i++) {
		if (!config_keys[i].insecure_bit || !*config_field(&config_keys[i], cfg))
			continue;
		r = config_load_secret(cfg, i, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool config_has_inline_secret(const struct config *cfg)
{
	return cfg->access_key[0] || cfg->secret_key[0] || cfg->has_mesh_key;
}

/* curl reads the bundle only at the first https request: a bad path is a config error now. */
static int config_check_ca_file(const struct config *cfg, struct config_error *err)
{
	struct stat st;
	int fd, r = 0;

	if (!cfg->ca_file[0])
		return 0;
	fd = open(cfg->ca_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		r = -errno;
	else if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	if (fd >= 0)
		close(fd);
	if (r < 0)
		config_errorf(err, 0, "cannot read ca_file '%s': %s", cfg->ca_file,
			      r == -EINVAL ? "not a regular file" : strerror(-r));
	return r;
}

int config_load(struct config *cfg, const char *path, char *const *envp, struct config_error *err)
{
	bool insecure = false;
	size_t len = 0;
	char *buf;
	int r;

	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	r = config_read_file(path, CONFIG_FILE_MAX, buf, &len, &insecure);
	/* The caller names the file; a missing one gets its own message there (-ENOENT). */
	if (r < 0 && r != -ENOENT)
		config_errorf(err, 0, "cannot read: %s",
			      r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
	if (r < 0)
		goto out;
	r = config_parse(cfg, buf, len, path, err);
	if (r < 0)
		goto out;
	if (insecure && config_has_inline_secret(cfg))
		cfg->insecure_files |= CONFIG_INSECURE_CONFIG;
	r = config_apply_env(cfg, envp, err);
	if (r < 0)
		goto out;
	r = config_load_secrets(cfg, err);
	if (r < 0)
		goto out;
	r = config_check(cfg, err);
	if (r < 0)
		goto out;
	r = config_check_ca_file(cfg, err);
out:
	sodium_memzero(buf, CONFIG_FILE_MAX + 1);
	free(buf);
	return r;
}

static int config_check_required(const struct config *cfg, struct config_error *err)
{
	const char *missing = NULL;

	if (!cfg->bucket_endpoint[0])
		missing = "bucket_endpoint";
	else if (!cfg->bucket[0])
		missing = "bucket";
	else if (!cfg->access_key[0] && !cfg->access_key_file[0])
		missing = "access_key (or access_key_file)";
	else if (!cfg->secret_key[0] && !cfg->secret_key_file[0])
		missing = "secret_key (or secret_key_file)";
	else if (!cfg->has_mesh_key && !cfg->mesh_key_file[0])
		missing = "mesh_key (or mesh_key_file)";
	if (!missing)
		return 0;
	config_errorf(err, 0, "missing required key %s", missing);
	return -EINVAL;
}

/* Inside the network and neither its network nor its broadcast address. */
static bool config_usable(const struct config *cfg, const struct ip_addr *a)
{
	uint32_t net = config_v4(&cfg->network.addr), host = config_v4(a);
	uint32_t hostmask = 0xffffffffu >> cfg->network.len;

	return addr_in_prefix(a, &cfg->network) && host != net && host != (net | hostmask);
}

int config_check(struct config *cfg, struct config_error *err)
{
	char a[ADDR_STRLEN], b[ADDR_STRLEN], n[ADDR_STRLEN];
	int r;

	r = config_check_required(cfg, err);
	if (r < 0)
		return r;
	addr_fmt(&cfg->network.addr, n);
	if (!cfg->address_auto && !config_usable(cfg, &cfg->address)) {
		config_errorf(err, 0, "address %s is not a host address of network %s/%u",
			      addr_fmt(&cfg->address, a), n, cfg->network.len);
		return -EINVAL;
	}
	if (!cfg->has_pool)
		config_default_pool(cfg);
	if (!config_usable(cfg, &cfg->pool_start) || !config_usable(cfg, &cfg->pool_end)) {
		config_errorf(err, 0, "pool %s-%s is not made of host addresses of network %s/%u",
			      addr_fmt(&cfg->pool_start, a), addr_fmt(&cfg->pool_end, b), n,
			      cfg->network.len);
		return -EINVAL;
	}
	if (!strcmp(cfg->provider, "static") && (!cfg->instance_id[0] || !cfg->region[0])) {
		config_errorf(err, 0, "provider = static needs instance_id and region");
		return -EINVAL;
	}
	if (!cfg->ca_file[0] && !strncmp(cfg->bucket_endpoint, "https://", 8))
		strcpy(cfg->ca_file, CONFIG_CA_FILE_DEFAULT);
	return 0;
}

int config_path(const struct config *cfg, const char *path, char *out, size_t outlen)
{
	size_t rootlen = strlen(cfg->root);
	int n;

	if (!path || !*path)
		return -EINVAL;
	while (rootlen > 1 && cfg->root[rootlen - 1] == '/')
		rootlen--;
	if (rootlen && (path[0] != '/' || config_has_dotdot(path)))
		return -EINVAL;
	if (rootlen == 1 && cfg->root[0] == '/')
		rootlen = 0; /* --root / is the real root */
	n = snprintf(out, outlen, "%.*s%s", (int)rootlen, cfg->root, path);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

void config_wipe(struct config *cfg)
{
	sodium_memzero(cfg->access_key, sizeof(cfg->access_key));
	sodium_memzero(cfg->secret_key, sizeof(cfg->secret_key));
	sodium_memzero(cfg->mesh_key, sizeof(cfg->mesh_key));
	cfg->has_mesh_key = false;
}

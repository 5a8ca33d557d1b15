/*
 * Provider table, selection, config overrides, and the helpers every provider shares: string
 * validation, typed JSON access, DMI reads and the retrying metadata HTTP client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <jansson.h>

#include "../bootstrap/buf.h"
#include "../bootstrap/clock.h"
#include "../bootstrap/config.h"
#include "../bootstrap/http.h"
#include "../bootstrap/log.h"
#include "md-internal.h"
#include "provider.h"

#define MD_DELAY_FIRST_MS 500
#define MD_DELAY_MAX_MS 5000
#define MD_REQ_TIMEOUT_MIN_MS 1000
#define MD_REQ_TIMEOUT_MAX_MS 10000
#define MD_ERR_PART 512

const struct md_provider *const md_providers[] = {
	&md_linode, &md_vultr, &md_digitalocean, &md_hetzner, &md_aws, &md_static, NULL,
};

const struct md_provider *md_provider_find(const char *name)
{
	size_t i;

	for (i = 0; md_providers[i]; i++) {
		if (!strcmp(md_providers[i]->name, name))
			return md_providers[i];
	}
	return NULL;
}

const char *md_provider_names(char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; md_providers[i] && used < len; i++) {
		n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", md_providers[i]->name);
		if (n < 0)
			break;
		used += n;
	}
	return buf;
}

const struct md_provider *md_provider_select(const struct config *cfg, const char *sysfs_root)
{
	size_t i;

	/* "" as well as "auto": a config made by memset (tests) detects */
	if (cfg->provider[0] && strcmp(cfg->provider, "auto"))
		return md_provider_find(cfg->provider);
	if (!sysfs_root)
		sysfs_root = "/sys";
	for (i = 0; md_providers[i]; i++) {
		if (md_providers[i]->detect(sysfs_root))
			return md_providers[i];
	}
	return NULL;
}

void md_apply_overrides(const struct config *cfg, struct md_instance *inst)
{
	/* config.c validated these already; a value that still fails our charset keeps the
	 * fetched one rather than breaking the md_instance invariant. */
	if (cfg->instance_id[0])
		(void)md_copy_str(inst->id, sizeof(inst->id), cfg->instance_id,
				  strlen(cfg->instance_id), MD_CHARSET_ID);
	if (cfg->name[0])
		(void)md_copy_str(inst->name, sizeof(inst->name), cfg->name, strlen(cfg->name),
				  MD_CHARSET_NAME);
	if (cfg->region[0] && !md_copy_str(inst->region, sizeof(inst->region), cfg->region,
					   strlen(cfg->region), MD_CHARSET_ID)) {
		md_lower(inst->region);
		md_origin(inst->origin.region, sizeof(inst->origin.region), "config", "region");
	}
	if (cfg->wan_ipv4.family) {
		inst->wan4 = cfg->wan_ipv4;
		md_origin(inst->origin.wan4, sizeof(inst->origin.wan4), "config", "wan_ipv4");
	}
	if (cfg->wan_ipv6.family) {
		inst->wan6 = cfg->wan_ipv6;
		md_origin(inst->origin.wan6, sizeof(inst->origin.wan6), "config", "wan_ipv6");
	}
	if (cfg->lan_ipv4.family) {
		inst->lan4 = cfg->lan_ipv4;
		md_origin(inst->origin.lan4, sizeof(inst->origin.lan4), "config", "lan_ipv4");
	}
}

bool md_instance_usable(const struct config *cfg, const struct md_instance *inst)
{
	return inst->wan4.family || inst->wan6.family || inst->lan4.family ||
	       cfg->wan_ipv4.family || cfg->wan_ipv6.family || cfg->lan_ipv4.family;
}

static void md_vorigin(char *origin, size_t len, const char *doc, const char *pathfmt, va_list ap)
{
	int n = snprintf(origin, len, "%s ", doc);

	if (n >= 0 && (size_t)n < len)
		vsnprintf(origin + n, len - n, pathfmt, ap);
}

void md_origin(char *origin, size_t len, const char *doc, const char *pathfmt, ...)
{
	va_list ap;

	va_start(ap, pathfmt);
	md_vorigin(origin, len, doc, pathfmt, ap);
	va_end(ap);
}

static struct ip_addr *md_field_addr(struct md_instance *inst, enum md_field field, char **origin)
{
	switch (field) {
	case MD_WAN4:
		*origin = inst->origin.wan4;
		return &inst->wan4;
	case MD_WAN6:
		*origin = inst->origin.wan6;
		return &inst->wan6;
	case MD_LAN4:
		break;
	}
	*origin = inst->origin.lan4;
	return &inst->lan4;
}

static int md_vtake_prefix(struct md_instance *inst, enum md_field field, const struct ip_prefix *p,
			   const char *doc, const char *pathfmt, va_list ap)
{
	char *origin, where[MD_ORIGIN_MAX], a[ADDR_STRLEN];
	struct ip_addr *dst = md_field_addr(inst, field, &origin);
	const char *why = addr_host_problem(p);

	if (p->addr.family != (field == MD_WAN6 ? AF_INET6 : AF_INET))
		return -EINVAL;
	if (dst->family)
		return 0;
	md_vorigin(where, sizeof(where), doc, pathfmt, ap);
	if (why) {
		if (!inst->origin.refused[0])
			snprintf(inst->origin.refused, sizeof(inst->origin.refused), "%s %s/%u: %s",
				 where, addr_fmt(&p->addr, a), p->len, why);
		return 0;
	}
	*dst = p->addr;
	memcpy(origin, where, MD_ORIGIN_MAX);
	return 1;
}

int md_take_prefix(struct md_instance *inst, enum md_field field, const struct ip_prefix *p,
		   const char *doc, const char *pathfmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, pathfmt);
	r = md_vtake_prefix(inst, field, p, doc, pathfmt, ap);
	va_end(ap);
	return r;
}

int md_take_addr(struct md_instance *inst, enum md_field field, json_t *v, const char *doc,
		 const char *pathfmt, ...)
{
	struct ip_prefix p;
	va_list ap;
	int r;

	if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= ADDR_STRLEN)
		return -EINVAL;
	r = addr_parse_prefix(json_string_value(v), &p);
	if (r < 0)
		return r;
	va_start(ap, pathfmt);
	r = md_vtake_prefix(inst, field, &p, doc, pathfmt, ap);
	va_end(ap);
	return r;
}

static int md_char_ok(unsigned char c, enum md_charset cs)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	switch (cs) {
	case MD_CHARSET_ID:
		return c == '.' || c == '_' || c == '-';
	case MD_CHARSET_NAME:
		return c > 0x20 && c < 0x7f && !strchr("[]=\"\\", c);
	case MD_CHARSET_TOKEN:
		return c && strchr("._~+/=-", c);
	}
	return 0;
}

int md_copy_str(char *dst, size_t dstlen, const char *src, size_t len, enum md_charset cs)
{
	size_t i;

	if (!len || len >= dstlen)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!md_char_ok(src[i], cs))
			return -EINVAL;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

void md_lower(char *s)
{
	for (; *s; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
	}
}

int md_json_load(const char *buf, size_t len, json_t **ret)
{
	char quoted[128];
	json_error_t jerr;
	json_t *root;

	if (len > MD_MAX_BODY)
		return -EMSGSIZE;
	if (!buf || !len)
		return -EBADMSG;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		/* jansson quotes the offending input: escape it (STYLE.md 6) */
		log_debug("metadata: bad JSON at line %d: %s", jerr.line,
			  log_quote(quoted, sizeof(quoted), jerr.text, sizeof(jerr.text)));
		return -EBADMSG;
	}
	*ret = root;
	return 0;
}

int md_json_str(json_t *obj, const char *key, char *dst, size_t dstlen, enum md_charset cs)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	if (!v || json_is_null(v))
		return -ENOENT;
	if (!json_is_string(v))
		return -EINVAL;
	if (!json_string_length(v))
		return -ENOENT;
	return md_copy_str(dst, dstlen, json_string_value(v), json_string_length(v), cs);
}

int md_json_name(json_t *obj, const char *key, struct md_instance *inst)
{
	int r;

	r = md_json_str(obj, key, inst->name, sizeof(inst->name), MD_CHARSET_NAME);
	if (r == -ENOENT)
		r = md_copy_str(inst->name, sizeof(inst->name), inst->id, strlen(inst->id),
				MD_CHARSET_NAME);
	return r;
}

int md_json_opt(json_t *obj, const char *key, int type, json_t **ret)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;

	if (v && json_is_null(v))
		v = NULL;
	if (v && (int)json_typeof(v) != type)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int md_json_len(json_t *v, int family)
{
	char *end;
	long n;

	if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
		return family == AF_INET ? 32 : 128;
	if (json_is_integer(v))
		n = (long)json_integer_value(v);
	else if (!json_is_string(v))
		return -EINVAL;
	else if (family == AF_INET)
		return addr_parse_netmask(json_string_value(v));
	else if (json_string_length(v) > 3)
		return -EINVAL;
	else {
		n = strtol(json_string_value(v), &end, 10);
		if (*end || json_string_value(v)[0] < '0' || json_string_value(v)[0] > '9')
			return -EINVAL;
	}
	return n < 0 || n > 128 || (family == AF_INET && n > 32) ? -EINVAL : (int)n;
}

int md_json_prefix(json_t *obj, const char *addr_key, const char *len_key, int family,
		   struct ip_prefix *ret)
{
	json_t *v = obj ? json_object_get(obj, addr_key) : NULL;
	struct ip_prefix p;
	bool cidr;
	int len, r;

	if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
		return -ENOENT;
	if (!json_is_string(v) || json_string_length(v) >= ADDR_STRLEN)
		return -EINVAL;
	r = addr_parse_prefix(json_string_value(v), &p);
	if (r < 0 || p.addr.family != family)
		return -EINVAL;
	len = md_json_len(obj ? json_object_get(obj, len_key) : NULL, family);
	if (len < 0)
		return len;
	cidr = strchr(json_string_value(v), '/') != NULL;
	if (cidr && len != (family == AF_INET ? 32 : 128) && len != p.len)
		return -EINVAL;
	if (!cidr)
		p.len = len;
	*ret = p;
	return 0;
}

static int md_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int md_read_dmi(const char *sysfs_root, const char *name, char *ret, size_t retlen)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "class/dmi/id/%s", name);
	return md_read_sysfs(sysfs_root, rel, ret, retlen);
}

int md_read_sysfs(const char *sysfs_root, const char *rel, char *ret, size_t retlen)
{
	char path[512], tmp[256];
	size_t start = 0, end;
	ssize_t n;
	int fd, r;

	r = snprintf(path, sizeof(path), "%s/%s", sysfs_root, rel);
	if (r < 0 || (size_t)r >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, tmp, sizeof(tmp) - 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	tmp[n] = '\0';
	end = strlen(tmp);
	while (start < end && md_is_space(tmp[start]))
		start++;
	while (end > start && md_is_space(tmp[end - 1]))
		end--;
	if (end - start >= retlen)
		return -ENAMETOOLONG;
	memcpy(ret, tmp + start, end - start);
	ret[end - start] = '\0';
	return 0;
}

bool md_dmi_vendor_is(const char *sysfs_root, const char *vendor)
{
	char v[64];

	return md_read_dmi(sysfs_root, "sys_vendor", v, sizeof(v)) == 0 && !strcmp(v, vendor);
}

void md_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* one line, whatever curl or the server said */
	for (p = err; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
}

static unsigned md_delay_ms(const struct md_http *h)
{
	return clock_backoff_ms(MD_DELAY_FIRST_MS, MD_DELAY_MAX_MS, h->attempt);
}

/* Sleeps the session's current delay (at most left ms); the next one is twice as long. */
static void md_backoff(struct md_http *h, long left)
{
	unsigned ms = md_delay_ms(h);

	clock_sleep_ms(left < (long)ms ? left : (long)ms);
	h->attempt++;
}

static int md_set_base(char *dst, size_t dstlen, const char *base)
{
	size_t len = strlen(base);

	/* "http://host/" and "http://host" name the same service; paths start with '/' */
	while (len && base[len - 1] == '/')
		len--;
	if (!len || len >= dstlen)
		return -EINVAL;
	memcpy(dst, base, len);
	dst[len] = '\0';
	return 0;
}

int md_http_init(struct md_http *h, const struct config *cfg, const char *default_base,
		 const char *fallback_base, char *err, size_t errlen)
{
	int r;

	memset(h, 0, sizeof(*h));
	h->err = err;
	h->errlen = errlen;
	h->n_bases = 1;
	if (cfg->metadata_url[0]) {
		r = md_set_base(h->bases[0], sizeof(h->bases[0]), cfg->metadata_url);
		h->pinned = true;
	} else {
		r = md_set_base(h->bases[0], sizeof(h->bases[0]), default_base);
		if (!r && fallback_base) {
			r = md_set_base(h->bases[1], sizeof(h->bases[1]), fallback_base);
			h->n_bases = 2;
		}
	}
	if (r < 0) {
		md_set_err(err, errlen, "metadata_url is empty or too long");
		return r;
	}
	h->timeout_s = cfg->metadata_timeout;
	h->deadline_ms = clock_now_ms() + (uint64_t)cfg->metadata_timeout * 1000;
	return 0;
}

int md_http_add_base(struct md_http *h, const char *base)
{
	if (h->pinned)
		return 0;
	if (h->n_bases == MD_MAX_BASES)
		return -ENOSPC;
	if (md_set_base(h->bases[h->n_bases], sizeof(h->bases[0]), base) < 0)
		return -EINVAL;
	h->n_bases++;
	return 0;
}

const char *md_http_url(const struct md_http *h, const char *path, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", h->bases[h->cur], path);
	return out;
}

/* 0 for 2xx, -EAGAIN when worth retrying, else the final -errno. */
static int md_classify(int r, const struct http_response *resp)
{
	if (r == -EMSGSIZE || r == -ENOMEM)
		return r;
	if (r < 0)
		return -EAGAIN;
	if (resp->status >= 200 && resp->status < 300)
		return 0;
	/* Vultr documents 503 "unavailable, retry later"; Linode 5xx likewise (reference B1) */
	if (resp->status >= 500 || resp->status == 429)
		return -EAGAIN;
	if (resp->status == 401 || resp->status == 403)
		return -EACCES;
	if (resp->status == 404)
		return -ENOENT;
	return -EPROTO;
}

/* Linode error bodies are {"errors":[{"reason":"…"}]} (reference A4): keep the first reason. */
static void md_reason(const struct buf *body, char *out, size_t outlen)
{
	json_t *root = NULL, *errors, *reason;
	char quoted[96];

	out[0] = '\0';
	/* quietly: Vultr's error bodies are plain text ("invalid location") */
	if (body->len)
		root = json_loadb(body->data, body->len, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return;
	errors = json_object_get(root, "errors");
	reason = json_object_get(json_array_get(errors, 0), "reason");
	if (json_is_string(reason))
		snprintf(out, outlen, " '%s'",
			 log_quote(quoted, sizeof(quoted), json_string_value(reason),
				   json_string_length(reason)));
	json_decref(root);
}

static void md_describe(const char *url, int r, const struct http_response *resp, char *out,
			size_t outlen)
{
	char reason[112];

	if (r < 0) {
		snprintf(out, outlen, "%s: %s", url, resp->error[0] ? resp->error : strerror(-r));
		return;
	}
	md_reason(&resp->body, reason, sizeof(reason));
	snprintf(out, outlen, "%s: HTTP %ld%s", url, resp->status, reason);
}

static int md_http_once(struct md_http *h, size_t base, const char *method, const char *path,
			const struct http_header *hdrs, size_t n_hdrs, struct http_response *resp,
			char *desc, size_t desclen)
{
	struct http_request req = {0};
	char url[MD_URL_MAX];
	long left = clock_left_ms(h->deadline_ms);
	int res, r;

	snprintf(url, sizeof(url), "%s%s", h->bases[base], path);
	req.method = method;
	req.url = url;
	req.headers = hdrs;
	req.n_headers = n_hdrs;
	req.max_response = MD_MAX_BODY;
	/* never block far past the deadline on a black-holed address */
	req.timeout_ms = left < MD_REQ_TIMEOUT_MIN_MS	? MD_REQ_TIMEOUT_MIN_MS
			 : left > MD_REQ_TIMEOUT_MAX_MS ? MD_REQ_TIMEOUT_MAX_MS
							: left;
	res = http_perform(&req, resp);
	/* md_http_attempt tells "no answer" from "an error status" by this */
	resp->result = res;
	r = md_classify(res, resp);
	if (r < 0)
		md_describe(url, res, resp, desc, desclen);
	return r;
}

/*
 * One attempt on the current base; when it fails at the transport level and fallback bases
 * exist (Linode IPv6, reference A1), the others are tried at once, in order, and the first
 * that answers is kept for the rest of the session.
 */
static int md_http_attempt(struct md_http *h, const char *method, const char *path,
			   const struct http_header *hdrs, size_t n_hdrs,
			   struct http_response *resp, char *desc, size_t desclen)
{
	char part[MD_ERR_PART];
	size_t k, b, used = 0;
	int r = -EAGAIN;

	desc[0] = '\0';
	for (k = 0; k < h->n_bases; k++) {
		b = (h->cur + k) % h->n_bases;
		if (k)
			http_response_free(resp);
		r = md_http_once(h, b, method, path, hdrs, n_hdrs, resp, part, sizeof(part));
		if (resp->result == 0 || r != -EAGAIN) {
			/* an answer (or a final error): this base is the one to keep */
			if (resp->result == 0)
				h->cur = b;
			if (r < 0)
				snprintf(desc, desclen, "%s", part);
			return r;
		}
		if (used < desclen)
			used += snprintf(desc + used, desclen - used, "%s%s", k ? "; " : "", part);
	}
	return r;
}

int md_http_request(struct md_http *h, const char *method, const char *path,
		    const struct http_header *hdrs, size_t n_hdrs, struct buf *ret_body)
{
	struct http_response resp;
	char desc[MD_MAX_BASES * (MD_ERR_PART + 2)];
	long left;
	int r;

	for (;;) {
		memset(&resp, 0, sizeof(resp));
		r = md_http_attempt(h, method, path, hdrs, n_hdrs, &resp, desc, sizeof(desc));
		if (r != -EAGAIN)
			break;
		http_response_free(&resp);
		left = clock_left_ms(h->deadline_ms);
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		log_debug("metadata: %s (retrying in %u ms)", desc, md_delay_ms(h));
		md_backoff(h, left);
	}
	if (r == 0) {
		*ret_body = resp.body;
		buf_init(&resp.body, MD_MAX_BODY);
	} else if (r == -ETIMEDOUT) {
		md_set_err(h->err, h->errlen, "%s (gave up after %u s)", desc, h->timeout_s);
	} else {
		md_set_err(h->err, h->errlen, "%s", desc);
	}
	http_response_free(&resp);
	return r;
}

/* A node with only a private address is reachable only from its own private network. */
static void md_warn_private_only(const struct config *cfg, const struct md_instance *inst)
{
	struct md_instance eff = *inst;
	char a[ADDR_STRLEN];

	md_apply_overrides(cfg, &eff);
	if (eff.wan4.family || eff.wan6.family || !eff.lan4.family)
		return;
	log_warnx("metadata: no public IPv4 or IPv6 address, only the private %s (%s): only "
		  "nodes in private network '%s' of %s/%s can reach this node",
		  addr_fmt(&eff.lan4, a), eff.origin.lan4,
		  eff.private_net[0] ? eff.private_net : "(region)", eff.provider, eff.region);
}

int md_fetch_until_usable(struct md_http *h, const struct config *cfg, const char *path,
			  const char *sought, md_fetch_once_fn once, void *userdata,
			  struct md_instance *ret)
{
	char url[MD_URL_MAX];
	struct md_instance inst;
	long left;
	int r;

	for (;;) {
		memset(&inst, 0, sizeof(inst));
		r = once(h, userdata, &inst);
		if (r < 0)
			return r;
		if (md_instance_usable(cfg, &inst))
			break;
		left = clock_left_ms(h->deadline_ms);
		if (left <= 0) {
			md_set_err(h->err, h->errlen, "%s: no usable address after %u s: %s%s%s",
				   md_http_url(h, path, url, sizeof(url)), h->timeout_s, sought,
				   inst.origin.refused[0] ? "; refused " : "", inst.origin.refused);
			return -ENODATA;
		}
		log_debug("metadata: no usable address yet (retrying in %u ms)", md_delay_ms(h));
		md_backoff(h, left);
	}
	md_warn_private_only(cfg, &inst);
	*ret = inst;
	return 0;
}

/* The document of md_fetch_json. */
struct md_json_doc {
	const char *path;
	md_parse_fn parse;
};

static int md_json_once(struct md_http *h, void *userdata, struct md_instance *ret)
{
	static const struct http_header hdrs[] = {
		{"Accept", "application/json"},
	};
	const struct md_json_doc *doc = userdata;
	char url[MD_URL_MAX];
	struct buf body;
	int r;

	r = md_http_request(h, "GET", doc->path, hdrs, 1, &body);
	if (r < 0)
		return r;
	r = doc->parse(body.data, body.len, ret);
	buf_free(&body);
	if (r < 0)
		md_set_err(h->err, h->errlen, "%s: malformed response (%s)",
			   md_http_url(h, doc->path, url, sizeof(url)), strerror(-r));
	return r;
}

int md_fetch_json(const struct config *cfg, const char *base, const char *path, md_parse_fn parse,
		  const char *sought, struct md_instance *ret, char *err, size_t errlen)
{
	struct md_json_doc doc = {path, parse};
	struct md_http h;
	int r;

	r = md_http_init(&h, cfg, base, NULL, err, errlen);
	if (r < 0)
		return r;
	return md_fetch_until_usable(&h, cfg, path, sought, md_json_once, &doc, ret);
}

/*
 * AWS EC2 Instance Metadata Service, IMDSv2 only: PUT /latest/api/token with a TTL header, then
 * one GET per value under /latest/meta-data/ with the token. Every answer is plain text: one
 * value, or one value per line (ipv6s). Sources: docs.aws.amazon.com/AWSEC2/latest/UserGuide/
 * instancedata-data-retrieval.html and instancedata-data-categories.html; cloud-init
 * DataSourceEc2.py and tests/unittests/sources/test_ec2.py; afterburn src/providers/aws.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#include "../bootstrap/buf.h"
#include "../bootstrap/config.h"
#include "../bootstrap/http.h"
#include "../bootstrap/log.h"
#include "md-internal.h"
#include "provider.h"

#define AWS_BASE4 "http://169.254.169.254"
/* Nitro instances with HttpProtocolIpv6 enabled only; tried when the IPv4 address is silent. */
#define AWS_BASE6 "http://[fd00:ec2::254]"
#define AWS_MD "/latest/meta-data/"
/* origins: "IMDS /latest/meta-data/local-ipv4" */
#define AWS_DOC "IMDS"
/* The token is opaque and its length undocumented; 512 leaves room. */
#define AWS_TOKEN_MAX 512
/* 1..21600 are valid; a fetch takes seconds, and a 401 gets a fresh token anyway. */
#define AWS_TOKEN_TTL "300"
#define AWS_PATH_MAX 64

const char *const md_aws_paths[MD_AWS_N_ITEMS] = {
	[MD_AWS_INSTANCE_ID] = "instance-id",
	[MD_AWS_MAC] = "mac",
	[MD_AWS_LOCAL_IPV4] = "local-ipv4",
	[MD_AWS_PUBLIC_IPV4] = "public-ipv4",
	[MD_AWS_REGION] = "placement/region",
	[MD_AWS_AZ] = "placement/availability-zone",
	[MD_AWS_VPC_ID] = "network/interfaces/macs/%s/vpc-id",
	[MD_AWS_IPV6S] = "network/interfaces/macs/%s/ipv6s",
	[MD_AWS_NAME_TAG] = "tags/instance/Name",
};

/* One value: no control characters, at most one trailing newline. *ret_len 0 = empty. */
static int aws_line(const char *buf, size_t len, size_t *ret_len)
{
	size_t i;

	if (len > MD_MAX_BODY)
		return -EMSGSIZE;
	if (len && buf[len - 1] == '\n')
		len--;
	for (i = 0; i < len; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			return -EINVAL;
	}
	*ret_len = len;
	return 0;
}

int md_aws_parse_token(const char *buf, size_t len, char *ret_token, size_t tokenlen)
{
	size_t n;
	int r;

	r = aws_line(buf, len, &n);
	if (r < 0)
		return r;
	return md_copy_str(ret_token, tokenlen, buf, n, MD_CHARSET_TOKEN);
}

static int aws_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* "0e:49:61:0f:c3:11": lower-case hex as IMDS writes it; it becomes part of a URL path. */
int md_aws_parse_mac(const char *buf, size_t len, char *ret_mac, size_t maclen)
{
	size_t n, i;
	int r;

	r = aws_line(buf, len, &n);
	if (r < 0)
		return r;
	if (n != 17 || maclen <= n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (i % 3 == 2 ? buf[i] != ':' : !aws_hex(buf[i]))
			return -EINVAL;
	}
	memcpy(ret_mac, buf, n);
	ret_mac[n] = '\0';
	return 0;
}

/* One parse: the answers, the MAC once validated, and which item failed. */
struct aws_parse {
	const struct md_doc *items;
	char mac[18];
	enum md_aws_item bad;
};

/* Item i as one clean value in *ret_len: -ENOENT when absent (404) or empty, -EINVAL when not
 * one clean value (then ap->bad = i). */
static int aws_item(struct aws_parse *ap, enum md_aws_item i, size_t *ret_len)
{
	const struct md_doc *b = &ap->items[i];
	int r;

	if (!b->data)
		return -ENOENT;
	r = aws_line(b->data, b->len, ret_len);
	if (r < 0)
		ap->bad = i;
	if (!r && !*ret_len)
		r = -ENOENT;
	return r;
}

static int aws_str(struct aws_parse *ap, enum md_aws_item i, char *dst, size_t dstlen,
		   enum md_charset cs)
{
	size_t n;
	int r;

	r = aws_item(ap, i, &n);
	if (!r)
		r = md_copy_str(dst, dstlen, ap->items[i].data, n, cs);
	if (r < 0 && r != -ENOENT)
		ap->bad = i;
	return r;
}

/* "/latest/meta-data/<path of item i>"; mac is validated hex and colons (md_aws_parse_mac). */
static void aws_path(char *dst, size_t len, enum md_aws_item i, const char *mac)
{
	char sub[AWS_PATH_MAX];

	snprintf(sub, sizeof(sub), md_aws_paths[i], mac);
	snprintf(dst, len, AWS_MD "%s", sub);
}

static void aws_origin(char *origin, enum md_aws_item i, const char *mac)
{
	char path[MD_ORIGIN_MAX];

	aws_path(path, sizeof(path), i, mac);
	md_origin(origin, MD_ORIGIN_MAX, AWS_DOC, "%s", path);
}

/* Bare addresses only: IMDS never writes a prefix length. */
static int aws_addr_text(const char *s, size_t n, int family, struct ip_prefix *ret)
{
	char tmp[ADDR_STRLEN];
	struct ip_addr a;
	int r;

	if (!n || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	r = addr_parse(tmp, &a);
	if (r < 0)
		return r;
	if (a.family != family)
		return -EINVAL;
	ret->addr = a;
	ret->len = family == AF_INET ? 32 : 128;
	return 0;
}

/* Item i as the address field: taken when it is one usable host (md_take_prefix), 0 when absent
 * or refused, -EINVAL when it is not one address of that family. */
static int aws_take(struct aws_parse *ap, struct md_instance *inst, enum md_field field,
		    enum md_aws_item i)
{
	char path[MD_ORIGIN_MAX];
	struct ip_prefix p;
	size_t n;
	int r;

	r = aws_item(ap, i, &n);
	if (!r)
		r = aws_addr_text(ap->items[i].data, n, field == MD_WAN6 ? AF_INET6 : AF_INET, &p);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		ap->bad = i;
		return r;
	}
	aws_path(path, sizeof(path), i, ap->mac);
	r = md_take_prefix(inst, field, &p, AWS_DOC, "%s", path);
	return r < 0 ? r : 0;
}

/* ipv6s: one address per line; every line must be one, the first usable host is the node's. */
static int aws_take_ipv6s(struct aws_parse *ap, struct md_instance *inst)
{
	const struct md_doc *b = &ap->items[MD_AWS_IPV6S];
	char path[MD_ORIGIN_MAX];
	const char *p, *end, *nl;
	struct ip_prefix a;
	int r = 0;

	if (!b->data)
		return 0;
	if (b->len > MD_MAX_BODY)
		return -EMSGSIZE;
	aws_path(path, sizeof(path), MD_AWS_IPV6S, ap->mac);
	end = b->data + b->len;
	if (b->len && end[-1] == '\n')
		end--;
	for (p = b->data; p < end && r >= 0; p = nl + 1) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		r = aws_addr_text(p, nl - p, AF_INET6, &a);
		if (!r)
			r = md_take_prefix(inst, MD_WAN6, &a, AWS_DOC, "%s", path);
	}
	if (r < 0)
		ap->bad = MD_AWS_IPV6S;
	return r < 0 ? r : 0;
}

static bool aws_is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool aws_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "us-east-1a" -> "us-east-1": two or more runs of letters, a number, the AZ letter. A Local
 * Zone ("us-west-2-lax-1a") or Wavelength Zone does not end in its region's name + a letter. */
static int aws_region_from_az(const char *az, char *ret, size_t retlen)
{
	const char *p = az;
	size_t k, parts = 0, n = strlen(az);

	for (;;) {
		for (k = 0; aws_is_lower(p[k]); k++)
			;
		if (!k)
			break;
		if (p[k] != '-')
			return -EINVAL;
		parts++;
		p += k + 1;
	}
	for (k = 0; aws_is_digit(p[k]); k++)
		;
	if (parts < 2 || !k || !aws_is_lower(p[k]) || p[k + 1] || n > retlen)
		return -EINVAL;
	memcpy(ret, az, n - 1);
	ret[n - 1] = '\0';
	return 0;
}

static int aws_parse_region(struct aws_parse *ap, struct md_instance *inst)
{
	char az[sizeof(inst->region)];
	int r;

	r = aws_str(ap, MD_AWS_REGION, inst->region, sizeof(inst->region), MD_CHARSET_ID);
	if (r != -ENOENT) {
		aws_origin(inst->origin.region, MD_AWS_REGION, "");
		return r;
	}
	/* placement/region is a newer category than the AZ, and a Nitro instance only serves the
	 * categories of its launch day (instancedata-data-categories): derive it where missing */
	r = aws_str(ap, MD_AWS_AZ, az, sizeof(az), MD_CHARSET_ID);
	if (!r)
		r = aws_region_from_az(az, inst->region, sizeof(inst->region));
	if (r < 0) {
		ap->bad = MD_AWS_AZ;
		return -EINVAL;
	}
	aws_origin(inst->origin.region, MD_AWS_AZ, "");
	return 0;
}

/* The private address is a LAN only inside its VPC, and the VPC names a zone only together with
 * that address (none on an IPv6-only subnet, none without a vpc-id). */
static int aws_parse_vpc(struct aws_parse *ap, struct md_instance *inst)
{
	char vpc[sizeof(inst->private_net)];
	int r;

	r = aws_str(ap, MD_AWS_VPC_ID, vpc, sizeof(vpc), MD_CHARSET_ID);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	r = aws_take(ap, inst, MD_LAN4, MD_AWS_LOCAL_IPV4);
	if (r < 0 || !inst->lan4.family)
		return r;
	memcpy(inst->private_net, vpc, sizeof(vpc));
	aws_origin(inst->origin.private_net, MD_AWS_VPC_ID, ap->mac);
	return 0;
}

static int aws_parse_wan(struct aws_parse *ap, struct md_instance *inst)
{
	int r;

	/* 404 without a public IPv4 (cloud-init's samples also show ""): no WAN IPv4 */
	r = aws_take(ap, inst, MD_WAN4, MD_AWS_PUBLIC_IPV4);
	if (!r)
		r = aws_take_ipv6s(ap, inst);
	return r;
}

/* The Name tag when instance tags are exposed and it fits a name (tags may hold spaces and
 * anything else); else the instance id. */
static void aws_parse_name(struct aws_parse *ap, struct md_instance *inst)
{
	enum md_aws_item keep = ap->bad;

	if (aws_str(ap, MD_AWS_NAME_TAG, inst->name, sizeof(inst->name), MD_CHARSET_NAME) < 0)
		snprintf(inst->name, sizeof(inst->name), "%s", inst->id);
	ap->bad = keep;
}

static int aws_parse_ids(struct aws_parse *ap, struct md_instance *inst)
{
	const struct md_doc *m = &ap->items[MD_AWS_MAC];
	int r;

	r = aws_str(ap, MD_AWS_INSTANCE_ID, inst->id, sizeof(inst->id), MD_CHARSET_ID);
	if (r < 0) {
		ap->bad = MD_AWS_INSTANCE_ID;
		return r == -EMSGSIZE ? r : -EINVAL;
	}
	r = m->data ? md_aws_parse_mac(m->data, m->len, ap->mac, sizeof(ap->mac)) : -EINVAL;
	if (r < 0)
		ap->bad = MD_AWS_MAC;
	return r;
}

int md_aws_parse(const struct md_doc items[MD_AWS_N_ITEMS], struct md_instance *ret,
		 enum md_aws_item *ret_bad)
{
	struct aws_parse ap = {.items = items};
	struct md_instance inst = {0};
	int r;

	r = aws_parse_ids(&ap, &inst);
	if (!r)
		r = aws_parse_region(&ap, &inst);
	if (!r)
		r = aws_parse_vpc(&ap, &inst);
	if (!r)
		r = aws_parse_wan(&ap, &inst);
	if (r < 0) {
		if (ret_bad)
			*ret_bad = ap.bad;
		return r == -EMSGSIZE ? r : -EINVAL;
	}
	md_lower(inst.region);
	aws_parse_name(&ap, &inst);
	snprintf(inst.provider, sizeof(inst.provider), "aws");
	*ret = inst;
	return 0;
}

static bool aws_detect_uuid(const char *uuid)
{
	/* "EC2E1916-9099-...", or little-endian SMBIOS "45E12AEC-..." (the first group's bytes
	 * reversed); cloud-init identify_aws and ds-identify check both. */
	size_t n = strcspn(uuid, "-");

	if (!strncasecmp(uuid, "ec2", 3))
		return true;
	return n == 8 && !strncasecmp(uuid + 6, "ec", 2) && uuid[4] == '2';
}

/* "i-" and 8 or 17 lower-case hex digits */
static bool aws_is_instance_id(const char *v)
{
	size_t i, n = strlen(v);

	if (strncmp(v, "i-", 2) || (n != 10 && n != 19))
		return false;
	for (i = 2; i < n; i++) {
		if (!aws_hex(v[i]))
			return false;
	}
	return true;
}

static bool aws_detect(const char *sysfs_root)
{
	char v[64];

	/* Nitro: DMI vendor "Amazon EC2", asset tag = the instance id (identify_ec2_instances) */
	if (!md_read_dmi(sysfs_root, "sys_vendor", v, sizeof(v)) && !strcmp(v, "Amazon EC2"))
		return true;
	if (!md_read_dmi(sysfs_root, "board_asset_tag", v, sizeof(v)) && aws_is_instance_id(v))
		return true;
	/* Xen HVM: product_uuid (root-only) starts with ec2; PV guests have no DMI at all */
	return !md_read_dmi(sysfs_root, "product_uuid", v, sizeof(v)) && aws_detect_uuid(v);
}

/*
 * IMDS sends the PUT's answer with an IP TTL (hop limit) of the instance's
 * HttpPutResponseHopLimit, 1 unless raised (launch template, account default, an AMI registered
 * for IMDSv2 only): run from a container or another network namespace behind a bridge, the
 * answer dies on the way and the PUT just times out.
 */
static void aws_hint_hop_limit(struct md_http *h)
{
	char was[768];

	snprintf(was, sizeof(was), "%s", h->err ? h->err : "");
	md_set_err(h->err, h->errlen,
		   "%s; no IMDSv2 token: behind a bridge or in a container the PUT answer needs "
		   "HttpPutResponseHopLimit 2 or more",
		   was);
}

static int aws_get_token(struct md_http *h, char *token, size_t tokenlen)
{
	static const struct http_header hdrs[] = {
		{"X-aws-ec2-metadata-token-ttl-seconds", AWS_TOKEN_TTL},
	};
	char url[MD_URL_MAX];
	struct buf body;
	int r;

	r = md_http_request(h, "PUT", "/latest/api/token", hdrs, 1, &body);
	if (r == -ETIMEDOUT)
		aws_hint_hop_limit(h);
	if (r < 0)
		return r;
	r = md_aws_parse_token(body.data, body.len, token, tokenlen);
	if (r < 0)
		md_set_err(h->err, h->errlen, "%s: malformed token (%s)",
			   md_http_url(h, "/latest/api/token", url, sizeof(url)), strerror(-r));
	buf_free(&body);
	return r;
}

/* A 401 means the token expired (or IMDS restarted): one fresh token, one more try. */
static int aws_get(struct md_http *h, char *token, size_t tokenlen, const char *path,
		   struct buf *ret_body)
{
	const struct http_header hdr = {"X-aws-ec2-metadata-token", token};
	int r;

	r = md_http_request(h, "GET", path, &hdr, 1, ret_body);
	if (r != -EACCES)
		return r;
	r = aws_get_token(h, token, tokenlen);
	if (r < 0)
		return r;
	return md_http_request(h, "GET", path, &hdr, 1, ret_body);
}

/* GETs every item in md_aws_paths[] order (the MAC comes before the paths that need it). */
static int aws_get_items(struct md_http *h, char *token, size_t tokenlen, struct buf bodies[],
			 struct md_doc items[])
{
	char mac[18] = "", path[MD_ORIGIN_MAX], url[MD_URL_MAX];
	size_t i;
	int r;

	for (i = 0; i < MD_AWS_N_ITEMS; i++) {
		/* the AZ only stands in for a missing region: one request less per run */
		if (i == MD_AWS_AZ && items[MD_AWS_REGION].len)
			continue;
		aws_path(path, sizeof(path), i, mac);
		r = aws_get(h, token, tokenlen, path, &bodies[i]);
		/* instance-id and mac exist on every instance; the rest may be 404 */
		if (r == -ENOENT && i != MD_AWS_INSTANCE_ID && i != MD_AWS_MAC)
			continue;
		if (r < 0)
			return r;
		items[i].data = bodies[i].data ? bodies[i].data : "";
		items[i].len = bodies[i].len;
		if (i != MD_AWS_MAC)
			continue;
		r = md_aws_parse_mac(items[i].data, items[i].len, mac, sizeof(mac));
		if (r < 0) {
			md_set_err(h->err, h->errlen, "%s: malformed MAC (%s)",
				   md_http_url(h, path, url, sizeof(url)), strerror(-r));
			return r;
		}
	}
	return 0;
}

/* "<url>: malformed value '<quoted>'", the value cut short: one line for the journal. */
static void aws_bad_item(struct md_http *h, const struct md_doc items[], enum md_aws_item bad)
{
	char path[MD_ORIGIN_MAX], url[MD_URL_MAX], quoted[96], mac[18] = "";
	const struct md_doc *b = &items[bad];
	const struct md_doc *m = &items[MD_AWS_MAC];

	if (m->data)
		(void)md_aws_parse_mac(m->data, m->len, mac, sizeof(mac));
	aws_path(path, sizeof(path), bad, mac);
	md_set_err(h->err, h->errlen, "%s: malformed value '%s'",
		   md_http_url(h, path, url, sizeof(url)),
		   b->data ? log_quote(quoted, sizeof(quoted), b->data, b->len) : "(404)");
}

/* The token outlives one read: md_fetch_until_usable may read again while it is valid. */
struct aws_session {
	char token[AWS_TOKEN_MAX];
};

static int aws_once(struct md_http *h, void *userdata, struct md_instance *ret)
{
	struct md_doc items[MD_AWS_N_ITEMS] = {{0}};
	struct buf bodies[MD_AWS_N_ITEMS] = {{0}};
	enum md_aws_item bad = MD_AWS_INSTANCE_ID;
	struct aws_session *s = userdata;
	size_t i;
	int r = 0;

	if (!s->token[0])
		r = aws_get_token(h, s->token, sizeof(s->token));
	if (!r)
		r = aws_get_items(h, s->token, sizeof(s->token), bodies, items);
	if (!r) {
		r = md_aws_parse(items, ret, &bad);
		if (r < 0)
			aws_bad_item(h, items, bad);
	}
	for (i = 0; i < MD_AWS_N_ITEMS; i++)
		buf_free(&bodies[i]);
	return r;
}

static int aws_fetch(const struct config *cfg, struct md_instance *ret, char *err, size_t errlen)
{
	struct aws_session s = {""};
	struct md_http h;
	int r;

	r = md_http_init(&h, cfg, AWS_BASE4, AWS_BASE6, err, errlen);
	if (r < 0)
		return r;
	r = md_fetch_until_usable(&h, cfg, AWS_MD,
				  "no public-ipv4, no address in ipv6s, no local-ipv4 in a VPC",
				  aws_once, &s, ret);
	sodium_memzero(&s, sizeof(s));
	return r;
}

const struct md_provider md_aws = {
	.name = "aws",
	.detect = aws_detect,
	.fetch = aws_fetch,
};

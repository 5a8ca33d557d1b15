/*
 * Hetzner Cloud metadata: unauthenticated GETs of the per-key documents under
 * /hetzner/v1/metadata/ (Hetzner Cloud API docs "Server Metadata"; the keys afterburn's and
 * Talos's hcloud providers read). The plain-text keys need no YAML; network-config (public
 * IPv6) and private-networks are YAML lists, read with yaml.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../bootstrap/buf.h"
#include "../bootstrap/config.h"
#include "../bootstrap/http.h"
#include "md-internal.h"
#include "provider.h"
#include "yaml.h"

#define HZ_BASE "http://169.254.169.254"
#define HZ_DIR "/hetzner/v1/metadata"
/* Bounds of the YAML lists we keep (a server has a handful of NICs and networks). */
#define HZ_MAX_ITEMS 16

const char *const md_hetzner_docs[MD_HETZNER_N_DOCS] = {
	[MD_HETZNER_INSTANCE_ID] = "instance-id",
	[MD_HETZNER_HOSTNAME] = "hostname",
	[MD_HETZNER_REGION] = "region",
	[MD_HETZNER_PUBLIC_IPV4] = "public-ipv4",
	[MD_HETZNER_NETWORK_CONFIG] = "network-config",
	[MD_HETZNER_PRIVATE_NETWORKS] = "private-networks",
};

static bool hz_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A plain-text key without surrounding whitespace; len 0 when absent (404) or empty. */
static const char *hz_text(const struct md_doc *d, size_t *len)
{
	const char *s = d->data;
	size_t n = d->data ? d->len : 0;

	while (n && hz_space(s[0])) {
		s++;
		n--;
	}
	while (n && hz_space(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* A decimal id without sign or leading zero ("123456"): instance-id, network_id. */
static int hz_decimal(const char *s, size_t n, char *dst, size_t dstlen)
{
	size_t i;

	if (!n || s[0] == '0' || n > 20)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	}
	return md_copy_str(dst, dstlen, s, n, MD_CHARSET_ID);
}

static int hz_instance_id(const struct md_doc *d, struct md_instance *inst)
{
	const char *s;
	size_t n;

	s = hz_text(d, &n);
	return hz_decimal(s, n, inst->id, sizeof(inst->id));
}

static int hz_hostname(const struct md_doc *d, struct md_instance *inst)
{
	const char *s;
	size_t n;

	s = hz_text(d, &n);
	if (!n)
		return md_copy_str(inst->name, sizeof(inst->name), inst->id, strlen(inst->id),
				   MD_CHARSET_NAME);
	return md_copy_str(inst->name, sizeof(inst->name), s, n, MD_CHARSET_NAME);
}

/* The network zone ("eu-central"), which is also the scope of a private network. */
static int hz_region(const struct md_doc *d, struct md_instance *inst)
{
	const char *s;
	size_t n;
	int r;

	s = hz_text(d, &n);
	r = md_copy_str(inst->region, sizeof(inst->region), s, n, MD_CHARSET_ID);
	if (r < 0)
		return r;
	md_lower(inst->region);
	md_origin(inst->origin.region, sizeof(inst->origin.region), HZ_DIR, "region");
	return 0;
}

/* An address with an optional /len; -EINVAL unless of the family. */
static int hz_prefix(const char *s, size_t n, int family, struct ip_prefix *p)
{
	char tmp[ADDR_STRLEN];

	if (!n || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (addr_parse_prefix(tmp, p) < 0 || p->addr.family != family)
		return -EINVAL;
	return 0;
}

static int hz_public_ipv4(const struct md_doc *d, struct md_instance *inst)
{
	struct ip_prefix p;
	const char *s;
	size_t n;
	int r;

	/* absent or empty: a server without a primary IPv4 */
	s = hz_text(d, &n);
	if (!n)
		return 0;
	r = hz_prefix(s, n, AF_INET, &p);
	if (r < 0)
		return r;
	r = md_take_prefix(inst, MD_WAN4, &p, HZ_DIR, "public-ipv4");
	return r < 0 ? r : 0;
}

/* path "<prefix>[N]...": N (< max), *rest after "]"; -ENOENT for another path, -EINVAL when
 * N is past the bound. */
static int hz_index(const char *path, const char *prefix, int max, const char **rest)
{
	size_t pl = strlen(prefix);
	unsigned long n;
	char *end;

	if (strncmp(path, prefix, pl) || path[pl] != '[')
		return -ENOENT;
	n = strtoul(path + pl + 1, &end, 10);
	if (*end != ']')
		return -ENOENT;
	if (n >= (unsigned long)max)
		return -EINVAL;
	*rest = end + 1;
	return (int)n;
}

/* A key of one list item, at most once. */
static int hz_set(char *dst, size_t dstlen, const char *v, size_t len)
{
	if (dst[0] || len >= dstlen)
		return -EINVAL;
	memcpy(dst, v, len + 1);
	return 0;
}

static int hz_walk(const struct md_doc *d, yaml_scalar_fn fn, void *userdata)
{
	/* absent (404): nothing of that kind */
	if (!d->data)
		return 0;
	return yaml_walk(d->data, d->len, fn, userdata);
}

struct hz_netcfg {
	char type[HZ_MAX_ITEMS][16];
	char sub_type[HZ_MAX_ITEMS][HZ_MAX_ITEMS][16];
	char sub_addr[HZ_MAX_ITEMS][HZ_MAX_ITEMS][ADDR_STRLEN];
};

/* cloud-init network config version 1: config[n].type, config[n].subnets[m].type/.address */
static int hz_netcfg_scalar(void *userdata, const char *path, const char *v, size_t len)
{
	struct hz_netcfg *c = userdata;
	const char *rest, *sub;
	int n, m;

	if (!strcmp(path, "version"))
		return strcmp(v, "1") ? -EINVAL : 0;
	n = hz_index(path, "config", HZ_MAX_ITEMS, &rest);
	if (n < 0)
		return n == -ENOENT ? 0 : n;
	if (!strcmp(rest, ".type"))
		return hz_set(c->type[n], sizeof(c->type[n]), v, len);
	m = hz_index(rest, ".subnets", HZ_MAX_ITEMS, &sub);
	if (m < 0)
		return m == -ENOENT ? 0 : m;
	if (!strcmp(sub, ".type"))
		return hz_set(c->sub_type[n][m], sizeof(c->sub_type[n][m]), v, len);
	if (!strcmp(sub, ".address"))
		return hz_set(c->sub_addr[n][m], sizeof(c->sub_addr[n][m]), v, len);
	return 0;
}

/* The first static IPv6 address of a physical NIC: the server's /64, address ::1 (the IPv4
 * address is DHCP and comes from public-ipv4). */
static int hz_network_config(const struct md_doc *d, struct md_instance *inst)
{
	struct hz_netcfg *c;
	struct ip_prefix p;
	const char *a;
	int n, m, r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = hz_walk(d, hz_netcfg_scalar, c);
	for (n = 0; !r && n < HZ_MAX_ITEMS; n++) {
		for (m = 0; !r && m < HZ_MAX_ITEMS; m++) {
			a = c->sub_addr[n][m];
			if (!a[0])
				continue;
			r = hz_prefix(a, strlen(a), AF_INET6, &p);
			if (r < 0 && !hz_prefix(a, strlen(a), AF_INET, &p)) {
				r = 0; /* a static IPv4 is not what we read here */
				continue;
			}
			if (r < 0 || strcmp(c->type[n], "physical") ||
			    !strncmp(c->sub_type[n][m], "dhcp", 4))
				continue;
			r = md_take_prefix(inst, MD_WAN6, &p, HZ_DIR "/network-config",
					   "config[%d].subnets[%d].address", n, m);
			r = r < 0 ? r : 0;
		}
	}
	free(c);
	return r;
}

struct hz_nets {
	char ip[HZ_MAX_ITEMS][ADDR_STRLEN];
	char id[HZ_MAX_ITEMS][24];
};

/* A list of attached networks: [n].ip, [n].network_id (alias_ips, mac_address, ... unused) */
static int hz_nets_scalar(void *userdata, const char *path, const char *v, size_t len)
{
	struct hz_nets *nets = userdata;
	const char *rest;
	int n;

	n = hz_index(path, "", HZ_MAX_ITEMS, &rest);
	if (n == -ENOENT)
		return -EINVAL; /* not a list */
	if (n < 0)
		return n;
	if (!strcmp(rest, ".ip"))
		return hz_set(nets->ip[n], sizeof(nets->ip[n]), v, len);
	if (!strcmp(rest, ".network_id"))
		return hz_set(nets->id[n], sizeof(nets->id[n]), v, len);
	return 0;
}

/* Numeric order of two validated decimal ids. */
static int hz_id_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

/*
 * The LAN address and zone key from the attached network with the lowest network_id that
 * gives a usable address: the same choice on every node, whatever the list order.
 */
static int hz_private_networks(const struct md_doc *d, struct md_instance *inst)
{
	struct ip_prefix p[HZ_MAX_ITEMS];
	bool tried[HZ_MAX_ITEMS] = {false};
	struct hz_nets nets = {0};
	char idbuf[24];
	int n, best, r;

	r = hz_walk(d, hz_nets_scalar, &nets);
	for (n = 0; !r && n < HZ_MAX_ITEMS; n++) {
		/* a network still being attached may have no ip yet: skipped, not malformed */
		tried[n] = !nets.ip[n][0] || !nets.id[n][0];
		if (nets.ip[n][0])
			r = hz_prefix(nets.ip[n], strlen(nets.ip[n]), AF_INET, &p[n]);
		if (!r && nets.id[n][0])
			r = hz_decimal(nets.id[n], strlen(nets.id[n]), idbuf, sizeof(idbuf));
	}
	while (!r) {
		for (best = -1, n = 0; n < HZ_MAX_ITEMS; n++) {
			if (!tried[n] && (best < 0 || hz_id_cmp(nets.id[n], nets.id[best]) < 0))
				best = n;
		}
		if (best < 0)
			break;
		tried[best] = true;
		r = md_take_prefix(inst, MD_LAN4, &p[best], HZ_DIR "/private-networks", "[%d].ip",
				   best);
		if (r > 0) {
			snprintf(inst->private_net, sizeof(inst->private_net), "%s", nets.id[best]);
			md_origin(inst->origin.private_net, sizeof(inst->origin.private_net),
				  HZ_DIR "/private-networks", "[%d].network_id", best);
			return 0;
		}
	}
	return r;
}

/* One step per document, in enum order (hostname falls back to the id read before it). */
static int (*const hz_steps[MD_HETZNER_N_DOCS])(const struct md_doc *, struct md_instance *) = {
	[MD_HETZNER_INSTANCE_ID] = hz_instance_id,
	[MD_HETZNER_HOSTNAME] = hz_hostname,
	[MD_HETZNER_REGION] = hz_region,
	[MD_HETZNER_PUBLIC_IPV4] = hz_public_ipv4,
	[MD_HETZNER_NETWORK_CONFIG] = hz_network_config,
	[MD_HETZNER_PRIVATE_NETWORKS] = hz_private_networks,
};

int md_hetzner_parse(const struct md_doc docs[MD_HETZNER_N_DOCS], struct md_instance *ret,
		     enum md_hetzner_doc *ret_bad)
{
	struct md_instance inst = {0};
	enum md_hetzner_doc i;
	int r;

	for (i = 0; i < MD_HETZNER_N_DOCS; i++) {
		r = hz_steps[i](&docs[i], &inst);
		if (r < 0) {
			if (ret_bad)
				*ret_bad = i;
			return r;
		}
	}
	snprintf(inst.provider, sizeof(inst.provider), "hetzner");
	*ret = inst;
	return 0;
}

static bool hz_detect(const char *sysfs_root)
{
	/* cloud-init DataSourceHetzner get_hcloud_data: system-manufacturer "Hetzner" */
	return md_dmi_vendor_is(sysfs_root, "Hetzner");
}

/* instance-id and region are required; the others may be absent (404). */
static bool hz_optional(enum md_hetzner_doc i)
{
	return i != MD_HETZNER_INSTANCE_ID && i != MD_HETZNER_REGION;
}

static int hz_once(struct md_http *h, void *userdata, struct md_instance *ret)
{
	struct buf bodies[MD_HETZNER_N_DOCS];
	struct md_doc docs[MD_HETZNER_N_DOCS] = {{0}};
	enum md_hetzner_doc i, bad = MD_HETZNER_INSTANCE_ID;
	char path[96], url[MD_URL_MAX];
	int r = 0;

	(void)userdata;
	for (i = 0; i < MD_HETZNER_N_DOCS; i++)
		buf_init(&bodies[i], MD_MAX_BODY);
	for (i = 0; !r && i < MD_HETZNER_N_DOCS; i++) {
		snprintf(path, sizeof(path), HZ_DIR "/%s", md_hetzner_docs[i]);
		r = md_http_request(h, "GET", path, NULL, 0, &bodies[i]);
		if (r == -ENOENT && hz_optional(i))
			r = 0;
		else if (!r)
			docs[i] = (struct md_doc){bodies[i].data ? bodies[i].data : "",
						  bodies[i].len};
	}
	if (!r) {
		r = md_hetzner_parse(docs, ret, &bad);
		snprintf(path, sizeof(path), HZ_DIR "/%s", md_hetzner_docs[bad]);
		if (r < 0)
			md_set_err(h->err, h->errlen, "%s: malformed response (%s)",
				   md_http_url(h, path, url, sizeof(url)), strerror(-r));
	}
	for (i = 0; i < MD_HETZNER_N_DOCS; i++)
		buf_free(&bodies[i]);
	return r;
}

static int hz_fetch(const struct config *cfg, struct md_instance *ret, char *err, size_t errlen)
{
	struct md_http h;
	int r;

	r = md_http_init(&h, cfg, HZ_BASE, NULL, err, errlen);
	if (r < 0)
		return r;
	return md_fetch_until_usable(&h, cfg, HZ_DIR,
				     "no public-ipv4, IPv6 address in network-config or "
				     "private-networks ip",
				     hz_once, NULL, ret);
}

const struct md_provider md_hetzner = {
	.name = "hetzner",
	.detect = hz_detect,
	.fetch = hz_fetch,
};

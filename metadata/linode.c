/*
 * Linode (Akamai) Metadata Service: PUT /v1/token, then GET /v1/instance and /v1/network with
 * the token (reference/metadata-and-s3.md A; linode/go-metadata, afterburn akamai provider).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <sodium.h>

#include "../bootstrap/buf.h"
#include "../bootstrap/config.h"
#include "../bootstrap/http.h"
#include "md-internal.h"
#include "provider.h"

#define LINODE_BASE4 "http://169.254.169.254"
#define LINODE_BASE6 "http://[fd00:a9fe:a9fe::1]"
/* The link-local address the newer Linode docs list beside those two (reference A1): it needs
 * the interface as a zone id (RFC 6874: "%25" is "%" in a URL). */
#define LINODE_LINK_LOCAL "fe80::a9fe:a9fe"
#define LINODE_NET "/v1/network"
/* IFNAMSIZ (16) with room to spare; longer names are skipped */
#define IFNAMSIZ_MAX 32
/* Real tokens are 64 hex characters (reference A2). */
#define LINODE_TOKEN_MAX 256
/* The TTL cloud-init, afterburn and ignition use; a fetch never takes that long. */
#define LINODE_TOKEN_TTL "300"

static int linode_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int md_linode_parse_token(const char *buf, size_t len, char *ret_token, size_t tokenlen)
{
	json_t *root = NULL, *v;
	int r;

	if (len > MD_MAX_BODY)
		return -EMSGSIZE;
	/* ignition trims the text/plain token (reference A2) */
	while (len && linode_is_space(buf[0])) {
		buf++;
		len--;
	}
	while (len && linode_is_space(buf[len - 1]))
		len--;
	if (!len)
		return -EINVAL;
	if (buf[0] == '[') {
		/* Accept: application/json gives ["<token>"] (reference A2, E) */
		r = md_json_load(buf, len, &root);
		if (r < 0)
			return r;
		v = json_array_get(root, 0);
		if (!json_is_array(root) || json_array_size(root) != 1 || !json_is_string(v)) {
			r = -EINVAL;
			goto out;
		}
		buf = json_string_value(v);
		len = json_string_length(v);
	}
	r = md_copy_str(ret_token, tokenlen, buf, len, MD_CHARSET_TOKEN);
out:
	json_decref(root);
	return r;
}

int md_linode_parse_instance(const char *buf, size_t len, struct md_instance *ret)
{
	struct md_instance inst = {0};
	json_t *root, *id;
	int r;

	r = md_json_load(buf, len, &root);
	if (r < 0)
		return r;
	r = -EINVAL;
	id = json_object_get(root, "id");
	/* A Linode ID is a positive integer (go-metadata InstanceData.ID int); keep it as text. */
	if (!json_is_object(root) || !json_is_integer(id) || json_integer_value(id) <= 0)
		goto out;
	snprintf(inst.id, sizeof(inst.id), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
	r = md_json_str(root, "region", inst.region, sizeof(inst.region), MD_CHARSET_ID);
	if (r < 0) {
		r = -EINVAL;
		goto out;
	}
	md_lower(inst.region);
	md_origin(inst.origin.region, sizeof(inst.origin.region), "/v1/instance", "region");
	r = md_json_name(root, "label", &inst);
	if (r < 0)
		goto out;
	/* "tags", "specs", "image" ...: not needed; py-metadata even sends tags as a string */
	snprintf(inst.provider, sizeof(inst.provider), "linode");
	*ret = inst;
out:
	json_decref(root);
	return r;
}

/* The first usable address of obj[key][] (CIDR strings, reference A4) into field. */
static int linode_take_list(json_t *obj, const char *key, enum md_field field,
			    struct md_instance *inst)
{
	json_t *arr;
	size_t i;
	int r;

	r = md_json_opt(obj, key, JSON_ARRAY, &arr);
	for (i = 0; !r && arr && i < json_array_size(arr); i++) {
		r = md_take_addr(inst, field, json_array_get(arr, i), LINODE_NET, "ipv4.%s[%zu]",
				 key, i);
		if (r > 0)
			return 0;
	}
	return r;
}

static void linode_set_net(struct md_instance *inst, const char *net, size_t i, const char *key)
{
	snprintf(inst->private_net, sizeof(inst->private_net), "%s", net);
	md_origin(inst->origin.private_net, sizeof(inst->origin.private_net), LINODE_NET,
		  "interfaces[%zu].%s", i, key);
}

/*
 * A VPC interface (Talos akamai testdata network-vpc.json): vpc.subnet.ipv4.instance_address is
 * the LAN address, in the zone of the VPC id (subnets of one VPC route to each other); the
 * subnet's nat_1_1 is the public address when ipv4.public has none. IPv6-only subnets have
 * "ipv4": null.
 */
static int linode_vpc(json_t *it, size_t i, struct md_instance *inst)
{
	json_t *vpc, *subnet = NULL, *ipv4 = NULL, *id;
	char net[sizeof(inst->private_net)];
	int r;

	r = md_json_opt(it, "vpc", JSON_OBJECT, &vpc);
	if (!r)
		r = md_json_opt(vpc, "subnet", JSON_OBJECT, &subnet);
	if (!r)
		r = md_json_opt(subnet, "ipv4", JSON_OBJECT, &ipv4);
	if (r < 0 || !ipv4)
		return r;
	id = json_object_get(vpc, "id");
	if (id && !json_is_null(id) && (!json_is_integer(id) || json_integer_value(id) <= 0))
		return -EINVAL;
	if (json_is_integer(id)) {
		snprintf(net, sizeof(net), "vpc-%" JSON_INTEGER_FORMAT, json_integer_value(id));
		r = md_take_addr(inst, MD_LAN4, json_object_get(ipv4, "instance_address"),
				 LINODE_NET, "interfaces[%zu].vpc.subnet.ipv4.instance_address", i);
		if (r > 0)
			linode_set_net(inst, net, i, "vpc.id");
	}
	if (r >= 0)
		r = md_take_addr(inst, MD_WAN4, json_object_get(ipv4, "nat_1_1"), LINODE_NET,
				 "interfaces[%zu].vpc.subnet.ipv4.nat_1_1", i);
	return r < 0 ? r : 0;
}

/* A VLAN interface with IPAM (go-metadata and py-metadata network tests). */
static int linode_vlan(json_t *it, size_t i, struct md_instance *inst)
{
	char label[sizeof(inst->private_net)] = "";
	int r;

	r = md_json_str(it, "label", label, sizeof(label), MD_CHARSET_ID);
	if (r < 0 && r != -ENOENT)
		return r;
	r = md_take_addr(inst, MD_LAN4, json_object_get(it, "ipam_address"), LINODE_NET,
			 "interfaces[%zu].ipam_address", i);
	if (r > 0 && label[0])
		linode_set_net(inst, label, i, "label");
	return r < 0 ? r : 0;
}

/* VPC interfaces first, then VLANs: a default public-only Linode may have no entries at all
 * (reference A4). */
static int linode_interfaces(json_t *root, struct md_instance *inst)
{
	static const char *const order[] = {"vpc", "vlan"};
	json_t *ifaces, *it, *purpose;
	size_t i, k;
	int r;

	r = md_json_opt(root, "interfaces", JSON_ARRAY, &ifaces);
	if (r < 0 || !ifaces)
		return r;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < json_array_size(ifaces); i++) {
			it = json_array_get(ifaces, i);
			if (!json_is_object(it))
				return -EINVAL;
			purpose = json_object_get(it, "purpose");
			if (!json_is_string(purpose) ||
			    strcmp(json_string_value(purpose), order[k]))
				continue;
			r = k == 0 ? linode_vpc(it, i, inst) : linode_vlan(it, i, inst);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int md_linode_parse_network(const char *buf, size_t len, struct md_instance *inout)
{
	struct md_instance inst = *inout;
	json_t *root, *ipv4, *ipv6;
	int r;

	memset(&inst.wan4, 0, sizeof(inst.wan4));
	memset(&inst.wan6, 0, sizeof(inst.wan6));
	memset(&inst.lan4, 0, sizeof(inst.lan4));
	memset(inst.private_net, 0, sizeof(inst.private_net));
	memset(&inst.origin, 0, sizeof(inst.origin));
	memcpy(inst.origin.region, inout->origin.region, sizeof(inst.origin.region));
	r = md_json_load(buf, len, &root);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (!json_is_object(root))
		goto out;
	/* snake_case "shared"/"link_local" are real; the docs' "elastic" is not (reference E);
	 * the order of the calls is the order of preference */
	r = md_json_opt(root, "ipv4", JSON_OBJECT, &ipv4);
	if (!r)
		r = linode_take_list(ipv4, "public", MD_WAN4, &inst);
	if (!r)
		r = linode_interfaces(root, &inst);
	if (!r)
		r = linode_take_list(ipv4, "private", MD_LAN4, &inst);
	/* "ipv6": null on a VPC-only Linode */
	if (!r)
		r = md_json_opt(root, "ipv6", JSON_OBJECT, &ipv6);
	if (!r)
		r = md_take_addr(&inst, MD_WAN6, json_object_get(ipv6, "slaac"), LINODE_NET,
				 "ipv6.slaac");
	if (r < 0)
		goto out;
	r = 0;
	*inout = inst;
out:
	json_decref(root);
	return r;
}

/* baseboard serial "als=0;ais=0;..." marks a region without the service (reference A5). */
static bool linode_dmi_no_metadata(const char *sysfs_root)
{
	char serial[256], *tok, *save = NULL;
	bool als0 = false, ais0 = false;

	if (md_read_dmi(sysfs_root, "board_serial", serial, sizeof(serial)) < 0)
		return false;
	for (tok = strtok_r(serial, "; ", &save); tok; tok = strtok_r(NULL, "; ", &save)) {
		if (!strcmp(tok, "als=0"))
			als0 = true;
		else if (!strcmp(tok, "ais=0"))
			ais0 = true;
	}
	return als0 && ais0;
}

static bool linode_detect(const char *sysfs_root)
{
	/* cloud-init DataSourceAkamai: system-manufacturer "Linode" or "Akamai" */
	return md_dmi_vendor_is(sysfs_root, "Linode") || md_dmi_vendor_is(sysfs_root, "Akamai");
}

/* An Ethernet interface that is up, by name: [A-Za-z0-9._-] only, so it is safe in a URL. */
static bool linode_nic_usable(const char *sysfs_root, const char *name)
{
	char rel[320], v[32], tmp[IFNAMSIZ_MAX];

	if (md_copy_str(tmp, sizeof(tmp), name, strlen(name), MD_CHARSET_ID) < 0)
		return false;
	snprintf(rel, sizeof(rel), "class/net/%s/type", name);
	/* ARPHRD_ETHER */
	if (md_read_sysfs(sysfs_root, rel, v, sizeof(v)) < 0 || strcmp(v, "1"))
		return false;
	snprintf(rel, sizeof(rel), "class/net/%s/operstate", name);
	/* dummy and some virtual NICs say "unknown" when up */
	return md_read_sysfs(sysfs_root, rel, v, sizeof(v)) == 0 &&
	       (!strcmp(v, "up") || !strcmp(v, "unknown"));
}

static int linode_cmp_dirent(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/*
 * "http://[fe80::a9fe:a9fe%25<nic>]" on the first usable Ethernet interface in name order (a
 * Linode's public NIC is eth0); -ENODEV when there is none.
 */
static int linode_link_local_base(const char *sysfs_root, char *out, size_t outlen)
{
	char dir[512];
	struct dirent **ents;
	int i, n, r = -ENODEV;

	snprintf(dir, sizeof(dir), "%s/class/net", sysfs_root);
	n = scandir(dir, &ents, NULL, linode_cmp_dirent);
	if (n < 0)
		return -ENODEV;
	for (i = 0; i < n; i++) {
		if (r < 0 && ents[i]->d_name[0] != '.' &&
		    linode_nic_usable(sysfs_root, ents[i]->d_name)) {
			snprintf(out, outlen, "http://[" LINODE_LINK_LOCAL "%%25%.*s]",
				 IFNAMSIZ_MAX, ents[i]->d_name);
			r = 0;
		}
		free(ents[i]);
	}
	free(ents);
	return r;
}

static int linode_get_token(struct md_http *h, char *ret_token, size_t tokenlen)
{
	static const struct http_header hdrs[] = {
		{"Metadata-Token-Expiry-Seconds", LINODE_TOKEN_TTL},
		{"Accept", "text/plain"},
	};
	char url[MD_URL_MAX];
	struct buf body;
	int r;

	r = md_http_request(h, "PUT", "/v1/token", hdrs, 2, &body);
	if (r < 0)
		return r;
	r = md_linode_parse_token(body.data, body.len, ret_token, tokenlen);
	if (r < 0)
		md_set_err(h->err, h->errlen, "%s: malformed token (%s)",
			   md_http_url(h, "/v1/token", url, sizeof(url)), strerror(-r));
	buf_free(&body);
	return r;
}

static int linode_get_json(struct md_http *h, const char *token, const char *path,
			   struct buf *ret_body)
{
	const struct http_header hdrs[] = {
		{"Metadata-Token", token},
		/* exactly this; libcurl's default Accept is not what the service wants (IGN) */
		{"Accept", "application/json"},
	};

	return md_http_request(h, "GET", path, hdrs, 2, ret_body);
}

static int linode_get_parse(struct md_http *h, const char *token, const char *path,
			    int (*parse)(const char *, size_t, struct md_instance *),
			    struct md_instance *inst)
{
	char url[MD_URL_MAX];
	struct buf body;
	int r;

	r = linode_get_json(h, token, path, &body);
	if (r < 0)
		return r;
	r = parse(body.data, body.len, inst);
	if (r < 0)
		md_set_err(h->err, h->errlen, "%s: malformed response (%s)",
			   md_http_url(h, path, url, sizeof(url)), strerror(-r));
	buf_free(&body);
	return r;
}

/* The whole dance once: a fresh token each time, so a retry never outlives its TTL. */
static int linode_once(struct md_http *h, void *userdata, struct md_instance *ret)
{
	char token[LINODE_TOKEN_MAX] = "";
	int r;

	(void)userdata;
	r = linode_get_token(h, token, sizeof(token));
	if (!r)
		r = linode_get_parse(h, token, "/v1/instance", md_linode_parse_instance, ret);
	if (!r)
		r = linode_get_parse(h, token, LINODE_NET, md_linode_parse_network, ret);
	sodium_memzero(token, sizeof(token));
	return r;
}

int md_linode_fetch_at(const struct config *cfg, const char *sysfs_root, struct md_instance *ret,
		       char *err, size_t errlen)
{
	char base[64 + IFNAMSIZ_MAX];
	struct md_http h;
	int r;

	/* an explicit metadata_url means the operator knows better than DMI */
	if (!cfg->metadata_url[0] && linode_dmi_no_metadata(sysfs_root)) {
		md_set_err(
			err, errlen,
			"Linode reports no metadata service in this region (DMI baseboard serial)");
		return -EOPNOTSUPP;
	}
	r = md_http_init(&h, cfg, LINODE_BASE4, LINODE_BASE6, err, errlen);
	if (r < 0)
		return r;
	if (linode_link_local_base(sysfs_root, base, sizeof(base)) == 0)
		(void)md_http_add_base(&h, base);
	return md_fetch_until_usable(
		&h, cfg, LINODE_NET,
		"no address in ipv4.public, a VPC interface (instance_address, "
		"nat_1_1), a VLAN ipam_address, ipv4.private or ipv6.slaac",
		linode_once, NULL, ret);
}

static int linode_fetch(const struct config *cfg, struct md_instance *ret, char *err, size_t errlen)
{
	return md_linode_fetch_at(cfg, "/sys", ret, err, errlen);
}

const struct md_provider md_linode = {
	.name = "linode",
	.detect = linode_detect,
	.fetch = linode_fetch,
};

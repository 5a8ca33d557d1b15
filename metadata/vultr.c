/*
 * Vultr metadata: one unauthenticated GET /v1.json (reference/metadata-and-s3.md B; cloud-init
 * helpers/vultr.py, vultr/metadata metadata_json.go).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <jansson.h>

#include "../bootstrap/buf.h"
#include "../bootstrap/config.h"
#include "../bootstrap/http.h"
#include "md-internal.h"
#include "provider.h"

#define VULTR_BASE "http://169.254.169.254"

/* The legacy "instanceid" is a string in every sample (reference B2); tolerate a number. */
static int vultr_legacy_id(json_t *root, char *id, size_t idlen)
{
	json_t *v = json_object_get(root, "instanceid");

	if (json_is_integer(v) && json_integer_value(v) > 0) {
		snprintf(id, idlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	return md_json_str(root, "instanceid", id, idlen, MD_CHARSET_ID);
}

#define VULTR_DOC "/v1.json"

/* nic.<fam>.address with its netmask/prefix into field. */
static int vultr_take(json_t *nic, size_t i, const char *fam, enum md_field field,
		      struct md_instance *inst)
{
	struct ip_prefix p;
	json_t *o;
	int r;

	r = md_json_opt(nic, fam, JSON_OBJECT, &o);
	if (!r)
		r = md_json_prefix(o, "address", field == MD_WAN6 ? "prefix" : "netmask",
				   field == MD_WAN6 ? AF_INET6 : AF_INET, &p);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	return md_take_prefix(inst, field, &p, VULTR_DOC, "interfaces[%zu].%s.address", i, fam);
}

/* The VPC (2.0) UUID, else the legacy network id, of a private NIC: its zone key. */
static int vultr_net(json_t *nic, char *net, size_t netlen, const char **key)
{
	int r;

	*key = "network-v2-id";
	r = md_json_str(nic, *key, net, netlen, MD_CHARSET_ID);
	if (r == -ENOENT) {
		*key = "networkid";
		r = md_json_str(nic, *key, net, netlen, MD_CHARSET_ID);
	}
	return r == -ENOENT ? 0 : r;
}

static int vultr_private(json_t *nic, size_t i, struct md_instance *inst)
{
	char net[sizeof(inst->private_net)] = "";
	const char *key;
	int r;

	/* cloud-init leaves "unconfigured" NICs alone, so the address is not on the host */
	if (json_is_true(json_object_get(nic, "unconfigured")))
		return 0;
	r = vultr_net(nic, net, sizeof(net), &key);
	if (!r)
		r = vultr_take(nic, i, "ipv4", MD_LAN4, inst);
	if (r > 0 && net[0]) {
		memcpy(inst->private_net, net, sizeof(net));
		md_origin(inst->origin.private_net, sizeof(inst->origin.private_net), VULTR_DOC,
			  "interfaces[%zu].%s", i, key);
	}
	return r < 0 ? r : 0;
}

/* "public"/"private" from network-type, else by position: interfaces[0] is the public NIC,
 * every later one private/VPC (cloud-init helpers/vultr.py generate_network_config). */
static int vultr_is_public(json_t *nic, size_t i)
{
	char type[16];
	int r;

	r = md_json_str(nic, "network-type", type, sizeof(type), MD_CHARSET_ID);
	if (r == -ENOENT || (!r && strcmp(type, "public") && strcmp(type, "private")))
		return i == 0;
	if (r < 0)
		return r;
	return !strcmp(type, "public");
}

static int vultr_parse_interfaces(json_t *root, struct md_instance *inst)
{
	json_t *ifaces, *nic;
	size_t i;
	int pub, r;

	r = md_json_opt(root, "interfaces", JSON_ARRAY, &ifaces);
	for (i = 0; !r && ifaces && i < json_array_size(ifaces); i++) {
		nic = json_array_get(ifaces, i);
		if (!json_is_object(nic))
			return -EINVAL;
		pub = vultr_is_public(nic, i);
		if (pub < 0)
			return pub;
		/* "ipv6":{"address":""} on instances without IPv6 */
		if (pub)
			r = vultr_take(nic, i, "ipv4", MD_WAN4, inst);
		if (pub && r >= 0)
			r = vultr_take(nic, i, "ipv6", MD_WAN6, inst);
		if (!pub)
			r = vultr_private(nic, i, inst);
		r = r < 0 ? r : 0;
	}
	return r;
}

/* The legacy NIC with this MAC: it alone carries the VPC id of a cloud_interfaces NIC. */
static json_t *vultr_nic_by_mac(json_t *root, json_t *mac, size_t *ret_i)
{
	json_t *ifaces = json_object_get(root, "interfaces"), *m;
	size_t i;

	if (!json_is_string(mac) || !json_is_array(ifaces))
		return NULL;
	for (i = 0; i < json_array_size(ifaces); i++) {
		m = json_object_get(json_array_get(ifaces, i), "mac");
		if (json_is_string(m) &&
		    !strcasecmp(json_string_value(m), json_string_value(mac))) {
			*ret_i = i;
			return json_array_get(ifaces, i);
		}
	}
	return NULL;
}

/*
 * The zone key of a private NIC found in cloud_interfaces: the VPC id of the legacy NIC with
 * the same MAC, else its subnet ("subnet-10.1.112.0-20"): cloud_interfaces carries no VPC id.
 */
static int vultr_ci_net(json_t *root, json_t *phys, size_t k, size_t j, const struct ip_prefix *p,
			struct md_instance *inst)
{
	char net[sizeof(inst->private_net)] = "", a[ADDR_STRLEN];
	struct ip_prefix masked = *p;
	const char *key = "";
	json_t *nic;
	size_t i = 0;
	int r;

	nic = vultr_nic_by_mac(root, json_object_get(phys, "mac_address"), &i);
	r = nic ? vultr_net(nic, net, sizeof(net), &key) : 0;
	if (r < 0)
		return r;
	if (net[0]) {
		md_origin(inst->origin.private_net, sizeof(inst->origin.private_net), VULTR_DOC,
			  "interfaces[%zu].%s", i, key);
	} else {
		addr_mask(&masked);
		snprintf(net, sizeof(net), "subnet-%s-%u", addr_fmt(&masked.addr, a), masked.len);
		md_origin(inst->origin.private_net, sizeof(inst->origin.private_net), VULTR_DOC,
			  "cloud_interfaces.config[%zu].subnets[%zu] (subnet)", k, j);
	}
	memcpy(inst->private_net, net, sizeof(net));
	return 0;
}

/* One "static"/"static6" subnet of the k-th physical NIC (the first one is the public NIC). */
static int vultr_ci_subnet(json_t *root, json_t *phys, size_t k, bool pub, json_t *sub, size_t j,
			   struct md_instance *inst)
{
	enum md_field field;
	struct ip_prefix p;
	char type[16];
	int r;

	if (!json_is_object(sub))
		return -EINVAL;
	r = md_json_str(sub, "type", type, sizeof(type), MD_CHARSET_ID);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (!strcmp(type, "static"))
		field = pub ? MD_WAN4 : MD_LAN4;
	else if (!strcmp(type, "static6") && pub)
		field = MD_WAN6;
	else
		return 0; /* dhcp, ipv6_slaac: the address is not in the document */
	r = md_json_prefix(sub, "address", "netmask", field == MD_WAN6 ? AF_INET6 : AF_INET, &p);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	r = md_take_prefix(inst, field, &p, VULTR_DOC,
			   "cloud_interfaces.config[%zu].subnets[%zu].address", k, j);
	if (r > 0 && field == MD_LAN4)
		r = vultr_ci_net(root, phys, k, j, &p, inst);
	return r < 0 ? r : 0;
}

/*
 * "cloud_interfaces" is a complete cloud-init network config v1; cloud-init uses it instead of
 * "interfaces" when present (DataSourceVultr; test_vultr.py sends it with "interfaces": []), so
 * its static addresses come first. Its physical NICs are in interfaces order: public first.
 */
static int vultr_cloud_interfaces(json_t *root, struct md_instance *inst)
{
	json_t *ci, *config = NULL, *phys, *subnets;
	size_t k, j, n_phys = 0;
	char type[16];
	int r;

	r = md_json_opt(root, "cloud_interfaces", JSON_OBJECT, &ci);
	if (!r)
		r = md_json_opt(ci, "config", JSON_ARRAY, &config);
	for (k = 0; !r && config && k < json_array_size(config); k++) {
		phys = json_array_get(config, k);
		if (!json_is_object(phys))
			return -EINVAL;
		r = md_json_str(phys, "type", type, sizeof(type), MD_CHARSET_ID);
		if (r < 0 || strcmp(type, "physical")) {
			r = r == -ENOENT ? 0 : r;
			continue;
		}
		r = md_json_opt(phys, "subnets", JSON_ARRAY, &subnets);
		for (j = 0; !r && subnets && j < json_array_size(subnets); j++)
			r = vultr_ci_subnet(root, phys, k, n_phys == 0, json_array_get(subnets, j),
					    j, inst);
		n_phys++;
	}
	return r;
}

int md_vultr_parse(const char *buf, size_t len, struct md_instance *ret)
{
	struct md_instance inst = {0};
	json_t *root, *region;
	int r;

	r = md_json_load(buf, len, &root);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (!json_is_object(root))
		goto out;
	r = md_json_str(root, "instance-v2-id", inst.id, sizeof(inst.id), MD_CHARSET_ID);
	if (r == -ENOENT)
		r = vultr_legacy_id(root, inst.id, sizeof(inst.id));
	if (!r)
		r = md_json_opt(root, "region", JSON_OBJECT, &region);
	/* "EWR": cloud-init lower-cases it too (reference B2) */
	if (!r)
		r = md_json_str(region, "regioncode", inst.region, sizeof(inst.region),
				MD_CHARSET_ID);
	if (r < 0) {
		r = -EINVAL;
		goto out;
	}
	md_lower(inst.region);
	md_origin(inst.origin.region, sizeof(inst.origin.region), VULTR_DOC, "region.regioncode");
	r = md_json_name(root, "hostname", &inst);
	if (!r)
		r = vultr_cloud_interfaces(root, &inst);
	if (!r)
		r = vultr_parse_interfaces(root, &inst);
	if (r < 0)
		goto out;
	/* "user-data" is "" or [] or text (reference B1): not ours to read here */
	snprintf(inst.provider, sizeof(inst.provider), "vultr");
	*ret = inst;
out:
	json_decref(root);
	return r;
}

static bool vultr_detect(const char *sysfs_root)
{
	/* cloud-init helpers/vultr.py: system-manufacturer "Vultr" */
	return md_dmi_vendor_is(sysfs_root, "Vultr");
}

static int vultr_fetch(const struct config *cfg, struct md_instance *ret, char *err, size_t errlen)
{
	return md_fetch_json(cfg, VULTR_BASE, VULTR_DOC, md_vultr_parse,
			     "no address in cloud_interfaces (static subnets), "
			     "interfaces[0] ipv4/ipv6 or a private interface",
			     ret, err, errlen);
}

const struct md_provider md_vultr = {
	.name = "vultr",
	.detect = vultr_detect,
	.fetch = vultr_fetch,
};

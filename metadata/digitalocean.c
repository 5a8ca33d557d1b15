/*
 * DigitalOcean Droplet metadata: one unauthenticated GET /metadata/v1.json (DigitalOcean's
 * Droplet Metadata API, spec 0.1.9; cloud-init sources/helpers/digitalocean.py).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "../bootstrap/config.h"
#include "md-internal.h"
#include "provider.h"

#define DO_BASE "http://169.254.169.254"
#define DO_DOC "/metadata/v1.json"

/* An integer in the spec and in Talos's capture, a string ("22532410") in cloud-init's. */
static int do_id(json_t *root, char *id, size_t idlen)
{
	json_t *v = json_object_get(root, "droplet_id");
	char tmp[64];
	int r;

	if (json_is_integer(v) && json_integer_value(v) > 0) {
		snprintf(id, idlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	r = md_json_str(root, "droplet_id", tmp, sizeof(tmp), MD_CHARSET_ID);
	if (r < 0)
		return -EINVAL;
	if (strspn(tmp, "0123456789") != strlen(tmp) || tmp[0] == '0')
		return -EINVAL;
	return md_copy_str(id, idlen, tmp, strlen(tmp), MD_CHARSET_ID);
}

/* interfaces.<kind>[0]: cloud-init configures only the first NIC of each kind. */
static int do_nic(json_t *ifaces, const char *kind, json_t **ret)
{
	json_t *arr;
	int r;

	*ret = NULL;
	r = md_json_opt(ifaces, kind, JSON_ARRAY, &arr);
	if (r < 0 || !arr || !json_array_size(arr))
		return r;
	*ret = json_array_get(arr, 0);
	return json_is_object(*ret) ? 0 : -EINVAL;
}

/* nic.<fam>.ip_address with its netmask (IPv4) or cidr (IPv6) into field. */
static int do_take(json_t *nic, const char *kind, const char *fam, enum md_field field,
		   struct ip_prefix *ret_p, struct md_instance *inst)
{
	struct ip_prefix p;
	json_t *o;
	int r;

	r = md_json_opt(nic, fam, JSON_OBJECT, &o);
	if (!r)
		r = md_json_prefix(o, "ip_address", field == MD_WAN6 ? "cidr" : "netmask",
				   field == MD_WAN6 ? AF_INET6 : AF_INET, &p);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if (ret_p)
		*ret_p = p;
	return md_take_prefix(inst, field, &p, DO_DOC, "interfaces.%s[0].%s.ip_address", kind, fam);
}

/*
 * The private NIC is the Droplet's VPC interface, but the document names no VPC (API spec 0.1.9
 * and every captured sample): the zone key is the VPC's subnet from ip_address/netmask
 * ("subnet-10.132.0.0-16"), as for Vultr's cloud_interfaces. Two VPCs of one region with the
 * same range would look like one.
 */
static int do_private(json_t *nic, struct md_instance *inst)
{
	char a[ADDR_STRLEN];
	struct ip_prefix p;
	int r;

	r = do_take(nic, "private", "ipv4", MD_LAN4, &p, inst);
	if (r <= 0)
		return r;
	addr_mask(&p);
	snprintf(inst->private_net, sizeof(inst->private_net), "subnet-%s-%u", addr_fmt(&p.addr, a),
		 p.len);
	md_origin(inst->origin.private_net, sizeof(inst->origin.private_net), DO_DOC,
		  "interfaces.private[0].ipv4 (subnet)");
	return 0;
}

static int do_parse_interfaces(json_t *root, struct md_instance *inst)
{
	json_t *ifaces, *pub = NULL, *priv = NULL;
	int r;

	r = md_json_opt(root, "interfaces", JSON_OBJECT, &ifaces);
	if (!r)
		r = do_nic(ifaces, "public", &pub);
	if (!r)
		r = do_nic(ifaces, "private", &priv);
	/* anchor_ipv4 (10.x) only carries a Reserved IP's inbound traffic: never an endpoint */
	if (!r && pub)
		r = do_take(pub, "public", "ipv4", MD_WAN4, NULL, inst);
	if (r >= 0 && pub)
		r = do_take(pub, "public", "ipv6", MD_WAN6, NULL, inst);
	if (r >= 0 && priv)
		r = do_private(priv, inst);
	return r < 0 ? r : 0;
}

int md_digitalocean_parse(const char *buf, size_t len, struct md_instance *ret)
{
	struct md_instance inst = {0};
	json_t *root;
	int r;

	r = md_json_load(buf, len, &root);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (!json_is_object(root) || do_id(root, inst.id, sizeof(inst.id)) < 0 ||
	    md_json_str(root, "region", inst.region, sizeof(inst.region), MD_CHARSET_ID) < 0)
		goto out;
	md_lower(inst.region);
	md_origin(inst.origin.region, sizeof(inst.origin.region), DO_DOC, "region");
	r = md_json_name(root, "hostname", &inst);
	if (!r)
		r = do_parse_interfaces(root, &inst);
	if (r < 0)
		goto out;
	/* reserved_ip / floating_ip: inbound only, replies leave from the public address */
	snprintf(inst.provider, sizeof(inst.provider), "digitalocean");
	*ret = inst;
out:
	json_decref(root);
	return r;
}

static bool do_detect(const char *sysfs_root)
{
	/* cloud-init helpers/digitalocean.py read_sysinfo: system-manufacturer "DigitalOcean" */
	return md_dmi_vendor_is(sysfs_root, "DigitalOcean");
}

static int do_fetch(const struct config *cfg, struct md_instance *ret, char *err, size_t errlen)
{
	return md_fetch_json(cfg, DO_BASE, DO_DOC, md_digitalocean_parse,
			     "no interfaces.public[0] ipv4/ipv6 or interfaces.private[0] ipv4 "
			     "address",
			     ret, err, errlen);
}

const struct md_provider md_digitalocean = {
	.name = "digitalocean",
	.detect = do_detect,
	.fetch = do_fetch,
};

/*
 * Vultr metadata: one unauthenticated GET /v1.json (reference/metadata-and-s3.md B; cloud-init
 * helpers/vultr.py, vultr/metadata metadata_json.go).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
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

static int vultr_public(json_t *nic, struct md_instance *inst)
{
	json_t *ipv4, *ipv6;
	int r;

	r = md_json_opt(nic, "ipv4", JSON_OBJECT, &ipv4);
	if (!r)
		r = md_json_addr(ipv4, "address", AF_INET, &inst->wan4);
	if (r == -ENOENT)
		r = 0;
	/* "ipv6":{"address":""} on instances without IPv6 */
	if (!r)
		r = md_json_opt(nic, "ipv6", JSON_OBJECT, &ipv6);
	if (!r)
		r = md_json_addr(ipv6, "address", AF_INET6, &inst->wan6);
	return r == -ENOENT ? 0 : r;
}

/* 1 when the NIC gave the LAN address, 0 when it has none, -EINVAL when malformed. */
static int vultr_private(json_t *nic, struct md_instance *inst)
{
	char net[sizeof(inst->private_net)] = "";
	struct ip_addr a;
	json_t *ipv4;
	int r;

	/* cloud-init leaves "unconfigured" NICs alone, so the address is not on the host */
	if (json_is_true(json_object_get(nic, "unconfigured")))
		return 0;
	r = md_json_opt(nic, "ipv4", JSON_OBJECT, &ipv4);
	if (!r)
		r = md_json_addr(ipv4, "address", AF_INET, &a);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	r = md_json_str(nic, "network-v2-id", net, sizeof(net), MD_CHARSET_ID);
	if (r == -ENOENT)
		r = md_json_str(nic, "networkid", net, sizeof(net), MD_CHARSET_ID);
	if (r < 0 && r != -ENOENT)
		return r;
	inst->lan4 = a;
	memcpy(inst->private_net, net, sizeof(net));
	return 1;
}

/*
 * interfaces[0] is the public NIC; every later one is private/VPC (cloud-init
 * generate_network_config). The first private NIC with an address is the LAN.
 */
static int vultr_parse_interfaces(json_t *root, struct md_instance *inst)
{
	char type[16];
	json_t *ifaces, *nic;
	bool have_lan = false;
	size_t i;
	int r;

	r = md_json_opt(root, "interfaces", JSON_ARRAY, &ifaces);
	if (r < 0 || !ifaces)
		return r;
	for (i = 0; i < json_array_size(ifaces); i++) {
		nic = json_array_get(ifaces, i);
		if (!json_is_object(nic))
			return -EINVAL;
		r = md_json_str(nic, "network-type", type, sizeof(type), MD_CHARSET_ID);
		if (r == -ENOENT)
			snprintf(type, sizeof(type), "%s", i ? "private" : "public");
		else if (r < 0)
			return r;
		if (i == 0 && strcmp(type, "private"))
			r = vultr_public(nic, inst);
		else if (i > 0 && !have_lan && !strcmp(type, "private"))
			r = vultr_private(nic, inst);
		if (r < 0)
			return r;
		have_lan = have_lan || r > 0;
	}
	return 0;
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
	r = md_json_str(root, "hostname", inst.name, sizeof(inst.name), MD_CHARSET_NAME);
	if (r == -ENOENT)
		r = md_copy_str(inst.name, sizeof(inst.name), inst.id, strlen(inst.id),
				MD_CHARSET_NAME);
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
	char vendor[64];

	/* cloud-init helpers/vultr.py: system-manufacturer "Vultr" */
	if (md_read_dmi(sysfs_root, "sys_vendor", vendor, sizeof(vendor)) < 0)
		return false;
	return !strcmp(vendor, "Vultr");
}

static int vultr_fetch(const struct config *cfg, struct md_instance *ret, char *err, size_t errlen)
{
	static const struct http_header hdrs[] = {
		{"Accept", "application/json"},
	};
	char url[MD_URL_MAX];
	struct md_instance inst;
	struct md_http h;
	struct buf body;
	int r;

	r = md_http_init(&h, cfg, VULTR_BASE, NULL, err, errlen);
	if (r < 0)
		return r;
	r = md_http_request(&h, "GET", "/v1.json", hdrs, 1, &body);
	if (r < 0)
		return r;
	r = md_vultr_parse(body.data, body.len, &inst);
	buf_free(&body);
	if (r < 0) {
		md_set_err(err, errlen, "%s: malformed response (%s)",
			   md_http_url(&h, "/v1.json", url, sizeof(url)), strerror(-r));
		return r;
	}
	*ret = inst;
	return 0;
}

const struct md_provider md_vultr = {
	.name = "vultr",
	.detect = vultr_detect,
	.fetch = vultr_fetch,
};

/*
 * provider = static: the instance comes from the config alone (bare metal, other clouds,
 * tests). Never auto-detected; no network.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../bootstrap/config.h"
#include "md-internal.h"
#include "provider.h"

static bool static_detect(const char *sysfs_root)
{
	(void)sysfs_root;
	return false;
}

static int static_fetch(const struct config *cfg, struct md_instance *ret, char *err, size_t errlen)
{
	struct md_instance inst = {0};
	const char *name = cfg->name[0] ? cfg->name : cfg->instance_id;
	int r;

	if (!cfg->instance_id[0] || !cfg->region[0]) {
		md_set_err(err, errlen, "provider static needs instance_id and region");
		return -EINVAL;
	}
	r = md_copy_str(inst.id, sizeof(inst.id), cfg->instance_id, strlen(cfg->instance_id),
			MD_CHARSET_ID);
	if (!r)
		r = md_copy_str(inst.region, sizeof(inst.region), cfg->region, strlen(cfg->region),
				MD_CHARSET_ID);
	if (!r)
		r = md_copy_str(inst.name, sizeof(inst.name), name, strlen(name), MD_CHARSET_NAME);
	if (r < 0) {
		md_set_err(err, errlen,
			   "provider static: instance_id, region or name has "
			   "characters outside [A-Za-z0-9._-]");
		return r;
	}
	md_lower(inst.region);
	snprintf(inst.provider, sizeof(inst.provider), "static");
	inst.wan4 = cfg->wan_ipv4;
	inst.wan6 = cfg->wan_ipv6;
	inst.lan4 = cfg->lan_ipv4;
	*ret = inst;
	return 0;
}

const struct md_provider md_static = {
	.name = "static",
	.detect = static_detect,
	.fetch = static_fetch,
};

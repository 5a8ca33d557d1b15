/* Picks the WireGuard backend for cfg->interface and creates the device when missing. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "config.h"
#include "link.h"
#include "log.h"
#include "wg-uapi.h"
#include "wg.h"

static int open_userspace(const struct config *cfg, const struct wg_backend **ret, bool *created)
{
	int r;

	r = wg_backend_uapi.owns(cfg->interface);
	if (r < 0)
		return r;
	if (r == 0) {
		r = wg_backend_uapi.create(cfg);
		if (r < 0)
			return r;
		*created = true;
	}
	*ret = &wg_backend_uapi;
	return 0;
}

/* 1 = a WireGuard link exists, 0 = no link, -EEXIST = the name is taken by another kind. */
static int kernel_link(const char *ifname)
{
	int r;

	r = wg_backend_kernel.owns(ifname);
	if (r != 0)
		return r;
	r = link_exists(ifname);
	if (r < 0)
		return r;
	return r ? -EEXIST : 0;
}

static int open_kernel(const struct config *cfg, const struct wg_backend **ret, bool *created)
{
	int r;

	r = kernel_link(cfg->interface);
	if (r < 0)
		return r;
	if (r == 0) {
		r = wg_backend_kernel.create(cfg);
		if (r < 0)
			return r;
		*created = true;
	}
	*ret = &wg_backend_kernel;
	return 0;
}

/*
 * wg-quick's rule (wireguard.md 1.8, linux.bash add_if): when the kernel cannot create a
 * wireguard link, fall back to the userspace implementation if it is installed.
 */
static int open_auto(const struct config *cfg, const struct wg_backend **ret, bool *created)
{
	char path[PATH_MAX];
	int r;

	/* A daemon's device is a "tun" link: ask the socket first (wg(8) ipc.c does the same). */
	r = wg_backend_uapi.owns(cfg->interface);
	if (r < 0)
		return r;
	if (r > 0) {
		*ret = &wg_backend_uapi;
		return 0;
	}
	r = kernel_link(cfg->interface);
	if (r < 0)
		return r;
	if (r == 0)
		r = wg_backend_kernel.create(cfg);
	if (r >= 0) {
		*created = r == 0;
		*ret = &wg_backend_kernel;
		return 0;
	}
	if (r != -EOPNOTSUPP)
		return r;
	r = wg_uapi_find_command(cfg->userspace_command, path, sizeof(path));
	if (r < 0) {
		log_debug("kernel has no WireGuard and no userspace command was found");
		return -EOPNOTSUPP;
	}
	r = wg_backend_uapi.create(cfg);
	if (r < 0)
		return r;
	*created = true;
	*ret = &wg_backend_uapi;
	return 0;
}

int wg_backend_open(const struct config *cfg, const struct wg_backend **ret, bool *ret_created)
{
	const struct wg_backend *b = NULL;
	bool created = false;
	int r = -EINVAL;

	switch (cfg->backend) {
	case CONFIG_BACKEND_AUTO:
		r = open_auto(cfg, &b, &created);
		break;
	case CONFIG_BACKEND_KERNEL:
		r = open_kernel(cfg, &b, &created);
		break;
	case CONFIG_BACKEND_USERSPACE:
		r = open_userspace(cfg, &b, &created);
		break;
	}
	if (r < 0)
		return r;
	log_debug("backend %s for %s%s", b->name, cfg->interface, created ? " (created)" : "");
	*ret = b;
	if (ret_created)
		*ret_created = created;
	return 0;
}

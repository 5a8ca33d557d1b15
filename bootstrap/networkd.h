/* systemd-networkd units for reboots: rendering is pure, writing is atomic (DESIGN.md 6). */
#ifndef CLIQUE_NETWORKD_H
#define CLIQUE_NETWORKD_H

#include <stdbool.h>
#include <sys/types.h>

#include "buf.h"

struct config;
struct mesh;

/* Render 90-clique-<if>.netdev and 90-clique-<if>.network for the mesh. */
int nd_render(const struct config *cfg, const struct mesh *m, struct buf *ret_netdev,
	      struct buf *ret_network);
/* "<dir>/90-clique-<ifname>.<ext>" */
int nd_unit_path(const char *dir, const char *ifname, const char *ext, char *ret_path,
		 size_t path_size);
/*
 * Writes path atomically (tmp in the same dir + fsync + rename + fsync dir) with mode 0640 and
 * group systemd-network where that group exists, only when the content differs.
 * Returns 1 written, 0 unchanged, -errno.
 */
int nd_write_if_changed(const char *path, const char *content, size_t len);
/* Removes path and syncs its directory: 1 removed, 0 when it was missing, -errno. */
int nd_remove(const char *path);

#endif

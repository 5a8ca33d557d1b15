/* rtnetlink through libmnl: the link, its MTU, address and up state (wireguard.md 1.8). */
#ifndef CLIQUE_LINK_H
#define CLIQUE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* 0 created, -EEXIST exists, -EOPNOTSUPP kernel without WireGuard, -EPERM no CAP_NET_ADMIN. */
int link_create_wireguard(const char *ifname);
/* 1 exists, 0 not, -errno. */
int link_exists(const char *ifname);
/*
 * Idempotent: sets the MTU when mtu != 0 and it differs, adds addr when missing (leaves other
 * addresses alone), brings the link up. ret_changed (may be NULL) tells whether anything was sent.
 */
int link_configure(const char *ifname, uint32_t mtu, const struct ip_prefix *addr,
		   int *ret_changed);
/* IFLA_INFO_KIND of ifname ("wireguard", "tun", "" when none); -ENODEV when missing. */
int link_get_kind(const char *ifname, char *ret_kind, size_t kind_size);
/* -ENODEV when missing. */
int link_delete(const char *ifname);

#endif

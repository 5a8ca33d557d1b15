/* IP addresses and endpoints as fixed structs; parsed once, re-rendered with inet_ntop. */
#ifndef CLIQUE_ADDR_H
#define CLIQUE_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

/* Large enough for "[ffff:...:ffff]:65535" and "255.255.255.255/32". */
#define ADDR_STRLEN 64

struct ip_addr {
	int family; /* AF_INET, AF_INET6, or 0 = unset */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

struct ip_prefix {
	struct ip_addr addr;
	uint8_t len;
};

/* Bare address only ("10.0.0.1", "2001:db8::1"); -EINVAL otherwise. */
int addr_parse(const char *s, struct ip_addr *ret);
/* "a.b.c.d/n" or "x::/n"; a bare address gets the full length (32/128). */
int addr_parse_prefix(const char *s, struct ip_prefix *ret);
/* A dotted IPv4 netmask ("255.255.240.0") as a prefix length 0-32; -EINVAL when not
 * contiguous or not dotted. */
int addr_parse_netmask(const char *s);
/* Renders into out (ADDR_STRLEN); returns out. */
const char *addr_fmt(const struct ip_addr *a, char *out);
/* "1.2.3.4:51871" or "[2001:db8::1]:51871". */
const char *addr_fmt_endpoint(const struct ip_addr *a, uint16_t port, char *out);
bool addr_equal(const struct ip_addr *a, const struct ip_addr *b);
/* True when a lies inside p (host bits of p ignored). */
bool addr_in_prefix(const struct ip_addr *a, const struct ip_prefix *p);
/* Clears host bits beyond p->len. */
void addr_mask(struct ip_prefix *p);
/*
 * NULL when p names one routable host that can be a WireGuard endpoint or a LAN address; else
 * what it is instead: "link-local", "loopback", "multicast", "unspecified", "a network prefix,
 * not a host" (all host bits zero below the prefix length: "2001:db8::/64", "10.0.0.0/24"),
 * "a broadcast address", ... A bare address has the full length and is judged by kind only.
 */
const char *addr_host_problem(const struct ip_prefix *p);
/* memcmp-style ordering: family first, then bytes. */
int addr_cmp(const struct ip_addr *a, const struct ip_addr *b);

#endif

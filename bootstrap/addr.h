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
/* Renders into out (ADDR_STRLEN); returns out. */
const char *addr_fmt(const struct ip_addr *a, char *out);
/* "1.2.3.4:51871" or "[2001:db8::1]:51871". */
const char *addr_fmt_endpoint(const struct ip_addr *a, uint16_t port, char *out);
bool addr_equal(const struct ip_addr *a, const struct ip_addr *b);
/* True when a lies inside p (host bits of p ignored). */
bool addr_in_prefix(const struct ip_addr *a, const struct ip_prefix *p);
/* Clears host bits beyond p->len. */
void addr_mask(struct ip_prefix *p);
/* memcmp-style ordering: family first, then bytes. */
int addr_cmp(const struct ip_addr *a, const struct ip_addr *b);

#endif

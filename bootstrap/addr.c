#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "addr.h"

int addr_parse(const char *s, struct ip_addr *ret)
{
	struct ip_addr a = {0};

	if (!s || strlen(s) >= ADDR_STRLEN)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*ret = a;
	return 0;
}

int addr_parse_prefix(const char *s, struct ip_prefix *ret)
{
	char tmp[ADDR_STRLEN], *slash, *end;
	struct ip_prefix p;
	unsigned long n;
	size_t len;
	int r;

	len = s ? strlen(s) : 0;
	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len + 1);
	slash = strchr(tmp, '/');
	if (slash)
		*slash = '\0';
	r = addr_parse(tmp, &p.addr);
	if (r < 0)
		return r;
	p.len = p.addr.family == AF_INET ? 32 : 128;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		n = strtoul(slash + 1, &end, 10);
		if (errno || *end || n > p.len || end - (slash + 1) > 3)
			return -EINVAL;
		p.len = n;
	}
	*ret = p;
	return 0;
}

const char *addr_fmt(const struct ip_addr *a, char *out)
{
	if (!a->family || !inet_ntop(a->family, &a->v4, out, ADDR_STRLEN))
		snprintf(out, ADDR_STRLEN, "(none)");
	return out;
}

const char *addr_fmt_endpoint(const struct ip_addr *a, uint16_t port, char *out)
{
	char ip[INET6_ADDRSTRLEN] = "(none)";

	if (a->family)
		inet_ntop(a->family, &a->v4, ip, sizeof(ip));
	if (a->family == AF_INET6)
		snprintf(out, ADDR_STRLEN, "[%s]:%u", ip, port);
	else
		snprintf(out, ADDR_STRLEN, "%s:%u", ip, port);
	return out;
}

static size_t addr_size(int family)
{
	return family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
}

bool addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	return addr_cmp(a, b) == 0;
}

int addr_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (!a->family)
		return 0;
	return memcmp(&a->v4, &b->v4, addr_size(a->family));
}

static void mask_bytes(uint8_t *bytes, size_t size, unsigned len)
{
	size_t i;

	for (i = 0; i < size; i++) {
		if (len >= 8) {
			len -= 8;
			continue;
		}
		bytes[i] &= (uint8_t)(0xff00 >> len);
		len = 0;
	}
}

void addr_mask(struct ip_prefix *p)
{
	if (p->addr.family)
		mask_bytes((uint8_t *)&p->addr.v4, addr_size(p->addr.family), p->len);
}

bool addr_in_prefix(const struct ip_addr *a, const struct ip_prefix *p)
{
	struct ip_prefix x = {.addr = *a, .len = p->len}, y = *p;

	if (a->family != p->addr.family)
		return false;
	addr_mask(&x);
	addr_mask(&y);
	return addr_equal(&x.addr, &y.addr);
}

/* True when every bit of a past len is `bit` (0 or 1). */
static bool host_bits_all(const struct ip_prefix *p, int bit)
{
	const uint8_t *b = (const uint8_t *)&p->addr.v4;
	unsigned i, bits = addr_size(p->addr.family) * 8;

	for (i = p->len; i < bits; i++) {
		if (((b[i / 8] >> (7 - i % 8)) & 1) != bit)
			return false;
	}
	return true;
}

static const char *addr_v4_problem(const struct ip_prefix *p)
{
	uint32_t a = ntohl(p->addr.v4.s_addr);

	if ((a >> 24) == 0)
		return "in 0.0.0.0/8 (this network)";
	if ((a >> 24) == 127)
		return "loopback";
	if ((a >> 16) == 0xa9fe)
		return "link-local";
	if ((a >> 28) == 0xe)
		return "multicast";
	if ((a >> 28) == 0xf)
		return "reserved (240.0.0.0/4)";
	/* RFC 3021: /31 and /32 have no network or broadcast address */
	if (p->len < 31 && host_bits_all(p, 0))
		return "a network address, not a host";
	if (p->len < 31 && host_bits_all(p, 1))
		return "a broadcast address";
	return NULL;
}

static const char *addr_v6_problem(const struct ip_prefix *p)
{
	const uint8_t *b = p->addr.v6.s6_addr;

	if (IN6_IS_ADDR_UNSPECIFIED(&p->addr.v6))
		return "unspecified";
	if (IN6_IS_ADDR_LOOPBACK(&p->addr.v6))
		return "loopback";
	if (IN6_IS_ADDR_LINKLOCAL(&p->addr.v6))
		return "link-local";
	if (b[0] == 0xff)
		return "multicast";
	if (IN6_IS_ADDR_V4MAPPED(&p->addr.v6))
		return "IPv4-mapped";
	/* RFC 4291 2.6.1: all-zero host bits are the Subnet-Router anycast address, i.e. the
	 * prefix itself ("2001:db8::/64" is a network); RFC 6164: /127 has none */
	if (p->len < 127 && host_bits_all(p, 0))
		return "a network prefix, not a host";
	return NULL;
}

const char *addr_host_problem(const struct ip_prefix *p)
{
	switch (p->addr.family) {
	case AF_INET:
		return addr_v4_problem(p);
	case AF_INET6:
		return addr_v6_problem(p);
	}
	return "not an address";
}

int addr_parse_netmask(const char *s)
{
	struct in_addr m;
	uint32_t v;
	int len = 0;

	if (!s || inet_pton(AF_INET, s, &m) != 1)
		return -EINVAL;
	v = ntohl(m.s_addr);
	while (len < 32 && (v & (UINT32_C(1) << (31 - len))))
		len++;
	/* contiguous: nothing set below the first zero */
	if (len < 32 && (v << len))
		return -EINVAL;
	return len;
}

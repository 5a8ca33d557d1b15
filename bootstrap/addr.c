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

/* rtnetlink through libmnl: create, inspect, configure and delete links (wireguard.md 1.8). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "link.h"
#include "log.h"
#include "netlink.h"
#include "text.h"

struct link_info {
	int index;
	unsigned flags;
	uint32_t mtu;
	char kind[32];
};

/* more addresses of one family than this: not a link clique-boot configured */
#define LINK_MAX_ADDRS 32

static struct nlmsghdr *msg_new(struct nl_sock *s, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	nlh = mnl_nlmsg_put_header(s->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++s->seq;
	return nlh;
}

/* Sends nlh and runs cb (data in its struct nl_reply) over the replies; -errno from the kernel. */
static int request(struct nl_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct nl_reply r = {.data = data};

	return nl_request(s, nlh, nlh->nlmsg_len, cb, &r);
}

static int linkinfo_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(attr, IFLA_INFO_MAX) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND &&
	    mnl_attr_validate(attr, MNL_TYPE_STRING) < 0)
		return MNL_CB_ERROR;
	tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
		return MNL_CB_OK;
	if (type == IFLA_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	if (type == IFLA_LINKINFO && mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
		return MNL_CB_ERROR;
	tb[type] = attr;
	return MNL_CB_OK;
}

static void copy_kind(const struct nlattr *attr, struct link_info *info)
{
	const struct nlattr *tb[IFLA_INFO_MAX + 1] = {0};
	size_t n;

	if (mnl_attr_parse_nested(attr, linkinfo_cb, tb) < 0 || !tb[IFLA_INFO_KIND])
		return;
	/* The kernel puts it with nla_put_string (NUL included); do not trust that. */
	n = strnlen(mnl_attr_get_payload(tb[IFLA_INFO_KIND]),
		    mnl_attr_get_payload_len(tb[IFLA_INFO_KIND]));
	if (n < sizeof(info->kind)) {
		memcpy(info->kind, mnl_attr_get_payload(tb[IFLA_INFO_KIND]), n);
		info->kind[n] = '\0';
	}
}

static int getlink_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	struct nl_reply *r = data;
	struct link_info *info = r->data;
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0)
		return nl_fail(r, -EINVAL);
	info->index = ifi->ifi_index;
	info->flags = ifi->ifi_flags;
	if (tb[IFLA_MTU])
		info->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_LINKINFO])
		copy_kind(tb[IFLA_LINKINFO], info);
	return MNL_CB_OK;
}

static int get_info(struct nl_sock *s, const char *ifname, struct link_info *ret)
{
	struct link_info info = {0};
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int r;

	nlh = msg_new(s, RTM_GETLINK, 0);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	r = request(s, nlh, getlink_cb, &info);
	if (r < 0)
		return r;
	if (info.index <= 0)
		return -ENODEV;
	*ret = info;
	return 0;
}

/* Opens a socket, looks the link up; the socket stays open for the caller on success. */
static int open_get(struct nl_sock *s, const char *ifname, struct link_info *ret)
{
	int r;

	if (!ifname_valid(ifname))
		return -EINVAL;
	r = nl_open(s, NETLINK_ROUTE);
	if (r < 0)
		return r;
	r = get_info(s, ifname, ret);
	if (r < 0)
		nl_close(s);
	return r;
}

/* RTM_NEWLINK creating a link of kind, or RTM_DELLINK (kind NULL), by name on a socket of its own. */
static int change_link(uint16_t type, uint16_t flags, const char *ifname, const char *kind)
{
	struct nl_sock s;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *nest;
	int r;

	if (!ifname_valid(ifname))
		return -EINVAL;
	r = nl_open(&s, NETLINK_ROUTE);
	if (r < 0)
		return r;
	nlh = msg_new(&s, type, flags);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	if (kind) {
		nest = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
		mnl_attr_nest_end(nlh, nest);
	}
	r = request(&s, nlh, NULL, NULL);
	nl_close(&s);
	return r;
}

int link_create_wireguard(const char *ifname)
{
	/* No IFLA_INFO_DATA: all WireGuard configuration goes through genetlink (wg-netlink.c). */
	return change_link(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifname, "wireguard");
}

int link_exists(const char *ifname)
{
	struct link_info info;
	struct nl_sock s;
	int r;

	r = open_get(&s, ifname, &info);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	nl_close(&s);
	return 1;
}

int link_get_kind(const char *ifname, char *ret_kind, size_t kind_size)
{
	struct link_info info;
	struct nl_sock s;
	size_t n;
	int r;

	r = open_get(&s, ifname, &info);
	if (r < 0)
		return r;
	nl_close(&s);
	n = strlen(info.kind);
	if (n >= kind_size)
		return -ENOBUFS;
	memcpy(ret_kind, info.kind, n + 1);
	return 0;
}

static int set_link(struct nl_sock *s, int index, unsigned flags, uint32_t mtu)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	nlh = msg_new(s, RTM_NEWLINK, 0);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = flags;
	ifi->ifi_change = flags;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return request(s, nlh, NULL, NULL);
}

/* The addresses of one family on one link, as a GETADDR dump reports them. */
struct addr_list {
	int index;
	int family;
	size_t n;
	struct ip_prefix a[LINK_MAX_ADDRS];
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
		return MNL_CB_OK;
	if ((type == IFA_LOCAL || type == IFA_ADDRESS) &&
	    mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
		return MNL_CB_ERROR;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int getaddr_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFA_MAX + 1] = {0};
	struct nl_reply *r = data;
	struct addr_list *l = r->data;
	const struct ifaddrmsg *ifa;
	const struct nlattr *a;
	struct ip_prefix *p;
	size_t size;

	if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return MNL_CB_OK;
	ifa = mnl_nlmsg_get_payload(nlh);
	if ((int)ifa->ifa_index != l->index || ifa->ifa_family != l->family)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
		return nl_fail(r, -EINVAL);
	/* IPv4: IFA_LOCAL is our address, IFA_ADDRESS may be a peer; IPv6 has only IFA_ADDRESS. */
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	size = l->family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
	if (!a || mnl_attr_get_payload_len(a) != size)
		return MNL_CB_OK;
	if (l->n == LINK_MAX_ADDRS)
		return nl_fail(r, -E2BIG); /* not a link we configured: refuse to guess */
	p = &l->a[l->n++];
	memset(p, 0, sizeof(*p));
	p->addr.family = l->family;
	memcpy(&p->addr.v4, mnl_attr_get_payload(a), size);
	p->len = ifa->ifa_prefixlen;
	return MNL_CB_OK;
}

/* A dump on a socket of its own: an interrupted one still has parts in flight on it. */
static int list_addrs_once(int index, int family, struct addr_list *ret)
{
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	struct nl_sock s;
	int r;

	r = nl_open(&s, NETLINK_ROUTE);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->index = index;
	ret->family = family;
	nlh = msg_new(&s, RTM_GETADDR, NLM_F_DUMP);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_index = (uint32_t)index;
	r = request(&s, nlh, getaddr_cb, ret);
	nl_close(&s);
	return r;
}

static int list_addrs(int index, int family, struct addr_list *ret)
{
	int r, tries;

	for (tries = 1;; tries++) {
		r = list_addrs_once(index, family, ret);
		if (r != -EINTR || tries == NL_DUMP_TRIES)
			return r;
		log_debug("link: address dump changed meanwhile, restarting");
	}
}

/* RTM_NEWADDR with flags NLM_F_CREATE|NLM_F_EXCL, or RTM_DELADDR. */
static int change_addr(struct nl_sock *s, uint16_t type, int index, const struct ip_prefix *addr)
{
	size_t size =
		addr->addr.family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;

	nlh = msg_new(s, type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)addr->addr.family;
	ifa->ifa_prefixlen = addr->len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)index;
	/*
	 * wireguard.md 1.8: on an IFF_POINTOPOINT link a different IFA_ADDRESS means "peer", so
	 * IPv4 gets both equal. IPv6 would take IFA_LOCAL + IFA_ADDRESS as a peer address too.
	 */
	if (addr->addr.family == AF_INET)
		mnl_attr_put(nlh, IFA_LOCAL, size, &addr->addr.v4);
	mnl_attr_put(nlh, IFA_ADDRESS, size, &addr->addr.v4);
	return request(s, nlh, NULL, NULL);
}

/*
 * The mesh link is clique-boot's: any other address of the wanted one's family goes (an
 * `address =` or `network =` change would otherwise leave the old one routed). Stale ones go
 * first: deleting a primary IPv4 address also deletes the same-subnet secondaries unless
 * net.ipv4.conf.*.promote_secondaries is set, which would take the new address with it.
 */
static int configure_addr(struct nl_sock *s, int index, const struct ip_prefix *addr, bool *changed)
{
	struct addr_list l;
	bool found = false;
	size_t i;
	int r;

	r = list_addrs(index, addr->addr.family, &l);
	if (r < 0)
		return r;
	for (i = 0; i < l.n; i++) {
		if (l.a[i].len == addr->len && addr_equal(&l.a[i].addr, &addr->addr)) {
			found = true;
			continue;
		}
		r = change_addr(s, RTM_DELADDR, index, &l.a[i]);
		if (r < 0 && r != -EADDRNOTAVAIL)
			return r;
		*changed = true;
	}
	if (found)
		return 0;
	r = change_addr(s, RTM_NEWADDR, index, addr);
	if (r < 0 && r != -EEXIST) /* -EEXIST: added by someone else since the dump */
		return r;
	*changed = true;
	return 0;
}

int link_configure(const char *ifname, uint32_t mtu, const struct ip_prefix *addr, int *ret_changed)
{
	struct link_info info;
	struct nl_sock s;
	bool changed = false;
	int r;

	if (addr && addr->addr.family != AF_INET && addr->addr.family != AF_INET6 &&
	    addr->addr.family)
		return -EAFNOSUPPORT;
	r = open_get(&s, ifname, &info);
	if (r < 0)
		return r;
	if (mtu && mtu != info.mtu) {
		r = set_link(&s, info.index, 0, mtu);
		if (r < 0)
			goto out;
		changed = true;
	}
	if (addr && addr->addr.family) {
		r = configure_addr(&s, info.index, addr, &changed);
		if (r < 0)
			goto out;
	}
	if (!(info.flags & IFF_UP)) {
		r = set_link(&s, info.index, IFF_UP, 0);
		if (r < 0)
			goto out;
		changed = true;
	}
	if (ret_changed)
		*ret_changed = changed;
out:
	nl_close(&s);
	return r;
}

int link_delete(const char *ifname)
{
	return change_link(RTM_DELLINK, 0, ifname, NULL);
}

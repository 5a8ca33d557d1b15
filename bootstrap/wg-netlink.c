/*
 * Kernel WireGuard backend: generic netlink through libmnl (shared/reference/wireguard.md 1).
 * Pure builders and parsers first, then the socket layer, then wg_backend_kernel.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include <libmnl/libmnl.h>
#include <sodium.h>

#include "config.h"
#include "link.h"
#include "log.h"
#include "netlink.h"
#include "text.h"
#include "wg.h"
#include "wg-netlink.h"

/* Bounds on what a reply may make us allocate. */
#define WG_NL_PEERS_MAX (1u << 20)
#define WG_NL_ALLOWEDIPS_MAX (1u << 20)

#define WG_NL_DEVICE_ATTRS \
	(WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK)

union sockaddr_wg {
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static bool prefix_valid(const struct ip_prefix *p)
{
	if (p->addr.family == AF_INET)
		return p->len <= 32;
	if (p->addr.family == AF_INET6)
		return p->len <= 128;
	return false;
}

/* The kernel takes exactly a sockaddr_in or sockaddr_in6 and silently ignores other sizes. */
static int endpoint_encode(const struct wg_endpoint *ep, union sockaddr_wg *sa, size_t *ret_len)
{
	memset(sa, 0, sizeof(*sa));
	if (ep->addr.family == AF_INET) {
		sa->in.sin_family = AF_INET;
		sa->in.sin_port = htons(ep->port);
		sa->in.sin_addr = ep->addr.v4;
		*ret_len = sizeof(sa->in);
		return 0;
	}
	if (ep->addr.family == AF_INET6) {
		sa->in6.sin6_family = AF_INET6;
		sa->in6.sin6_port = htons(ep->port);
		sa->in6.sin6_addr = ep->addr.v6;
		*ret_len = sizeof(sa->in6);
		return 0;
	}
	return -EINVAL;
}

/* ---- builders ---------------------------------------------------------------------------- */

static struct nlmsghdr *msg_start(void *buf, size_t buflen, uint16_t type, uint16_t flags,
				  uint32_t seq, uint8_t cmd)
{
	struct genlmsghdr *genl;
	struct nlmsghdr *nlh;

	if (buflen < MNL_NLMSG_HDRLEN + GENL_HDRLEN)
		return NULL;
	/* Padding bytes must be deterministic: messages are compared byte for byte in tests. */
	memset(buf, 0, buflen);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = WG_GENL_VERSION;
	return nlh;
}

int wg_nl_build_family_request(void *buf, size_t buflen, uint32_t seq)
{
	struct nlmsghdr *nlh;

	nlh = msg_start(buf, buflen, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq,
			CTRL_CMD_GETFAMILY);
	if (!nlh || !mnl_attr_put_strz_check(nlh, buflen, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME))
		return -EMSGSIZE;
	return nlh->nlmsg_len;
}

int wg_nl_build_get(void *buf, size_t buflen, uint16_t family, uint32_t seq, const char *ifname)
{
	struct nlmsghdr *nlh;

	if (!ifname_valid(ifname))
		return -EINVAL;
	/* GET has only a dumpit in the kernel: without NLM_F_DUMP it is refused (wireguard.md 1.1). */
	nlh = msg_start(buf, buflen, family, NLM_F_REQUEST | NLM_F_DUMP, seq, WG_CMD_GET_DEVICE);
	if (!nlh || !mnl_attr_put_strz_check(nlh, buflen, WGDEVICE_A_IFNAME, ifname))
		return -EMSGSIZE;
	return nlh->nlmsg_len;
}

/* 1 when a device attribute was put, 0 when none is flagged. */
static int put_device(struct nlmsghdr *nlh, size_t limit, const struct wg_device *d)
{
	/*
	 * Only what the change set flags: a different private key expires every session, and a
	 * listen port re-binds even to the same random choice 0 (wireguard.md 1.3). Never
	 * WGDEVICE_F_REPLACE_PEERS: a refresh must keep the sessions of untouched peers.
	 */
	if ((d->flags & WG_DEVICE_HAS_PRIVATE_KEY) &&
	    !mnl_attr_put_check(nlh, limit, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, d->private_key))
		return -EMSGSIZE;
	if ((d->flags & WG_DEVICE_HAS_LISTEN_PORT) &&
	    !mnl_attr_put_u16_check(nlh, limit, WGDEVICE_A_LISTEN_PORT, d->listen_port))
		return -EMSGSIZE;
	if ((d->flags & WG_DEVICE_HAS_FWMARK) &&
	    !mnl_attr_put_u32_check(nlh, limit, WGDEVICE_A_FWMARK, d->fwmark))
		return -EMSGSIZE;
	return (d->flags & WG_NL_DEVICE_ATTRS) ? 1 : 0;
}

/* 1 put, 0 no room, -EINVAL. */
static int put_peer_fields(struct nlmsghdr *nlh, size_t limit, const struct wg_peer *p)
{
	union sockaddr_wg sa;
	size_t salen;
	int r;

	if ((p->flags & WG_PEER_HAS_PRESHARED_KEY) &&
	    !mnl_attr_put_check(nlh, limit, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN, p->preshared_key))
		return 0;
	if (p->flags & WG_PEER_HAS_ENDPOINT) {
		r = endpoint_encode(&p->endpoint, &sa, &salen);
		if (r < 0)
			return r;
		if (!mnl_attr_put_check(nlh, limit, WGPEER_A_ENDPOINT, salen, &sa))
			return 0;
	}
	if ((p->flags & WG_PEER_HAS_KEEPALIVE) &&
	    !mnl_attr_put_u16_check(nlh, limit, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
				    p->keepalive))
		return 0;
	return 1;
}

/* 1 put, 0 no room (nothing left behind), -EINVAL. */
static int put_allowedip(struct nlmsghdr *nlh, size_t limit, const struct ip_prefix *pfx)
{
	const void *ip = &pfx->addr.v6;
	size_t iplen = sizeof(pfx->addr.v6);
	struct nlattr *nest;

	if (!prefix_valid(pfx))
		return -EINVAL;
	if (pfx->addr.family == AF_INET) {
		ip = &pfx->addr.v4;
		iplen = sizeof(pfx->addr.v4);
	}
	/* mnl_attr_nest_start sets NLA_F_NESTED, which strict kernel parsing requires (1.6). */
	nest = mnl_attr_nest_start_check(nlh, limit, 0);
	if (!nest)
		return 0;
	if (!mnl_attr_put_u16_check(nlh, limit, WGALLOWEDIP_A_FAMILY, pfx->addr.family) ||
	    !mnl_attr_put_check(nlh, limit, WGALLOWEDIP_A_IPADDR, iplen, ip) ||
	    !mnl_attr_put_u8_check(nlh, limit, WGALLOWEDIP_A_CIDR_MASK, pfx->len)) {
		mnl_attr_nest_cancel(nlh, nest);
		return 0;
	}
	mnl_attr_nest_end(nlh, nest);
	return 1;
}

enum put_result {
	PUT_DONE,  /* the peer is complete */
	PUT_SPLIT, /* part of its allowed IPs went out; the cursor points at the rest */
	PUT_FULL,  /* nothing of it fits any more; it starts the next message */
};

/*
 * Allowed IPs of p from first on, as many as fit. *ret_next = the first one left out.
 * 1 when some were put, 0 when not even one fits (nothing left behind), -EINVAL.
 */
static int put_allowedips(struct nlmsghdr *nlh, size_t limit, const struct wg_peer *p, size_t first,
			  size_t *ret_next)
{
	struct nlattr *ips;
	size_t i;
	int r = 0;

	ips = mnl_attr_nest_start_check(nlh, limit, WGPEER_A_ALLOWEDIPS);
	if (!ips)
		return 0;
	for (i = first; i < p->n_allowedips; i++) {
		r = put_allowedip(nlh, limit, &p->allowedips[i]);
		if (r <= 0)
			break;
	}
	if (r < 0 || i == first) {
		mnl_attr_nest_cancel(nlh, ips);
		return r;
	}
	mnl_attr_nest_end(nlh, ips);
	*ret_next = i;
	return 1;
}

/* The two-cursor split of wireguard-tools' kernel_set_device, rewritten (wireguard.md 1.5). */
static int put_peer(struct nlmsghdr *nlh, size_t limit, const struct wg_peer *p,
		    struct wg_nl_cursor *c)
{
	bool removing = p->flags & WG_PEER_REMOVE;
	size_t next = 0;
	struct nlattr *nest;
	uint32_t flags = 0;
	int r = PUT_FULL;

	if (p->n_allowedips && !p->allowedips)
		return -EINVAL;
	nest = mnl_attr_nest_start_check(nlh, limit, 0);
	if (!nest)
		return PUT_FULL;
	if (!mnl_attr_put_check(nlh, limit, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, p->public_key))
		goto out_cancel;
	if (removing)
		flags |= WGPEER_F_REMOVE_ME;
	else if (!c->split && (p->flags & WG_PEER_REPLACE_ALLOWEDIPS))
		/* Only in the first fragment, or it would wipe the IPs sent before it. */
		flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
	if (flags && !mnl_attr_put_u32_check(nlh, limit, WGPEER_A_FLAGS, flags))
		goto out_cancel;
	/* A continuation carries only the key and the remaining allowed IPs. */
	if (!removing && !c->split) {
		r = put_peer_fields(nlh, limit, p);
		if (r <= 0)
			goto out_full;
	}
	/* The kernel ignores everything else of a peer it removes. */
	if (removing || !p->n_allowedips) {
		mnl_attr_nest_end(nlh, nest);
		return PUT_DONE;
	}
	/* Not a single allowed IP fits: the fragment goes whole into the next message. */
	r = put_allowedips(nlh, limit, p, c->split ? c->allowedip : 0, &next);
	if (r <= 0)
		goto out_full;
	mnl_attr_nest_end(nlh, nest);
	if (next == p->n_allowedips)
		return PUT_DONE;
	c->split = true;
	c->allowedip = next;
	return PUT_SPLIT;

out_full:
	r = r < 0 ? r : PUT_FULL;
out_cancel:
	mnl_attr_nest_cancel(nlh, nest);
	return r;
}

/* 1 when peers (or a part of one) were put, 0 when none fit, -EINVAL. */
static int put_peers(struct nlmsghdr *nlh, size_t limit, const struct wg_device *d,
		     struct wg_nl_cursor *c)
{
	const struct wg_nl_cursor start = *c;
	struct nlattr *peers;
	int r = PUT_DONE;

	if (c->peer >= d->n_peers)
		return 0;
	peers = mnl_attr_nest_start_check(nlh, limit, WGDEVICE_A_PEERS);
	if (!peers)
		return 0;
	while (c->peer < d->n_peers && r == PUT_DONE) {
		r = put_peer(nlh, limit, &d->peers[c->peer], c);
		if (r < 0)
			return r;
		if (r == PUT_DONE) {
			c->peer++;
			c->split = false;
			c->allowedip = 0;
		}
	}
	if (c->peer == start.peer && c->split == start.split && c->allowedip == start.allowedip) {
		mnl_attr_nest_cancel(nlh, peers);
		return 0;
	}
	mnl_attr_nest_end(nlh, peers);
	return 1;
}

int wg_nl_build_set(const struct wg_device *changes, struct wg_nl_cursor *cur, uint16_t family,
		    uint32_t seq, void *buf, size_t limit)
{
	struct wg_nl_cursor c = *cur;
	struct nlmsghdr *nlh;
	int r, progress = 0;

	if (!ifname_valid(changes->name) || (changes->n_peers && !changes->peers))
		return -EINVAL;
	if (c.started ? c.peer >= changes->n_peers
		      : !changes->n_peers && !(changes->flags & WG_NL_DEVICE_ATTRS))
		return 0;
	nlh = msg_start(buf, limit, family, NLM_F_REQUEST | NLM_F_ACK, seq, WG_CMD_SET_DEVICE);
	if (!nlh || !mnl_attr_put_strz_check(nlh, limit, WGDEVICE_A_IFNAME, changes->name))
		return -EMSGSIZE;
	/* Device attributes only in the first message, like wireguard-tools. */
	if (!c.started) {
		progress = put_device(nlh, limit, changes);
		if (progress < 0)
			return progress;
		c.started = true;
	}
	r = put_peers(nlh, limit, changes, &c);
	if (r < 0)
		return r;
	/* A limit that cannot hold one peer would loop forever. */
	if (!progress && !r)
		return -EMSGSIZE;
	*cur = c;
	return nlh->nlmsg_len;
}

/* ---- reply parsers ----------------------------------------------------------------------- */

/* MNL_TYPE_UNSPEC entries are skipped: attributes of newer kernels than this code knows. */
struct nl_policy {
	enum mnl_attr_data_type type;
	uint16_t len; /* BINARY: exact payload length (0 = checked later); NUL_STRING: max */
};

struct tb_ctx {
	const struct nl_policy *policy;
	unsigned int max;
	const struct nlattr **tb;
};

static const struct nl_policy ctrl_policy[CTRL_ATTR_MAX + 1] = {
	[CTRL_ATTR_FAMILY_ID] = {MNL_TYPE_U16, 0},
	[CTRL_ATTR_FAMILY_NAME] = {MNL_TYPE_NUL_STRING, GENL_NAMSIZ},
};

static const struct nl_policy device_policy[WGDEVICE_A_MAX + 1] = {
	[WGDEVICE_A_IFINDEX] = {MNL_TYPE_U32, 0},
	[WGDEVICE_A_IFNAME] = {MNL_TYPE_NUL_STRING, IFNAMSIZ},
	[WGDEVICE_A_PRIVATE_KEY] = {MNL_TYPE_BINARY, WG_KEY_LEN},
	[WGDEVICE_A_PUBLIC_KEY] = {MNL_TYPE_BINARY, WG_KEY_LEN},
	[WGDEVICE_A_FLAGS] = {MNL_TYPE_U32, 0},
	[WGDEVICE_A_LISTEN_PORT] = {MNL_TYPE_U16, 0},
	[WGDEVICE_A_FWMARK] = {MNL_TYPE_U32, 0},
	[WGDEVICE_A_PEERS] = {MNL_TYPE_NESTED, 0},
};

static const struct nl_policy peer_policy[WGPEER_A_MAX + 1] = {
	[WGPEER_A_PUBLIC_KEY] = {MNL_TYPE_BINARY, WG_KEY_LEN},
	[WGPEER_A_PRESHARED_KEY] = {MNL_TYPE_BINARY, WG_KEY_LEN},
	[WGPEER_A_FLAGS] = {MNL_TYPE_U32, 0},
	[WGPEER_A_ENDPOINT] = {MNL_TYPE_BINARY, 0},
	[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL] = {MNL_TYPE_U16, 0},
	/* struct __kernel_timespec, 16 bytes even on 32-bit userspace (wireguard.md 1.2). */
	[WGPEER_A_LAST_HANDSHAKE_TIME] = {MNL_TYPE_BINARY, sizeof(struct __kernel_timespec)},
	[WGPEER_A_RX_BYTES] = {MNL_TYPE_U64, 0},
	[WGPEER_A_TX_BYTES] = {MNL_TYPE_U64, 0},
	[WGPEER_A_ALLOWEDIPS] = {MNL_TYPE_NESTED, 0},
	[WGPEER_A_PROTOCOL_VERSION] = {MNL_TYPE_U32, 0},
};

static const struct nl_policy allowedip_policy[WGALLOWEDIP_A_MAX + 1] = {
	[WGALLOWEDIP_A_FAMILY] = {MNL_TYPE_U16, 0},
	[WGALLOWEDIP_A_IPADDR] = {MNL_TYPE_BINARY, 0},
	[WGALLOWEDIP_A_CIDR_MASK] = {MNL_TYPE_U8, 0},
};

static int tb_store(const struct nlattr *a, void *data)
{
	const struct tb_ctx *t = data;
	uint16_t type = mnl_attr_get_type(a);
	const struct nl_policy *p;

	/* Type 0 is the padding nla_put_u64_64bit() puts before u64s (wireguard.md 1.2). */
	if (!type || type > t->max || t->policy[type].type == MNL_TYPE_UNSPEC)
		return 0;
	p = &t->policy[type];
	if (p->type == MNL_TYPE_BINARY) {
		if (p->len && mnl_attr_get_payload_len(a) != p->len)
			return -EINVAL;
	} else if (mnl_attr_validate(a, p->type) < 0) {
		return -EINVAL;
	} else if (p->type == MNL_TYPE_NUL_STRING && mnl_attr_get_payload_len(a) > p->len) {
		return -EINVAL;
	}
	t->tb[type] = a;
	return 0;
}

static int tb_parse(const void *payload, size_t len, const struct nl_policy *policy,
		    unsigned int max, const struct nlattr **tb)
{
	struct tb_ctx t = {.policy = policy, .max = max, .tb = tb};

	return nl_attr_walk(payload, len, tb_store, &t);
}

static int tb_parse_nested(const struct nlattr *nest, const struct nl_policy *policy,
			   unsigned int max, const struct nlattr **tb)
{
	if (mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0)
		return -EINVAL;
	return tb_parse(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), policy, max,
			tb);
}

static int parse_allowedip(const struct nlattr *elem, void *data)
{
	const struct nlattr *tb[WGALLOWEDIP_A_MAX + 1] = {NULL};
	struct wg_peer *p = data;
	struct ip_prefix pfx;
	size_t len;
	int r;

	/* An empty element carries nothing (a stray pad attribute). */
	if (!mnl_attr_get_payload_len(elem))
		return 0;
	r = tb_parse_nested(elem, allowedip_policy, WGALLOWEDIP_A_MAX, tb);
	if (r < 0)
		return r;
	if (!tb[WGALLOWEDIP_A_FAMILY] || !tb[WGALLOWEDIP_A_IPADDR] || !tb[WGALLOWEDIP_A_CIDR_MASK])
		return -EINVAL;
	memset(&pfx, 0, sizeof(pfx));
	pfx.addr.family = mnl_attr_get_u16(tb[WGALLOWEDIP_A_FAMILY]);
	pfx.len = mnl_attr_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
	len = mnl_attr_get_payload_len(tb[WGALLOWEDIP_A_IPADDR]);
	if (!prefix_valid(&pfx) ||
	    len != (pfx.addr.family == AF_INET ? sizeof(pfx.addr.v4) : sizeof(pfx.addr.v6)))
		return -EINVAL;
	memcpy(&pfx.addr.v6, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), len);
	if (p->n_allowedips >= WG_NL_ALLOWEDIPS_MAX)
		return -E2BIG;
	return wg_peer_add_allowedip(p, &pfx);
}

static int endpoint_decode(const struct nlattr *a, struct wg_endpoint *ret)
{
	size_t len = mnl_attr_get_payload_len(a);
	struct wg_endpoint ep;
	union sockaddr_wg sa;

	if (len != sizeof(sa.in) && len != sizeof(sa.in6))
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	memcpy(&sa, mnl_attr_get_payload(a), len);
	memset(&ep, 0, sizeof(ep));
	if (sa.in.sin_family == AF_INET && len == sizeof(sa.in)) {
		ep.addr.family = AF_INET;
		ep.addr.v4 = sa.in.sin_addr;
		ep.port = ntohs(sa.in.sin_port);
	} else if (sa.in6.sin6_family == AF_INET6 && len == sizeof(sa.in6)) {
		ep.addr.family = AF_INET6;
		ep.addr.v6 = sa.in6.sin6_addr;
		ep.port = ntohs(sa.in6.sin6_port);
	} else {
		return -EINVAL;
	}
	*ret = ep;
	return 0;
}

/* Fields of one peer element; a repeated peer overwrites with what it carries again. */
static int peer_apply(struct wg_peer *p, const struct nlattr **tb)
{
	struct __kernel_timespec ts;
	int r;

	if (tb[WGPEER_A_PRESHARED_KEY]) {
		/* GET always returns a PSK; all zero means none (wireguard.md 1.2). */
		memcpy(p->preshared_key, mnl_attr_get_payload(tb[WGPEER_A_PRESHARED_KEY]),
		       WG_KEY_LEN);
		p->flags &= ~WG_PEER_HAS_PRESHARED_KEY;
		if (!sodium_is_zero(p->preshared_key, WG_KEY_LEN))
			p->flags |= WG_PEER_HAS_PRESHARED_KEY;
	}
	if (tb[WGPEER_A_ENDPOINT]) {
		r = endpoint_decode(tb[WGPEER_A_ENDPOINT], &p->endpoint);
		if (r < 0)
			return r;
		p->flags |= WG_PEER_HAS_ENDPOINT;
	}
	if (tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]) {
		p->keepalive = mnl_attr_get_u16(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
		p->flags |= WG_PEER_HAS_KEEPALIVE;
	}
	if (tb[WGPEER_A_LAST_HANDSHAKE_TIME]) {
		memcpy(&ts, mnl_attr_get_payload(tb[WGPEER_A_LAST_HANDSHAKE_TIME]), sizeof(ts));
		p->last_handshake_sec = ts.tv_sec;
		p->last_handshake_nsec = ts.tv_nsec;
	}
	if (tb[WGPEER_A_RX_BYTES])
		p->rx_bytes = mnl_attr_get_u64(tb[WGPEER_A_RX_BYTES]);
	if (tb[WGPEER_A_TX_BYTES])
		p->tx_bytes = mnl_attr_get_u64(tb[WGPEER_A_TX_BYTES]);
	return 0;
}

static int parse_peer(const struct nlattr *elem, void *data)
{
	const struct nlattr *tb[WGPEER_A_MAX + 1] = {NULL};
	struct wg_device *d = data;
	const uint8_t *key;
	struct wg_peer *p;
	int r;

	if (!mnl_attr_get_payload_len(elem))
		return 0;
	r = tb_parse_nested(elem, peer_policy, WGPEER_A_MAX, tb);
	if (r < 0)
		return r;
	if (!tb[WGPEER_A_PUBLIC_KEY])
		return -EINVAL;
	key = mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]);
	/*
	 * A peer whose allowed IPs overflow a dump message is repeated at the start of the next
	 * one with its key and the remaining IPs (wireguard.md 1.4): coalesce adjacent repeats.
	 */
	if (d->n_peers && !memcmp(d->peers[d->n_peers - 1].public_key, key, WG_KEY_LEN)) {
		p = &d->peers[d->n_peers - 1];
	} else {
		if (d->n_peers >= WG_NL_PEERS_MAX)
			return -E2BIG;
		r = wg_device_add_peer(d, &p);
		if (r < 0)
			return r;
		memcpy(p->public_key, key, WG_KEY_LEN);
	}
	r = peer_apply(p, tb);
	if (r < 0 || !tb[WGPEER_A_ALLOWEDIPS])
		return r;
	return nl_attr_walk(mnl_attr_get_payload(tb[WGPEER_A_ALLOWEDIPS]),
			    mnl_attr_get_payload_len(tb[WGPEER_A_ALLOWEDIPS]), parse_allowedip, p);
}

static int parse_device(struct wg_device *d, const void *attrs, size_t len)
{
	const struct nlattr *tb[WGDEVICE_A_MAX + 1] = {NULL};
	const struct nlattr *a;
	int r;

	r = tb_parse(attrs, len, device_policy, WGDEVICE_A_MAX, tb);
	if (r < 0)
		return r;
	/* Repeated when the first peer is split (wireguard.md 1.4): plain overwrites. */
	a = tb[WGDEVICE_A_IFNAME];
	if (a) {
		memset(d->name, 0, sizeof(d->name));
		memcpy(d->name, mnl_attr_get_str(a), strnlen(mnl_attr_get_str(a), IFNAMSIZ - 1));
	}
	if (tb[WGDEVICE_A_PRIVATE_KEY]) {
		memcpy(d->private_key, mnl_attr_get_payload(tb[WGDEVICE_A_PRIVATE_KEY]),
		       WG_KEY_LEN);
		d->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
	}
	if (tb[WGDEVICE_A_PUBLIC_KEY])
		memcpy(d->public_key, mnl_attr_get_payload(tb[WGDEVICE_A_PUBLIC_KEY]), WG_KEY_LEN);
	if (tb[WGDEVICE_A_LISTEN_PORT]) {
		d->listen_port = mnl_attr_get_u16(tb[WGDEVICE_A_LISTEN_PORT]);
		d->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	}
	if (tb[WGDEVICE_A_FWMARK]) {
		d->fwmark = mnl_attr_get_u32(tb[WGDEVICE_A_FWMARK]);
		d->flags |= WG_DEVICE_HAS_FWMARK;
	}
	a = tb[WGDEVICE_A_PEERS];
	if (!a)
		return 0;
	return nl_attr_walk(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a), parse_peer, d);
}

static const struct genlmsghdr *genl_header(const struct nlmsghdr *nlh)
{
	if (mnl_nlmsg_get_payload_len(nlh) < GENL_HDRLEN)
		return NULL;
	return mnl_nlmsg_get_payload(nlh);
}

static int cb_family(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1] = {NULL};
	const struct genlmsghdr *genl = genl_header(nlh);
	struct nl_reply *nr = data;
	struct wg_nl_reply *r = nr->data;
	int ret;

	if (nlh->nlmsg_type != GENL_ID_CTRL || !genl || genl->cmd != CTRL_CMD_NEWFAMILY)
		return nl_fail(nr, -EINVAL);
	ret = tb_parse((const char *)genl + GENL_HDRLEN,
		       mnl_nlmsg_get_payload_len(nlh) - GENL_HDRLEN, ctrl_policy, CTRL_ATTR_MAX,
		       tb);
	if (ret < 0)
		return nl_fail(nr, ret);
	if (!tb[CTRL_ATTR_FAMILY_ID] || !tb[CTRL_ATTR_FAMILY_NAME] ||
	    strcmp(mnl_attr_get_str(tb[CTRL_ATTR_FAMILY_NAME]), WG_GENL_NAME) ||
	    mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]) < NLMSG_MIN_TYPE)
		return nl_fail(nr, -EINVAL);
	r->family = mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	return MNL_CB_OK;
}

static int cb_dump(const struct nlmsghdr *nlh, void *data)
{
	const struct genlmsghdr *genl = genl_header(nlh);
	struct nl_reply *nr = data;
	struct wg_nl_reply *r = nr->data;
	int ret;

	if (!r->dev || nlh->nlmsg_type != r->family || !genl || genl->cmd != WG_CMD_GET_DEVICE)
		return nl_fail(nr, -EINVAL);
	ret = parse_device(r->dev, (const char *)genl + GENL_HDRLEN,
			   mnl_nlmsg_get_payload_len(nlh) - GENL_HDRLEN);
	if (ret < 0)
		return nl_fail(nr, ret);
	return MNL_CB_OK;
}

static int feed(struct wg_nl_reply *r, const void *buf, size_t len, mnl_cb_t cb)
{
	struct nl_reply nr = {.seq = r->seq, .portid = r->portid, .data = r};

	return nl_feed(&nr, buf, len, cb);
}

/* The reply to a family request is complete only with the id in it. */
static int family_found(const struct wg_nl_reply *r, int ret)
{
	return !ret && !r->family ? -EINVAL : ret;
}

int wg_nl_feed_family(struct wg_nl_reply *r, const void *buf, size_t len)
{
	return family_found(r, feed(r, buf, len, cb_family));
}

int wg_nl_feed_ack(struct wg_nl_reply *r, const void *buf, size_t len)
{
	return feed(r, buf, len, NULL);
}

int wg_nl_feed_dump(struct wg_nl_reply *r, const void *buf, size_t len)
{
	return feed(r, buf, len, cb_dump);
}

/* ---- socket layer ------------------------------------------------------------------------ */

struct wg_sock {
	struct nl_sock nl;
	uint16_t family;
};

static int request(struct wg_sock *s, const void *msg, size_t len, mnl_cb_t cb,
		   struct wg_nl_reply *r)
{
	struct nl_reply nr = {.data = r};

	return nl_request(&s->nl, msg, len, cb, &nr);
}

/* Opens, binds and resolves the family id, as wireguard-tools' mnlg_socket_open does. */
static int sock_open(struct wg_sock *s)
{
	struct wg_nl_reply r = {0};
	uint8_t msg[64];
	int ret;

	ret = nl_open(&s->nl, NETLINK_GENERIC);
	if (ret < 0)
		return ret;
	ret = wg_nl_build_family_request(msg, sizeof(msg), ++s->nl.seq);
	if (ret > 0)
		ret = family_found(&r, request(s, msg, ret, cb_family, &r));
	/* genetlink says ENOENT when no module provides the family; wg(8) maps it the same. */
	if (ret == -ENOENT)
		ret = -EPROTONOSUPPORT;
	if (ret < 0) {
		nl_close(&s->nl);
		return ret;
	}
	s->family = r.family;
	return 0;
}

int wg_nl_resolve_family(uint16_t *ret_family)
{
	struct wg_sock s;
	int r;

	r = sock_open(&s);
	if (r < 0)
		return r;
	*ret_family = s.family;
	nl_close(&s.nl);
	return 0;
}

static int get_once(const char *ifname, struct wg_device **ret_dev)
{
	struct wg_nl_reply r = {0};
	uint8_t msg[64];
	struct wg_device *d;
	struct wg_sock s;
	int ret;

	d = wg_device_new(ifname);
	if (!d)
		return -ENOMEM;
	/* A fresh socket per attempt: an interrupted dump still has parts in flight. */
	ret = sock_open(&s);
	if (ret < 0)
		goto out_free;
	ret = wg_nl_build_get(msg, sizeof(msg), s.family, ++s.nl.seq, ifname);
	r.family = s.family;
	r.dev = d;
	if (ret > 0)
		ret = request(&s, msg, ret, cb_dump, &r);
	nl_close(&s.nl);
	if (ret < 0)
		goto out_free;
	*ret_dev = d;
	return 0;

out_free:
	wg_device_free(d);
	return ret;
}

static int kernel_get(const char *ifname, struct wg_device **ret)
{
	struct wg_device *d = NULL;
	int r, tries;

	if (!ifname_valid(ifname))
		return -EINVAL;
	for (tries = 1;; tries++) {
		r = get_once(ifname, &d);
		if (r != -EINTR || tries == NL_DUMP_TRIES)
			break;
		log_debug("wg-netlink: dump of %s changed meanwhile, restarting", ifname);
	}
	if (r < 0)
		return r;
	wg_device_normalize(d);
	*ret = d;
	return 0;
}

/* Everything the builder could reject, checked before the first message changes anything. */
static int changes_validate(const struct wg_device *c)
{
	union sockaddr_wg sa;
	size_t i, j, salen;
	int r;

	if (!ifname_valid(c->name) || (c->n_peers && !c->peers))
		return -EINVAL;
	for (i = 0; i < c->n_peers; i++) {
		const struct wg_peer *p = &c->peers[i];

		if (p->flags & WG_PEER_REMOVE)
			continue;
		if (p->flags & WG_PEER_HAS_ENDPOINT) {
			r = endpoint_encode(&p->endpoint, &sa, &salen);
			if (r < 0)
				return r;
		}
		if (p->n_allowedips && !p->allowedips)
			return -EINVAL;
		for (j = 0; j < p->n_allowedips; j++)
			if (!prefix_valid(&p->allowedips[j]))
				return -EINVAL;
	}
	return 0;
}

static int kernel_set(const struct wg_device *changes)
{
	struct wg_nl_cursor cur = {0};
	uint8_t msg[WG_NL_MSG_MAX];
	struct wg_nl_reply r;
	struct wg_sock s;
	unsigned int n = 0;
	int ret;

	if (!changes->n_peers && !(changes->flags & WG_NL_DEVICE_ATTRS))
		return 0;
	ret = changes_validate(changes);
	if (ret < 0)
		return ret;
	ret = sock_open(&s);
	if (ret < 0)
		return ret;
	/*
	 * One message at a time, each acknowledged before the next: the kernel has no rollback,
	 * so an error stops here with the earlier messages applied (wireguard.md 1.3, 1.5).
	 */
	for (;;) {
		ret = wg_nl_build_set(changes, &cur, s.family, ++s.nl.seq, msg, sizeof(msg));
		if (ret <= 0)
			break;
		memset(&r, 0, sizeof(r));
		ret = request(&s, msg, ret, NULL, &r);
		if (ret < 0)
			break;
		n++;
	}
	log_debug("wg-netlink: %u SET message(s) for %zu peer change(s) on %s", n, changes->n_peers,
		  changes->name);
	sodium_memzero(msg, sizeof(msg));
	nl_close(&s.nl);
	return ret;
}

static int kernel_owns(const char *ifname)
{
	char kind[32];
	int r;

	r = link_get_kind(ifname, kind, sizeof(kind));
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	return !strcmp(kind, "wireguard");
}

static int kernel_create(const struct config *cfg)
{
	int r;

	r = link_create_wireguard(cfg->interface);
	/* An existing device is reconciled, not recreated: its sessions survive. */
	return r == -EEXIST ? 0 : r;
}

static int kernel_destroy(const char *ifname)
{
	return link_delete(ifname);
}

const struct wg_backend wg_backend_kernel = {
	.name = "kernel",
	.owns = kernel_owns,
	.create = kernel_create,
	.get = kernel_get,
	.set = kernel_set,
	.destroy = kernel_destroy,
};

/*
 * The one netlink request layer under link.c (rtnetlink) and wg-netlink.c (generic netlink):
 * a socket opened with the same options, a request sent and its replies collected until the
 * ACK or NLMSG_DONE, the kernel's errno and extended ACK text returned or logged.
 */
#ifndef CLIQUE_NETLINK_H
#define CLIQUE_NETLINK_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

/*
 * One constant recv size, larger than MNL_SOCKET_BUFFER_SIZE: the kernel sizes later dump skbs
 * to the largest recv seen, so a smaller later recv gets MSG_TRUNC (net/netlink/af_netlink.c,
 * netlink_recvmsg: nlk->max_recvmsg_len).
 */
#define NL_RECV_SIZE 32768

/* How often a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is restarted. */
#define NL_DUMP_TRIES 5

struct nl_sock {
	struct mnl_socket *nl;
	uint8_t *buf; /* NL_RECV_SIZE; wiped on close, it may have held a private key */
	uint32_t portid;
	uint32_t seq; /* of the last request; take ++seq for the next */
};

/* State of the reply stream of one request. */
struct nl_reply {
	uint32_t seq;	 /* of the request; 0 = not checked */
	uint32_t portid; /* ours; 0 = not checked */
	int error;	 /* set through nl_fail(), or the kernel's errno */
	void *data;	 /* the caller's, for its data callback */
};

/*
 * Opens and binds a socket of bus (NETLINK_ROUTE, NETLINK_GENERIC) with NETLINK_CAP_ACK and
 * NETLINK_EXT_ACK where the kernel has them, and a receive timeout against a wedged socket.
 */
int nl_open(struct nl_sock *s, int bus);
void nl_close(struct nl_sock *s);

/*
 * Feeds one received datagram to cb (which gets the struct nl_reply as data; cb may be NULL
 * for a plain ACK). Returns 1 when more is expected, 0 when the reply is complete, -errno from
 * the kernel (NLMSG_ERROR, NLMSG_DONE's error), -EINVAL for a malformed reply, the error a
 * callback set with nl_fail(), or -EINTR for NLM_F_DUMP_INTR: restart the whole dump on a new
 * socket.
 */
int nl_feed(struct nl_reply *r, const void *buf, size_t len, mnl_cb_t cb);
/* For a data callback: records error (-errno) and returns MNL_CB_ERROR. */
int nl_fail(struct nl_reply *r, int error);

/* Sends msg and feeds the replies to cb until the reply is complete; 0 or -errno as nl_feed. */
int nl_request(struct nl_sock *s, const void *msg, size_t len, mnl_cb_t cb, struct nl_reply *r);

/* Calls cb for every attribute of payload; unlike mnl_attr_parse, junk at the end is an error. */
int nl_attr_walk(const void *payload, size_t len, int (*cb)(const struct nlattr *, void *),
		 void *data);

#endif

/* The netlink request layer shared by link.c and wg-netlink.c, through libmnl. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>

#include <sodium.h>

#include "log.h"
#include "netlink.h"

/* A kernel always answers a request; this only guards against a wedged socket. */
#define NL_TIMEOUT_SEC 10

int nl_open(struct nl_sock *s, int bus)
{
	struct timeval tv = {.tv_sec = NL_TIMEOUT_SEC};
	int one = 1, r;

	memset(s, 0, sizeof(*s));
	s->nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!s->nl)
		return -errno;
	/*
	 * CAP_ACK: an error ACK would otherwise echo the whole request, and a request as large as
	 * the recv buffer turns the real errno into ENOSPC (af_netlink.c netlink_ack). Best effort
	 * only: before Linux 4.3 the echo of our largest request (4 KiB) still fits NL_RECV_SIZE.
	 * EXT_ACK (Linux 4.12) adds the kernel's reason text to an error ACK.
	 */
	(void)mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out_close;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL);
	s->buf = malloc(NL_RECV_SIZE);
	if (!s->buf) {
		r = -ENOMEM;
		goto out_close;
	}
	return 0;

out_close:
	nl_close(s);
	return r;
}

void nl_close(struct nl_sock *s)
{
	if (s->buf)
		sodium_memzero(s->buf, NL_RECV_SIZE);
	free(s->buf);
	s->buf = NULL;
	if (s->nl)
		mnl_socket_close(s->nl);
	s->nl = NULL;
}

int nl_attr_walk(const void *payload, size_t len, int (*cb)(const struct nlattr *, void *),
		 void *data)
{
	const struct nlattr *a = payload;
	int rem, r;

	if (len > INT_MAX)
		return -EINVAL;
	rem = len;
	while (mnl_attr_ok(a, rem)) {
		r = cb(a, data);
		if (r < 0)
			return r;
		rem -= MNL_ALIGN(a->nla_len);
		a = mnl_attr_next(a);
	}
	return rem > 0 ? -EINVAL : 0;
}

int nl_fail(struct nl_reply *r, int error)
{
	r->error = error;
	return MNL_CB_ERROR;
}

/* Kernel errors arrive negative; accept either sign, but only plausible errno values. */
static int kernel_errno(int e)
{
	if (e > 0)
		e = -e;
	return e < -4095 ? -EINVAL : e;
}

static int extack_msg(const struct nlattr *a, void *data)
{
	const char **msg = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*msg = mnl_attr_get_str(a);
	return 0;
}

/* The kernel's NETLINK_EXT_ACK text ("NLA_F_NESTED is missing" ...), for --debug. */
static void log_extack(const struct nlmsghdr *nlh)
{
	size_t off = sizeof(struct nlmsgerr), len = mnl_nlmsg_get_payload_len(nlh);
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const char *msg = NULL;
	char q[128];

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || len < off)
		return;
	/* Without NETLINK_CAP_ACK the whole request is echoed before the TLVs. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (err->msg.nlmsg_len < sizeof(struct nlmsghdr))
			return;
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	off = MNL_ALIGN(off);
	if (off >= len)
		return;
	if (nl_attr_walk((const char *)err + off, len - off, extack_msg, &msg) < 0 || !msg)
		return;
	log_debug("netlink: kernel says '%s'", log_quote(q, sizeof(q), msg, strlen(msg)));
}

static int cb_error(const struct nlmsghdr *nlh, void *data)
{
	struct nl_reply *r = data;
	int e;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(e))
		return nl_fail(r, -EINVAL);
	memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
	if (!e)
		return MNL_CB_STOP;
	log_extack(nlh);
	return nl_fail(r, kernel_errno(e));
}

/* libmnl's default NLMSG_DONE callback ignores the error the kernel puts there. */
static int cb_done(const struct nlmsghdr *nlh, void *data)
{
	struct nl_reply *r = data;
	int e;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(e))
		return MNL_CB_STOP;
	memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
	if (!e)
		return MNL_CB_STOP;
	return nl_fail(r, kernel_errno(e));
}

/*
 * mnl_cb_run2 stops silently at a truncated message, and mnl_nlmsg_ok casts nlmsg_len to int so
 * a length >= 2^31 passes it: check here that the datagram holds whole, sane messages.
 * NLM_F_DUMP_INTR: the object changed during the dump, whose parts are then inconsistent: the
 * caller restarts the whole dump (wireguard-tools ipc-linux.h kernel_get_device).
 */
static int check_datagram(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	size_t rem = len, step;

	if (!len || len > INT_MAX)
		return -EINVAL;
	while (rem >= sizeof(*nlh)) {
		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > rem)
			return -EINVAL;
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			return -EINTR;
		step = MNL_ALIGN(nlh->nlmsg_len);
		if (step >= rem)
			return 0;
		rem -= step;
		nlh = (const struct nlmsghdr *)((const char *)nlh + step);
	}
	return rem ? -EINVAL : 0;
}

int nl_feed(struct nl_reply *r, const void *buf, size_t len, mnl_cb_t cb)
{
	/* Not const: libmnl 1.0.4's mnl_cb_run2 takes a non-const array. */
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = cb_error,
		[NLMSG_DONE] = cb_done,
	};
	int ret;

	ret = check_datagram(buf, len);
	if (ret < 0)
		return ret;
	r->error = 0;
	errno = 0;
	ret = mnl_cb_run2(buf, len, r->seq, r->portid, cb, r, ctl, MNL_ARRAY_SIZE(ctl));
	if (ret >= 0)
		return ret == MNL_CB_STOP ? 0 : 1;
	if (r->error)
		return r->error;
	/* libmnl's own checks: ESRCH (port id), EPROTO (sequence number). */
	return errno ? -errno : -EINVAL;
}

int nl_request(struct nl_sock *s, const void *msg, size_t len, mnl_cb_t cb, struct nl_reply *r)
{
	ssize_t n;
	int ret;

	r->seq = ((const struct nlmsghdr *)msg)->nlmsg_seq;
	r->portid = s->portid;
	n = mnl_socket_sendto(s->nl, msg, len);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO;
	do {
		n = mnl_socket_recvfrom(s->nl, s->buf, NL_RECV_SIZE);
		if (n < 0) {
			/* A signal, not NLM_F_DUMP_INTR: just receive again. */
			if (errno == EINTR) {
				ret = 1;
				continue;
			}
			/* ENOSPC = MSG_TRUNC; EAGAIN = SO_RCVTIMEO. */
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		ret = nl_feed(r, s->buf, n, cb);
	} while (ret > 0);
	return ret;
}

/*
 * Kernel WireGuard over generic netlink (shared/reference/wireguard.md 1): the pure message
 * builders and reply parsers behind wg_backend_kernel, exported for unit tests and fuzzing.
 * Nothing here does I/O except wg_nl_resolve_family().
 */
#ifndef CLIQUE_WG_NETLINK_H
#define CLIQUE_WG_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wg_device;

/* Every SET message fits wireguard-tools' min(pagesize, 8192), 4096 on x86_64 (wireguard.md 1.5). */
#define WG_NL_MSG_MAX 4096

/* CTRL_CMD_GETFAMILY "wireguard"; returns the message length or -EMSGSIZE. */
int wg_nl_build_family_request(void *buf, size_t buflen, uint32_t seq);
/* WG_CMD_GET_DEVICE dump for ifname; returns the length, -EINVAL (ifname) or -EMSGSIZE. */
int wg_nl_build_get(void *buf, size_t buflen, uint16_t family, uint32_t seq, const char *ifname);

/* Where the next SET message resumes; start from an all-zero cursor. */
struct wg_nl_cursor {
	size_t peer;	  /* next peer of the change set */
	size_t allowedip; /* next allowed IP of that peer when it was split */
	bool split;	  /* the peer continues: public key (+REMOVE_ME) and allowed IPs only */
	bool started;	  /* the first message, the only one with device attributes, is built */
};

/*
 * Builds the next WG_CMD_SET_DEVICE message of a wg_diff() change set into buf, at most limit
 * bytes, and advances *cur (only on success). Returns the message length, 0 when nothing is
 * left to send, -EINVAL for an invalid change set, -EMSGSIZE when limit cannot hold one peer.
 */
int wg_nl_build_set(const struct wg_device *changes, struct wg_nl_cursor *cur, uint16_t family,
		    uint32_t seq, void *buf, size_t limit);

/* State of the reply stream of one request. */
struct wg_nl_reply {
	uint32_t seq;	       /* of the request; 0 = not checked */
	uint32_t portid;       /* ours; 0 = not checked */
	uint16_t family;       /* dump: expected nlmsg_type; family lookup: the id found */
	struct wg_device *dev; /* dump: borrowed, receives device and peers */
};

/*
 * Feed one received datagram. Each returns 1 when more is expected, 0 when the reply is
 * complete, -errno from the kernel (NLMSG_ERROR, NLMSG_DONE's error) or -EINVAL for a malformed
 * reply. wg_nl_feed_dump returns -EINTR for NLM_F_DUMP_INTR: restart the whole GET.
 */
int wg_nl_feed_family(struct wg_nl_reply *r, const void *buf, size_t len);
int wg_nl_feed_ack(struct wg_nl_reply *r, const void *buf, size_t len);
int wg_nl_feed_dump(struct wg_nl_reply *r, const void *buf, size_t len);

/* Opens a genetlink socket and looks the family up; -EPROTONOSUPPORT = kernel has no WireGuard. */
int wg_nl_resolve_family(uint16_t *ret_family);

#endif

/*
 * WireGuard device model shared by both backends, normalisation and the pure diff
 * (shared/DESIGN.md 6; shared/reference/wireguard.md 1.3, 6).
 */
#ifndef CLIQUE_WG_H
#define CLIQUE_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct config;

#define WG_KEY_LEN 32

struct wg_endpoint {
	struct ip_addr addr; /* family 0 = no endpoint */
	uint16_t port;
};

enum wg_peer_flags {
	WG_PEER_HAS_PRESHARED_KEY = 1 << 0,
	WG_PEER_HAS_ENDPOINT = 1 << 1,
	WG_PEER_HAS_KEEPALIVE = 1 << 2,
	WG_PEER_REPLACE_ALLOWEDIPS = 1 << 3,
	WG_PEER_REMOVE = 1 << 4,
};

struct wg_peer {
	uint8_t public_key[WG_KEY_LEN];
	uint8_t preshared_key[WG_KEY_LEN]; /* all zero = none */
	struct wg_endpoint endpoint;
	uint16_t keepalive; /* seconds, 0 = off */
	struct ip_prefix *allowedips;
	size_t n_allowedips;
	/* In a desired device: which fields are meaningful. In a change set: what to send. */
	unsigned flags;
	/* Read from a live device only. */
	int64_t last_handshake_sec;
	int64_t last_handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
};

enum wg_device_flags {
	WG_DEVICE_HAS_PRIVATE_KEY = 1 << 0,
	WG_DEVICE_HAS_LISTEN_PORT = 1 << 1,
	WG_DEVICE_HAS_FWMARK = 1 << 2,
};

struct wg_device {
	char name[16];
	unsigned flags;
	uint8_t private_key[WG_KEY_LEN]; /* always clamped */
	uint8_t public_key[WG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark;
	struct wg_peer *peers;
	size_t n_peers, cap_peers;
};

/* NULL on -ENOMEM. */
struct wg_device *wg_device_new(const char *name);
/* Appends a zeroed peer; the pointer is valid until the next add. */
int wg_device_add_peer(struct wg_device *d, struct wg_peer **ret);
int wg_peer_add_allowedip(struct wg_peer *p, const struct ip_prefix *pfx);
/* Wipes keys; NULL is a no-op. */
void wg_device_free(struct wg_device *d);
/* Canonical form: allowed IPs masked, sorted and unique; peers sorted by public key. */
void wg_device_normalize(struct wg_device *d);
struct wg_peer *wg_device_find_peer(const struct wg_device *d, const uint8_t key[WG_KEY_LEN]);

/*
 * Pure diff of two normalised devices (sort + merge, O(n log n)). The change set holds:
 * the private key only when its clamped value differs, the listen port only when it differs,
 * peers to remove (WG_PEER_REMOVE), new peers (all fields), and changed peers with only the
 * changed fields flagged (WG_PEER_REPLACE_ALLOWEDIPS only when the allowed IPs differ). A live
 * endpoint of a peer we give no endpoint is not a difference. Never sets replace-peers.
 * *ret_changes has n_peers == 0 and flags == 0 when nothing is to be done.
 */
int wg_diff(const struct wg_device *live, const struct wg_device *want,
	    struct wg_device **ret_changes);
bool wg_device_is_noop(const struct wg_device *changes);

/* The two seams of STYLE.md 12: kernel genetlink and the userspace UAPI socket. */
struct wg_backend {
	const char *name;
	/* 1 when ifname exists and is driven by this backend, 0 when not, -errno on error. */
	int (*owns)(const char *ifname);
	/* Creates the device: kernel RTM_NEWLINK kind wireguard (-EOPNOTSUPP without the module);
	 * userspace: starts cfg->userspace_command and waits for its socket. */
	int (*create)(const struct config *cfg);
	int (*get)(const char *ifname, struct wg_device **ret);
	/* Applies a change set from wg_diff(). */
	int (*set)(const struct wg_device *changes);
	int (*destroy)(const char *ifname);
};

extern const struct wg_backend wg_backend_uapi, wg_backend_kernel;

/*
 * backend = auto: UAPI when a daemon already owns the interface, else the kernel when it has
 * WireGuard (tries to create the link), else starts cfg->userspace_command when it is
 * installed. Creates the device when missing. -EOPNOTSUPP = kernel has no WireGuard and no
 * userspace implementation was found. ret_created tells whether a device was created now.
 */
int wg_backend_open(const struct config *cfg, const struct wg_backend **ret, bool *ret_created);

#endif

/* Desired mesh state from the own record and the peers' records: pure (DESIGN.md 5). */
#ifndef CLIQUE_MESH_H
#define CLIQUE_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "record.h"

struct config;
struct md_instance;
struct wg_device;

enum mesh_path {
	MESH_PATH_NONE, /* no endpoint: the peer will reach us */
	MESH_PATH_LAN,
	MESH_PATH_WAN,
	MESH_PATH_WAN6,
};

struct mesh_input {
	char object[RECORD_OBJECT_MAX];
	struct record rec;
	time_t last_modified; /* bucket LastModified (server clock) */
};

struct mesh_peer {
	char object[RECORD_OBJECT_MAX];
	struct record rec;
	uint8_t psk[32];
	enum mesh_path path;
	struct ip_addr endpoint; /* family 0 when path == MESH_PATH_NONE */
	uint16_t endpoint_port;
};

struct mesh_skip {
	char object[RECORD_OBJECT_MAX];
	char reason[128];
};

struct mesh {
	struct record self;
	uint8_t private_key[32];
	struct mesh_peer *peers; /* sorted by public key */
	size_t n_peers;
	struct mesh_skip *skipped;
	size_t n_skipped;
	/* name of a peer whose record holds our address, "" if none (it is skipped too) */
	char address_conflict[256];
};

/* "provider/region[/private-net]" unless cfg->zone is set. */
int mesh_zone(const struct config *cfg, const struct md_instance *inst, char *out, size_t outlen);
/* LAN when same zone and both have LAN; else WAN (v4, or v6 when both have only v6); else none. */
enum mesh_path mesh_choose_endpoint(const struct record *self, const struct record *peer,
				    struct ip_addr *ret);
const char *mesh_path_name(enum mesh_path p);
/*
 * Builds the mesh. Peers with a duplicate public key, our key, an address outside the network,
 * our address, or (when cfg->expire_after) a LastModified older than now - expire_after are
 * skipped with a reason. now is the server-corrected time.
 */
int mesh_build(const struct config *cfg, const struct record *self, const uint8_t private_key[32],
	       const uint8_t psk_key[32], const struct mesh_input *in, size_t n, time_t now,
	       struct mesh *ret);
/*
 * Two nodes that join together (records created within MESH_JOIN_TOGETHER_S of each other, and we
 * created ours at most MESH_JOIN_FRESH_S ago: booted in the same second, refreshes that run
 * together) must not both send the first handshake initiation at the same moment: each answers
 * the other's initiation, drops the answer to its own as invalid, and both wait as responders
 * for a first data packet that neither may send until a retransmission after REKEY_TIMEOUT (5 s)
 * or the next keepalive (seen with wireguard-go 0.0.20220316; the kernel's state machine is the
 * same). True when peer is the one to start: the older record, a tie to the smaller public key,
 * and only if the peer has a path to us. A node that rejoins later (reboot, restart from the
 * cache) is never held back: the others hold a stale session with it and wait for it.
 */
#define MESH_JOIN_TOGETHER_S 10
#define MESH_JOIN_FRESH_S 30
bool mesh_peer_starts(const struct record *self, uint64_t self_created, const struct record *peer,
		      time_t now);
/*
 * In a change set from wg_diff(live, mesh_to_device(m)): a peer new on the device that starts
 * (mesh_peer_starts) is added with persistent keepalive 0, which sends nothing, so its
 * initiation is the first; the caller turns keepalive on a moment later. Data still starts a
 * handshake at once. Peers already on the device are left alone. Returns how many were held.
 */
size_t mesh_hold_keepalive(const struct mesh *m, uint64_t self_created, time_t now,
			   const struct wg_device *live, struct wg_device *changes);
/* Desired device: private key, listen port, one peer per mesh peer (PSK, endpoint, keepalive,
 * AllowedIPs = address/32). */
int mesh_to_device(const struct config *cfg, const struct mesh *m, struct wg_device **ret);
void mesh_free(struct mesh *m);

#endif

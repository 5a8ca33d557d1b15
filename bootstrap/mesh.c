#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <sodium.h>

#include "../metadata/provider.h"
#include "config.h"
#include "keys.h"
#include "mesh.h"
#include "wg.h"

int mesh_zone(const struct config *cfg, const struct md_instance *inst, char *out, size_t outlen)
{
	char zone[sizeof(((struct record *)0)->zone)];
	int n;

	if (cfg->zone[0])
		n = snprintf(zone, sizeof(zone), "%s", cfg->zone);
	else if (!inst->provider[0] || !inst->region[0])
		return -EINVAL;
	else if (inst->private_net[0])
		n = snprintf(zone, sizeof(zone), "%s/%s/%s", inst->provider, inst->region,
			     inst->private_net);
	else
		n = snprintf(zone, sizeof(zone), "%s/%s", inst->provider, inst->region);
	if (n < 0 || (size_t)n >= sizeof(zone))
		return -ENAMETOOLONG;
	if (record_check_string(zone, sizeof(zone)) < 0)
		return -EINVAL;
	n = snprintf(out, outlen, "%s", zone);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * DESIGN.md 5. Zone equality alone is the seed's rule; requiring our own LAN address too stops
 * us from aiming at a private address we have no interface to reach. IPv4 WAN is preferred
 * unless we are v6-only and the peer has v6 as well.
 */
enum mesh_path mesh_choose_endpoint(const struct record *self, const struct record *peer,
				    struct ip_addr *ret)
{
	bool both_v6 = self->wan6.family && peer->wan6.family;

	if (!strcmp(self->zone, peer->zone) && self->lan.family && peer->lan.family) {
		*ret = peer->lan;
		return MESH_PATH_LAN;
	}
	if (peer->wan.family && !(both_v6 && !self->wan.family)) {
		*ret = peer->wan;
		return MESH_PATH_WAN;
	}
	if (both_v6) {
		*ret = peer->wan6;
		return MESH_PATH_WAN6;
	}
	memset(ret, 0, sizeof(*ret));
	return MESH_PATH_NONE;
}

const char *mesh_path_name(enum mesh_path p)
{
	switch (p) {
	case MESH_PATH_NONE:
		return "none";
	case MESH_PATH_LAN:
		return "lan";
	case MESH_PATH_WAN:
		return "wan";
	case MESH_PATH_WAN6:
		return "wan6";
	}
	return "?";
}

/* Inside the network and neither its network nor its broadcast address. */
static bool mesh_host_address(const struct ip_prefix *net, const struct ip_addr *a)
{
	uint32_t base = ntohl(net->addr.v4.s_addr), host, hostmask;

	if (a->family != AF_INET || net->addr.family != AF_INET || !addr_in_prefix(a, net))
		return false;
	hostmask = net->len ? 0xffffffffu >> net->len : 0xffffffffu;
	base &= ~hostmask;
	host = ntohl(a->v4.s_addr);
	return host != base && host != (base | hostmask);
}

static int mesh_cmp_object(const void *a, const void *b)
{
	const struct mesh_input *const *x = a, *const *y = b;

	return strcmp((*x)->object, (*y)->object);
}

/* Ties broken by object name, so "keep the lower object name" holds after sorting. */
static int mesh_cmp_key(const void *a, const void *b)
{
	const struct mesh_input *const *x = a, *const *y = b;
	int c = memcmp((*x)->rec.public_key, (*y)->rec.public_key, KEYS_LEN);

	return c ? c : strcmp((*x)->object, (*y)->object);
}

static int mesh_cmp_address(const void *a, const void *b)
{
	const struct mesh_input *const *x = a, *const *y = b;
	int c = addr_cmp(&(*x)->rec.address, &(*y)->rec.address);

	return c ? c : strcmp((*x)->object, (*y)->object);
}

static int mesh_cmp_skip(const void *a, const void *b)
{
	const struct mesh_skip *x = a, *y = b;

	return strcmp(x->object, y->object);
}

struct mesh_work {
	const struct mesh_input **cand;
	size_t n_cand;
	struct mesh_skip *skipped;
	size_t n_skipped;
};

static void mesh_skip(struct mesh_work *w, const struct mesh_input *in, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void mesh_skip(struct mesh_work *w, const struct mesh_input *in, const char *fmt, ...)
{
	struct mesh_skip *s = &w->skipped[w->n_skipped++];
	va_list ap;

	snprintf(s->object, sizeof(s->object), "%s", in->object);
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

/* Checks that need only the record itself (and ours); survivors go to w->cand. */
static void mesh_filter_one(const struct config *cfg, const struct record *self,
			    const struct mesh_input *in, time_t now, struct mesh_work *w,
			    char *conflict, size_t conflictlen)
{
	char a[ADDR_STRLEN], n[ADDR_STRLEN];

	/* LastModified 0 = unknown (never listed): unreachable is not removed (DESIGN.md 5). */
	if (cfg->expire_after && in->last_modified &&
	    in->last_modified < now - (time_t)cfg->expire_after) {
		mesh_skip(w, in, "expired: last modified %lld s ago, expire_after is %u s",
			  (long long)(now - in->last_modified), cfg->expire_after);
	} else if (!memcmp(in->rec.public_key, self->public_key, KEYS_LEN)) {
		mesh_skip(w, in, "carries our own public key");
	} else if (!mesh_host_address(&cfg->network, &in->rec.address)) {
		mesh_skip(w, in, "address %s is not a host address of network %s/%u",
			  addr_fmt(&in->rec.address, a), addr_fmt(&cfg->network.addr, n),
			  cfg->network.len);
	} else if (addr_equal(&in->rec.address, &self->address)) {
		mesh_skip(w, in, "node '%s' holds our address %s", in->rec.name,
			  addr_fmt(&in->rec.address, a));
		if (!conflict[0])
			snprintf(conflict, conflictlen, "%s", in->rec.name);
	} else {
		w->cand[w->n_cand++] = in;
	}
}

/* After sorting by cmp, every entry equal (by same) to its kept predecessor is skipped. */
static void mesh_dedupe(struct mesh_work *w, int (*cmp)(const void *, const void *), bool by_key)
{
	const struct mesh_input *kept = NULL;
	char a[ADDR_STRLEN];
	size_t i, out = 0;

	qsort(w->cand, w->n_cand, sizeof(w->cand[0]), cmp);
	for (i = 0; i < w->n_cand; i++) {
		const struct mesh_input *in = w->cand[i];

		if (kept && by_key && !memcmp(kept->rec.public_key, in->rec.public_key, KEYS_LEN)) {
			mesh_skip(w, in, "duplicate public key of node '%s'", kept->rec.name);
			continue;
		}
		if (kept && !by_key && addr_equal(&kept->rec.address, &in->rec.address)) {
			mesh_skip(w, in, "address %s is already held by node '%s'",
				  addr_fmt(&in->rec.address, a), kept->rec.name);
			continue;
		}
		kept = in;
		w->cand[out++] = in;
	}
	w->n_cand = out;
}

static void mesh_fill_peer(const struct record *self, const uint8_t psk_key[32],
			   const struct mesh_input *in, struct mesh_peer *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->object, sizeof(p->object), "%s", in->object);
	p->rec = in->rec;
	keys_pair_psk(psk_key, self->public_key, in->rec.public_key, p->psk);
	p->path = mesh_choose_endpoint(self, &in->rec, &p->endpoint);
	if (p->path != MESH_PATH_NONE)
		p->endpoint_port = in->rec.port;
}

int mesh_build(const struct config *cfg, const struct record *self, const uint8_t private_key[32],
	       const uint8_t psk_key[32], const struct mesh_input *in, size_t n, time_t now,
	       struct mesh *ret)
{
	struct mesh m = {0};
	struct mesh_work w = {0};
	const struct mesh_input **order = NULL;
	size_t i;
	int r = -ENOMEM;

	if (self->address.family != AF_INET)
		return -EINVAL;
	order = calloc(n + 1, sizeof(*order));
	w.cand = calloc(n + 1, sizeof(*w.cand));
	w.skipped = calloc(n + 1, sizeof(*w.skipped));
	m.peers = calloc(n + 1, sizeof(*m.peers));
	if (!order || !w.cand || !w.skipped || !m.peers)
		goto out;
	for (i = 0; i < n; i++)
		order[i] = &in[i];
	/* Object-name order makes every "first one wins" below independent of listing order. */
	qsort(order, n, sizeof(*order), mesh_cmp_object);
	for (i = 0; i < n; i++)
		mesh_filter_one(cfg, self, order[i], now, &w, m.address_conflict,
				sizeof(m.address_conflict));
	mesh_dedupe(&w, mesh_cmp_key, true);
	mesh_dedupe(&w, mesh_cmp_address, false);
	qsort(w.cand, w.n_cand, sizeof(w.cand[0]), mesh_cmp_key);
	for (i = 0; i < w.n_cand; i++)
		mesh_fill_peer(self, psk_key, w.cand[i], &m.peers[i]);
	m.n_peers = w.n_cand;
	qsort(w.skipped, w.n_skipped, sizeof(w.skipped[0]), mesh_cmp_skip);
	m.skipped = w.skipped;
	m.n_skipped = w.n_skipped;
	w.skipped = NULL;
	m.self = *self;
	memcpy(m.private_key, private_key, KEYS_LEN);
	keys_clamp(m.private_key);
	*ret = m;
	m.peers = NULL;
	r = 0;
out:
	if (m.peers) {
		sodium_memzero(m.peers, (n + 1) * sizeof(*m.peers));
		free(m.peers);
	}
	free(w.skipped);
	free(w.cand);
	free(order);
	return r;
}

static int mesh_add_peer(const struct config *cfg, const struct mesh_peer *mp, struct wg_device *d)
{
	struct ip_prefix pfx = {.addr = mp->rec.address, .len = 32};
	struct wg_peer *p;
	int r;

	r = wg_device_add_peer(d, &p);
	if (r < 0)
		return r;
	memcpy(p->public_key, mp->rec.public_key, WG_KEY_LEN);
	memcpy(p->preshared_key, mp->psk, WG_KEY_LEN);
	p->keepalive = cfg->keepalive;
	p->flags = WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE;
	if (mp->path != MESH_PATH_NONE) {
		p->endpoint.addr = mp->endpoint;
		p->endpoint.port = mp->endpoint_port;
		p->flags |= WG_PEER_HAS_ENDPOINT;
	}
	return wg_peer_add_allowedip(p, &pfx);
}

int mesh_to_device(const struct config *cfg, const struct mesh *m, struct wg_device **ret)
{
	struct wg_device *d;
	size_t i;
	int r;

	d = wg_device_new(cfg->interface);
	if (!d)
		return -ENOMEM;
	d->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	memcpy(d->private_key, m->private_key, WG_KEY_LEN);
	keys_clamp(d->private_key);
	keys_public(d->private_key, d->public_key);
	/* Never 0: that asks for a random port, a new one on every re-apply (wireguard.md 3.1). */
	d->listen_port = cfg->listen_port;
	for (i = 0; i < m->n_peers; i++) {
		r = mesh_add_peer(cfg, &m->peers[i], d);
		if (r < 0)
			goto fail;
	}
	wg_device_normalize(d);
	*ret = d;
	return 0;
fail:
	wg_device_free(d);
	return r;
}

bool mesh_peer_starts(const struct record *self, uint64_t self_created, const struct record *peer,
		      time_t now)
{
	struct ip_addr a;
	uint64_t gap;

	if (mesh_choose_endpoint(peer, self, &a) == MESH_PATH_NONE)
		return false;
	if (now < 0 || (uint64_t)now > self_created + MESH_JOIN_FRESH_S)
		return false;
	gap = peer->created > self_created ? peer->created - self_created
					   : self_created - peer->created;
	if (gap > MESH_JOIN_TOGETHER_S)
		return false;
	if (peer->created != self_created)
		return peer->created < self_created;
	return memcmp(peer->public_key, self->public_key, KEYS_LEN) < 0;
}

size_t mesh_hold_keepalive(const struct mesh *m, uint64_t self_created, time_t now,
			   const struct wg_device *live, struct wg_device *changes)
{
	size_t i, j = 0, k = 0, held = 0;

	/* all three sorted by public key: one merge pass */
	for (i = 0; i < changes->n_peers; i++) {
		struct wg_peer *c = &changes->peers[i];

		if (c->flags & WG_PEER_REMOVE || !c->keepalive)
			continue;
		while (j < live->n_peers &&
		       memcmp(live->peers[j].public_key, c->public_key, WG_KEY_LEN) < 0)
			j++;
		if (j < live->n_peers &&
		    !memcmp(live->peers[j].public_key, c->public_key, WG_KEY_LEN))
			continue;
		while (k < m->n_peers &&
		       memcmp(m->peers[k].rec.public_key, c->public_key, KEYS_LEN) < 0)
			k++;
		if (k == m->n_peers ||
		    memcmp(m->peers[k].rec.public_key, c->public_key, KEYS_LEN) ||
		    !mesh_peer_starts(&m->self, self_created, &m->peers[k].rec, now))
			continue;
		/* an explicit 0, not an omitted keepalive: wireguard-go 0.0.20220316 keeps its
		 * "keepalive turned on" note (ipcSetPeer.pkaOn, device/uapi.go) from the previous
		 * peer of the same set and sends a keepalive to a new peer that names none */
		c->flags |= WG_PEER_HAS_KEEPALIVE;
		c->keepalive = 0;
		held++;
	}
	return held;
}

void mesh_free(struct mesh *m)
{
	if (m->peers) {
		sodium_memzero(m->peers, m->n_peers * sizeof(*m->peers));
		free(m->peers);
	}
	free(m->skipped);
	sodium_memzero(m, sizeof(*m));
}

/*
 * WireGuard device model and the pure diff between a live and a desired device
 * (shared/DESIGN.md 6; shared/reference/wireguard.md 1.3 and 6.2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wg.h"

struct wg_device *wg_device_new(const char *name)
{
	struct wg_device *d;

	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (name)
		snprintf(d->name, sizeof(d->name), "%s", name);
	return d;
}

int wg_device_add_peer(struct wg_device *d, struct wg_peer **ret)
{
	struct wg_peer *peers;
	size_t cap;

	if (d->n_peers == d->cap_peers) {
		cap = d->cap_peers ? d->cap_peers * 2 : 8;
		if (cap > SIZE_MAX / sizeof(*peers))
			return -ENOMEM;
		peers = calloc(cap, sizeof(*peers));
		if (!peers)
			return -ENOMEM;
		/* Copy instead of realloc so that no preshared key is left behind in freed memory. */
		if (d->n_peers)
			memcpy(peers, d->peers, d->n_peers * sizeof(*peers));
		if (d->peers)
			sodium_memzero(d->peers, d->cap_peers * sizeof(*peers));
		free(d->peers);
		d->peers = peers;
		d->cap_peers = cap;
	}
	memset(&d->peers[d->n_peers], 0, sizeof(d->peers[0]));
	*ret = &d->peers[d->n_peers++];
	return 0;
}

/*
 * struct wg_peer has no capacity field: the array always holds the next power of two >= max(n, 4)
 * entries, so growing is due exactly when n is 0 or a power of two >= 4.
 */
int wg_peer_add_allowedip(struct wg_peer *p, const struct ip_prefix *pfx)
{
	struct ip_prefix *a;
	size_t n = p->n_allowedips, cap;

	if (n == 0 || (n >= 4 && !(n & (n - 1)))) {
		cap = n ? n * 2 : 4;
		if (cap > SIZE_MAX / sizeof(*a))
			return -ENOMEM;
		a = realloc(p->allowedips, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		p->allowedips = a;
	}
	p->allowedips[p->n_allowedips++] = *pfx;
	return 0;
}

static void peer_clear(struct wg_peer *p)
{
	free(p->allowedips);
	sodium_memzero(p, sizeof(*p));
}

void wg_device_free(struct wg_device *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n_peers; i++)
		peer_clear(&d->peers[i]);
	if (d->peers)
		sodium_memzero(d->peers, d->cap_peers * sizeof(d->peers[0]));
	free(d->peers);
	sodium_memzero(d, sizeof(*d));
	free(d);
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct ip_prefix *x = a, *y = b;
	int r;

	r = addr_cmp(&x->addr, &y->addr);
	if (r)
		return r;
	return (int)x->len - (int)y->len;
}

static int peer_cmp(const void *a, const void *b)
{
	const struct wg_peer *x = a, *y = b;

	return memcmp(x->public_key, y->public_key, WG_KEY_LEN);
}

static void peer_normalize(struct wg_peer *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_allowedips; i++)
		addr_mask(&p->allowedips[i]);
	if (p->n_allowedips > 1)
		qsort(p->allowedips, p->n_allowedips, sizeof(p->allowedips[0]), prefix_cmp);
	for (i = 0; i < p->n_allowedips; i++) {
		if (n && !prefix_cmp(&p->allowedips[n - 1], &p->allowedips[i]))
			continue;
		p->allowedips[n++] = p->allowedips[i];
	}
	p->n_allowedips = n;
}

/* wireguard.md 4: the kernel and wireguard-go store the clamped scalar; compare that form. */
static void key_clamp(uint8_t k[WG_KEY_LEN])
{
	k[0] &= 248;
	k[31] = (k[31] & 127) | 64;
}

void wg_device_normalize(struct wg_device *d)
{
	size_t i;

	if (d->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		key_clamp(d->private_key);
	for (i = 0; i < d->n_peers; i++)
		peer_normalize(&d->peers[i]);
	if (d->n_peers > 1)
		qsort(d->peers, d->n_peers, sizeof(d->peers[0]), peer_cmp);
}

struct wg_peer *wg_device_find_peer(const struct wg_device *d, const uint8_t key[WG_KEY_LEN])
{
	size_t i;

	for (i = 0; i < d->n_peers; i++) {
		if (!memcmp(d->peers[i].public_key, key, WG_KEY_LEN))
			return &d->peers[i];
	}
	return NULL;
}

bool wg_device_is_noop(const struct wg_device *changes)
{
	return !changes->flags && !changes->n_peers;
}

/* The merge below needs strictly ascending keys: duplicates would make the diff ambiguous. */
static int check_sorted(const struct wg_device *d)
{
	size_t i;

	for (i = 1; i < d->n_peers; i++) {
		if (peer_cmp(&d->peers[i - 1], &d->peers[i]) >= 0)
			return -EINVAL;
	}
	return 0;
}

static bool key_is_zero(const uint8_t k[WG_KEY_LEN])
{
	return sodium_is_zero(k, WG_KEY_LEN);
}

static bool endpoint_equal(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	return addr_equal(&a->addr, &b->addr) && a->port == b->port;
}

static bool allowedips_equal(const struct wg_peer *a, const struct wg_peer *b)
{
	size_t i;

	if (a->n_allowedips != b->n_allowedips)
		return false;
	for (i = 0; i < a->n_allowedips; i++) {
		if (prefix_cmp(&a->allowedips[i], &b->allowedips[i]))
			return false;
	}
	return true;
}

static int copy_allowedips(struct wg_peer *dst, const struct wg_peer *src)
{
	size_t i;
	int r;

	for (i = 0; i < src->n_allowedips; i++) {
		r = wg_peer_add_allowedip(dst, &src->allowedips[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_change(struct wg_device *c, const uint8_t key[WG_KEY_LEN], struct wg_peer **ret)
{
	struct wg_peer *p;
	int r;

	r = wg_device_add_peer(c, &p);
	if (r < 0)
		return r;
	memcpy(p->public_key, key, WG_KEY_LEN);
	*ret = p;
	return 0;
}

static int diff_removed(struct wg_device *c, const struct wg_peer *live)
{
	struct wg_peer *p;
	int r;

	r = add_change(c, live->public_key, &p);
	if (r < 0)
		return r;
	p->flags = WG_PEER_REMOVE;
	return 0;
}

/*
 * In a desired peer the values say what is wanted: an all-zero PSK, an endpoint of family 0 and
 * keepalive 0 all mean "none". A new peer gets every field that is set.
 */
static int diff_added(struct wg_device *c, const struct wg_peer *want)
{
	struct wg_peer *p;
	int r;

	r = add_change(c, want->public_key, &p);
	if (r < 0)
		return r;
	if (!key_is_zero(want->preshared_key)) {
		memcpy(p->preshared_key, want->preshared_key, WG_KEY_LEN);
		p->flags |= WG_PEER_HAS_PRESHARED_KEY;
	}
	if (want->endpoint.addr.family) {
		p->endpoint = want->endpoint;
		p->flags |= WG_PEER_HAS_ENDPOINT;
	}
	if (want->keepalive) {
		p->keepalive = want->keepalive;
		p->flags |= WG_PEER_HAS_KEEPALIVE;
	}
	return copy_allowedips(p, want);
}

static unsigned peer_changes(const struct wg_peer *live, const struct wg_peer *want)
{
	unsigned f = 0;

	/* Constant time: the PSK is a secret (STYLE.md 7). */
	if (sodium_memcmp(live->preshared_key, want->preshared_key, WG_KEY_LEN))
		f |= WG_PEER_HAS_PRESHARED_KEY;
	/* An endpoint the peer roamed to is kept unless we name one (DESIGN.md 6). */
	if (want->endpoint.addr.family && !endpoint_equal(&live->endpoint, &want->endpoint))
		f |= WG_PEER_HAS_ENDPOINT;
	if (live->keepalive != want->keepalive)
		f |= WG_PEER_HAS_KEEPALIVE;
	if (!allowedips_equal(live, want))
		f |= WG_PEER_REPLACE_ALLOWEDIPS;
	return f;
}

static int diff_changed(struct wg_device *c, const struct wg_peer *live, const struct wg_peer *want)
{
	struct wg_peer *p;
	unsigned f;
	int r;

	f = peer_changes(live, want);
	if (!f)
		return 0;
	r = add_change(c, want->public_key, &p);
	if (r < 0)
		return r;
	p->flags = f;
	/* A zero PSK clears the live one (wireguard.md 1.2, 2.3). */
	if (f & WG_PEER_HAS_PRESHARED_KEY)
		memcpy(p->preshared_key, want->preshared_key, WG_KEY_LEN);
	if (f & WG_PEER_HAS_ENDPOINT)
		p->endpoint = want->endpoint;
	if (f & WG_PEER_HAS_KEEPALIVE)
		p->keepalive = want->keepalive;
	if (f & WG_PEER_REPLACE_ALLOWEDIPS)
		return copy_allowedips(p, want);
	return 0;
}

static int diff_peers(struct wg_device *c, const struct wg_device *live,
		      const struct wg_device *want)
{
	size_t i = 0, j = 0;
	int r = 0, cmp;

	while (r >= 0 && (i < live->n_peers || j < want->n_peers)) {
		if (i == live->n_peers)
			cmp = 1;
		else if (j == want->n_peers)
			cmp = -1;
		else
			cmp = peer_cmp(&live->peers[i], &want->peers[j]);
		if (cmp < 0)
			r = diff_removed(c, &live->peers[i++]);
		else if (cmp > 0)
			r = diff_added(c, &want->peers[j++]);
		else
			r = diff_changed(c, &live->peers[i++], &want->peers[j++]);
	}
	return r;
}

/*
 * wireguard.md 1.3 and 4: setting an equal private key is skipped by the kernel only when it is
 * byte-identical to the stored clamped key; otherwise all sessions are re-keyed. boringtun never
 * returns the private key (2.3), so fall back to comparing the public key it reports.
 */
static bool private_key_differs(const struct wg_device *live, const uint8_t want[WG_KEY_LEN])
{
	uint8_t a[WG_KEY_LEN], pub[WG_KEY_LEN];
	bool differs;

	if (live->flags & WG_DEVICE_HAS_PRIVATE_KEY) {
		memcpy(a, live->private_key, WG_KEY_LEN);
		key_clamp(a);
		differs = sodium_memcmp(a, want, WG_KEY_LEN) != 0;
		sodium_memzero(a, sizeof(a));
		return differs;
	}
	if (key_is_zero(live->public_key))
		return true;
	crypto_scalarmult_curve25519_base(pub, want);
	return memcmp(pub, live->public_key, WG_KEY_LEN) != 0;
}

static void diff_device(struct wg_device *c, const struct wg_device *live,
			const struct wg_device *want)
{
	uint8_t key[WG_KEY_LEN];
	uint16_t live_port;
	uint32_t live_fwmark;

	if (want->flags & WG_DEVICE_HAS_PRIVATE_KEY) {
		memcpy(key, want->private_key, WG_KEY_LEN);
		key_clamp(key);
		if (private_key_differs(live, key)) {
			memcpy(c->private_key, key, WG_KEY_LEN);
			c->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		}
		sodium_memzero(key, sizeof(key));
	}
	/* Port 0 means "pick a random port" and rebinds on every set (wireguard.md 1.3): never. */
	live_port = live->flags & WG_DEVICE_HAS_LISTEN_PORT ? live->listen_port : 0;
	if (want->flags & WG_DEVICE_HAS_LISTEN_PORT && want->listen_port &&
	    want->listen_port != live_port) {
		c->listen_port = want->listen_port;
		c->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	}
	live_fwmark = live->flags & WG_DEVICE_HAS_FWMARK ? live->fwmark : 0;
	if (want->flags & WG_DEVICE_HAS_FWMARK && want->fwmark != live_fwmark) {
		c->fwmark = want->fwmark;
		c->flags |= WG_DEVICE_HAS_FWMARK;
	}
}

int wg_diff(const struct wg_device *live, const struct wg_device *want,
	    struct wg_device **ret_changes)
{
	struct wg_device *c;
	int r;

	r = check_sorted(live);
	if (r < 0)
		return r;
	r = check_sorted(want);
	if (r < 0)
		return r;
	c = wg_device_new(want->name[0] ? want->name : live->name);
	if (!c)
		return -ENOMEM;
	diff_device(c, live, want);
	r = diff_peers(c, live, want);
	if (r < 0) {
		wg_device_free(c);
		return r;
	}
	*ret_changes = c;
	return 0;
}

/* Device model, normalisation and wg_diff (bootstrap/wg.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <sodium.h>

#include "../../bootstrap/addr.h"
#include "../../bootstrap/wg.h"
#include "test.h"

static void key_of(uint8_t k[WG_KEY_LEN], unsigned n)
{
	memset(k, 0, WG_KEY_LEN);
	/* big-endian in the first bytes so that key order == n order */
	k[0] = (uint8_t)(n >> 24);
	k[1] = (uint8_t)(n >> 16);
	k[2] = (uint8_t)(n >> 8);
	k[3] = (uint8_t)n;
	k[31] = 0x42;
}

static void add_ip(struct wg_peer *p, const char *s)
{
	struct ip_prefix pfx;

	CHECK_INT(addr_parse_prefix(s, &pfx), 0);
	CHECK_INT(wg_peer_add_allowedip(p, &pfx), 0);
}

static void set_endpoint(struct wg_peer *p, const char *ip, uint16_t port)
{
	CHECK_INT(addr_parse(ip, &p->endpoint.addr), 0);
	p->endpoint.port = port;
	p->flags |= WG_PEER_HAS_ENDPOINT;
}

static struct wg_peer *add_peer(struct wg_device *d, unsigned n)
{
	struct wg_peer *p = NULL;
	char ip[32];

	CHECK_INT(wg_device_add_peer(d, &p), 0);
	key_of(p->public_key, n);
	snprintf(ip, sizeof(ip), "10.%u.%u.%u/32", (n >> 16) & 255, (n >> 8) & 255, n & 255);
	add_ip(p, ip);
	return p;
}

/* A desired device with peers 1..n: endpoint, keepalive 25, one /32 each. */
static struct wg_device *desired(unsigned n)
{
	struct wg_device *d = wg_device_new("wg0");
	struct wg_peer *p;
	unsigned i;

	d->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	memset(d->private_key, 0x11, WG_KEY_LEN);
	d->listen_port = 51871;
	for (i = 1; i <= n; i++) {
		p = add_peer(d, i);
		set_endpoint(p, "192.0.2.1", (uint16_t)(1000 + i));
		p->keepalive = 25;
		p->flags |= WG_PEER_HAS_KEEPALIVE;
	}
	wg_device_normalize(d);
	return d;
}

/* What the live device looks like after `desired` was applied: clamped key, counters. */
static struct wg_device *live_of(const struct wg_device *want)
{
	struct wg_device *d = wg_device_new(want->name);
	struct wg_peer *p;
	size_t i, j;

	d->flags = want->flags;
	memcpy(d->private_key, want->private_key, WG_KEY_LEN);
	d->private_key[0] &= 248;
	d->private_key[31] = (d->private_key[31] & 127) | 64;
	d->listen_port = want->listen_port;
	for (i = want->n_peers; i-- > 0;) { /* reversed: normalize must sort */
		CHECK_INT(wg_device_add_peer(d, &p), 0);
		memcpy(p->public_key, want->peers[i].public_key, WG_KEY_LEN);
		memcpy(p->preshared_key, want->peers[i].preshared_key, WG_KEY_LEN);
		p->endpoint = want->peers[i].endpoint;
		p->keepalive = want->peers[i].keepalive;
		p->flags = want->peers[i].flags;
		for (j = want->peers[i].n_allowedips; j-- > 0;)
			CHECK_INT(wg_peer_add_allowedip(p, &want->peers[i].allowedips[j]), 0);
		p->last_handshake_sec = 1700000000 + (int64_t)i;
		p->last_handshake_nsec = 5;
		p->rx_bytes = 1000 * i;
		p->tx_bytes = 2000 * i;
	}
	wg_device_normalize(d);
	return d;
}

static struct wg_device *diff(const struct wg_device *live, const struct wg_device *want)
{
	struct wg_device *c = NULL;

	CHECK_INT(wg_diff(live, want, &c), 0);
	return c;
}

static void test_noop_identical(void)
{
	struct wg_device *want = desired(5), *live = live_of(want), *c;
	struct wg_peer *p;

	/* a peer without a configured endpoint that roamed: not a difference */
	add_peer(want, 9);
	p = add_peer(live, 9);
	set_endpoint(p, "2001:db8::9", 4444);
	wg_device_normalize(want);
	wg_device_normalize(live);
	c = diff(live, want);
	CHECK(c && wg_device_is_noop(c));
	CHECK_STR(c->name, "wg0");
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_add_remove(void)
{
	struct wg_device *want = desired(3), *live = live_of(want), *c;
	struct wg_peer *p;

	/* live has peer 2 twice-removed: drop peer 2 from want, add peer 7 */
	p = wg_device_find_peer(want, want->peers[1].public_key);
	CHECK(p == &want->peers[1]);
	free(want->peers[1].allowedips);
	memmove(&want->peers[1], &want->peers[2], sizeof(want->peers[0]));
	want->n_peers--;
	p = add_peer(want, 7);
	memset(p->preshared_key, 0x77, WG_KEY_LEN);
	set_endpoint(p, "198.51.100.7", 51871);
	wg_device_normalize(want);
	c = diff(live, want);
	CHECK_INT(c->flags, 0);
	CHECK_INT(c->n_peers, 2);
	if (c->n_peers == 2) {
		CHECK_INT(c->peers[0].public_key[3], 2);
		CHECK_INT(c->peers[0].flags, WG_PEER_REMOVE);
		CHECK_INT(c->peers[1].public_key[3], 7);
		CHECK_INT(c->peers[1].flags, WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT);
		CHECK_INT(c->peers[1].n_allowedips, 1);
		CHECK_INT(c->peers[1].endpoint.port, 51871);
		CHECK_INT(c->peers[1].preshared_key[5], 0x77);
	}
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_endpoint_only(void)
{
	struct wg_device *want = desired(3), *live = live_of(want), *c;

	set_endpoint(&want->peers[2], "2001:db8::3", 51871);
	c = diff(live, want);
	CHECK_INT(c->n_peers, 1);
	if (c->n_peers == 1) {
		CHECK_INT(c->peers[0].flags, WG_PEER_HAS_ENDPOINT);
		CHECK_INT(c->peers[0].public_key[3], 3);
		CHECK_INT(c->peers[0].n_allowedips, 0);
		CHECK_INT(c->peers[0].endpoint.addr.family, AF_INET6);
	}
	wg_device_free(c);
	/* same address, other port */
	set_endpoint(&want->peers[2], "192.0.2.1", 1004);
	c = diff(live, want);
	CHECK_INT(c->n_peers, 1);
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_endpoint_v6_text_forms(void)
{
	struct wg_device *want = desired(1), *live = live_of(want), *c;

	/* "2001:db8:0:0::1" and "2001:db8::1" are one address (wireguard.md appendix) */
	set_endpoint(&want->peers[0], "2001:db8:0:0::1", 51871);
	set_endpoint(&live->peers[0], "2001:db8::1", 51871);
	c = diff(live, want);
	CHECK(wg_device_is_noop(c));
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_allowedips_changed(void)
{
	struct wg_device *want = desired(3), *live = live_of(want), *c;

	add_ip(&want->peers[0], "fd00::1/128");
	add_ip(&want->peers[0], "10.50.0.9/16"); /* host bits: masked by normalize */
	wg_device_normalize(want);
	CHECK_INT(want->peers[0].n_allowedips, 3);
	c = diff(live, want);
	CHECK_INT(c->n_peers, 1);
	if (c->n_peers == 1) {
		CHECK_INT(c->peers[0].flags, WG_PEER_REPLACE_ALLOWEDIPS);
		CHECK_INT(c->peers[0].n_allowedips, 3);
	}
	wg_device_free(c);
	/* once live has them (in another order, one duplicated), nothing to do */
	add_ip(&live->peers[0], "10.50.0.0/16");
	add_ip(&live->peers[0], "fd00::1/128");
	add_ip(&live->peers[0], "10.50.1.0/16");
	wg_device_normalize(live);
	c = diff(live, want);
	CHECK(wg_device_is_noop(c));
	wg_device_free(c);
	/* an empty desired list replaces with nothing */
	want->peers[1].n_allowedips = 0;
	c = diff(live, want);
	CHECK_INT(c->n_peers, 1);
	if (c->n_peers == 1) {
		CHECK_INT(c->peers[0].flags, WG_PEER_REPLACE_ALLOWEDIPS);
		CHECK_INT(c->peers[0].n_allowedips, 0);
	}
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_private_key_clamping(void)
{
	struct wg_device *want = desired(1), *live = live_of(want), *c;

	/* want holds 0x11.. (unclamped), live the clamped form: same key */
	memset(want->private_key, 0xff, WG_KEY_LEN);
	memcpy(live->private_key, want->private_key, WG_KEY_LEN);
	live->private_key[0] = 0xf8;
	live->private_key[31] = 0x7f;
	c = diff(live, want);
	CHECK(wg_device_is_noop(c));
	wg_device_free(c);
	/* a real change is sent clamped */
	want->private_key[1] = 0;
	c = diff(live, want);
	CHECK_INT(c->flags, WG_DEVICE_HAS_PRIVATE_KEY);
	CHECK_INT(c->private_key[0], 0xf8);
	CHECK_INT(c->private_key[31], 0x7f);
	CHECK_INT(c->n_peers, 0);
	wg_device_free(c);
	/* boringtun: no private key, only the public key */
	live->flags &= ~(unsigned)WG_DEVICE_HAS_PRIVATE_KEY;
	crypto_scalarmult_curve25519_base(live->public_key, want->private_key);
	c = diff(live, want);
	CHECK(wg_device_is_noop(c));
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_listen_port(void)
{
	struct wg_device *want = desired(1), *live = live_of(want), *c;

	want->listen_port = 51872;
	c = diff(live, want);
	CHECK_INT(c->flags, WG_DEVICE_HAS_LISTEN_PORT);
	CHECK_INT(c->listen_port, 51872);
	wg_device_free(c);
	/* never port 0, even when the live port differs */
	want->listen_port = 0;
	c = diff(live, want);
	CHECK(wg_device_is_noop(c));
	wg_device_free(c);
	/* desired without a port: leave it alone */
	want->listen_port = 51872;
	want->flags &= ~(unsigned)WG_DEVICE_HAS_LISTEN_PORT;
	c = diff(live, want);
	CHECK(wg_device_is_noop(c));
	wg_device_free(c);
	/* live device that has no port yet (wireguard-go omits 0) */
	want->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	live->flags &= ~(unsigned)WG_DEVICE_HAS_LISTEN_PORT;
	live->listen_port = 0;
	c = diff(live, want);
	CHECK_INT(c->flags, WG_DEVICE_HAS_LISTEN_PORT);
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_psk_and_keepalive(void)
{
	struct wg_device *want = desired(2), *live = live_of(want), *c;

	/* live PSK, desired none -> zero PSK */
	memset(live->peers[0].preshared_key, 0x33, WG_KEY_LEN);
	live->peers[0].flags |= WG_PEER_HAS_PRESHARED_KEY;
	/* keepalive off */
	want->peers[1].keepalive = 0;
	want->peers[1].flags &= ~(unsigned)WG_PEER_HAS_KEEPALIVE;
	c = diff(live, want);
	CHECK_INT(c->n_peers, 2);
	if (c->n_peers == 2) {
		CHECK_INT(c->peers[0].flags, WG_PEER_HAS_PRESHARED_KEY);
		CHECK(sodium_is_zero(c->peers[0].preshared_key, WG_KEY_LEN));
		CHECK_INT(c->peers[1].flags, WG_PEER_HAS_KEEPALIVE);
		CHECK_INT(c->peers[1].keepalive, 0);
	}
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_fwmark(void)
{
	struct wg_device *want = desired(0), *live = live_of(want), *c;

	want->flags |= WG_DEVICE_HAS_FWMARK;
	want->fwmark = 0; /* live has none: no change */
	c = diff(live, want);
	CHECK(wg_device_is_noop(c));
	wg_device_free(c);
	want->fwmark = 0x10;
	c = diff(live, want);
	CHECK_INT(c->flags, WG_DEVICE_HAS_FWMARK);
	CHECK_INT(c->fwmark, 0x10);
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_unsorted_or_duplicate(void)
{
	struct wg_device *want = desired(2), *live = live_of(want), *c = NULL;

	memcpy(want->peers[1].public_key, want->peers[0].public_key, WG_KEY_LEN);
	CHECK_INT(wg_diff(live, want, &c), -EINVAL);
	CHECK(c == NULL);
	wg_device_free(live);
	wg_device_free(want);
}

static void test_normalize(void)
{
	struct wg_device *d = wg_device_new("wg-with-a-very-long-name");
	struct wg_peer *p;
	char s[ADDR_STRLEN];
	uint8_t k[WG_KEY_LEN];
	int i;

	CHECK_STR(d->name, "wg-with-a-very-");
	p = add_peer(d, 5);
	for (i = 0; i < 40; i++) /* crosses several growth steps */
		add_ip(p, i % 2 ? "10.1.2.3/24" : "fd00::1:2/112");
	add_ip(p, "0.0.0.0/0");
	add_peer(d, 1);
	wg_device_normalize(d);
	CHECK_INT(d->peers[0].public_key[3], 1);
	p = &d->peers[1];
	CHECK_INT(p->n_allowedips, 4);
	if (p->n_allowedips == 4) {
		CHECK_STR(addr_fmt(&p->allowedips[0].addr, s), "0.0.0.0");
		CHECK_STR(addr_fmt(&p->allowedips[1].addr, s), "10.0.0.5");
		CHECK_STR(addr_fmt(&p->allowedips[2].addr, s), "10.1.2.0");
		CHECK_STR(addr_fmt(&p->allowedips[3].addr, s), "fd00::1:0");
	}
	CHECK(wg_device_find_peer(d, p->public_key) == p);
	memcpy(k, p->public_key, WG_KEY_LEN);
	k[0] ^= 1;
	CHECK(wg_device_find_peer(d, k) == NULL);
	wg_device_free(d);
	wg_device_free(NULL);
}

/* 1,000 peers: every 7th removed, every 11th changed endpoint, 100 new. */
static void test_thousand_peers(void)
{
	struct wg_device *want, *live, *c, *orig;
	unsigned i, removed = 0, changed = 0, added = 0, nr = 0, nc = 0, na = 0;
	size_t k;

	orig = desired(1000);
	live = live_of(orig);
	wg_device_free(orig);
	/* the desired device: the same key and port, with edits */
	want = wg_device_new("wg0");
	want->flags = live->flags;
	memcpy(want->private_key, live->private_key, WG_KEY_LEN);
	want->listen_port = live->listen_port;
	for (i = 1; i <= 1100; i++) {
		struct wg_peer *p;

		if (i <= 1000 && i % 7 == 0) {
			removed++;
			continue;
		}
		p = add_peer(want, i);
		p->keepalive = 25;
		set_endpoint(p, "192.0.2.1", (uint16_t)(1000 + i));
		if (i <= 1000 && i % 11 == 0) {
			p->endpoint.port = 9;
			changed++;
		}
		if (i > 1000)
			added++;
	}
	/* shuffle the input: normalize must sort it */
	for (k = want->n_peers - 1; k > 0; k--) {
		size_t j = (size_t)rand() % (k + 1);
		struct wg_peer t = want->peers[k];

		want->peers[k] = want->peers[j];
		want->peers[j] = t;
	}
	wg_device_normalize(want);
	c = diff(live, want);
	for (k = 0; c && k < c->n_peers; k++) {
		if (c->peers[k].flags == WG_PEER_REMOVE)
			nr++;
		else if (c->peers[k].flags == WG_PEER_HAS_ENDPOINT)
			nc++;
		else
			na++;
	}
	CHECK_INT(nr, removed);
	CHECK_INT(nc, changed);
	CHECK_INT(na, added);
	CHECK_INT(c ? c->n_peers : 0, removed + changed + added);
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

/* At scale the merge still finds exactly the one difference (speed is make bench's job). */
static void test_large_diff(void)
{
	struct wg_device *want = desired(100000), *live = live_of(want), *c;

	c = diff(live, want);
	CHECK(c && wg_device_is_noop(c));
	wg_device_free(c);
	want->peers[54321].keepalive = 7;
	c = diff(live, want);
	CHECK(c && c->n_peers == 1 && c->peers[0].keepalive == 7 &&
	      !memcmp(c->peers[0].public_key, want->peers[54321].public_key, WG_KEY_LEN));
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	srand(1);
	RUN(test_noop_identical);
	RUN(test_add_remove);
	RUN(test_endpoint_only);
	RUN(test_endpoint_v6_text_forms);
	RUN(test_allowedips_changed);
	RUN(test_private_key_clamping);
	RUN(test_listen_port);
	RUN(test_psk_and_keepalive);
	RUN(test_fwmark);
	RUN(test_unsorted_or_duplicate);
	RUN(test_normalize);
	RUN(test_thousand_peers);
	RUN(test_large_diff);
	return test_exit();
}

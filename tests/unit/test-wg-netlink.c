/*
 * wg-netlink: builders checked byte for byte against the .bin files of tests/fixtures/netlink
 * (written by gen.py there from the UAPI description, not by the builder), the SET split re-parsed
 * with a walker of this file's own, and the dump parser fed constructed replies.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../../bootstrap/addr.h"
#include "../../bootstrap/wg.h"
#include "../../bootstrap/wg-netlink.h"
#include "test.h"

#define FIXTURES "tests/fixtures/netlink/"
#define FAMILY 0x1c
#define PORTID 0x2000
#define SEQ_FAMILY 0x1000
#define SEQ_GET 0x1001
#define SEQ_SET 0x1002

/* UAPI values, written out here so the test does not share the module's includes. */
enum {
	T_NLA_F_NESTED = 0x8000,
	T_DEV_IFNAME = 2,
	T_DEV_PRIVATE_KEY = 3,
	T_DEV_FLAGS = 5,
	T_DEV_LISTEN_PORT = 6,
	T_DEV_FWMARK = 7,
	T_DEV_PEERS = 8,
	T_PEER_PUBLIC_KEY = 1,
	T_PEER_PSK = 2,
	T_PEER_FLAGS = 3,
	T_PEER_ENDPOINT = 4,
	T_PEER_KEEPALIVE = 5,
	T_PEER_ALLOWEDIPS = 9,
	T_IP_FAMILY = 1,
	T_IP_ADDR = 2,
	T_IP_CIDR = 3,
	T_F_REMOVE_ME = 1,
	T_F_REPLACE_ALLOWEDIPS = 2,
};

static void *read_fixture(const char *name, size_t *len)
{
	char path[256];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n)
		exit(1);
	fclose(f);
	*len = n;
	return buf;
}

static void check_fixture(const void *got, int len, const char *name)
{
	size_t want_len;
	uint8_t *want = read_fixture(name, &want_len);

	CHECK_INT(len, want_len);
	if (len == (int)want_len && memcmp(got, want, want_len)) {
		const uint8_t *g = got;

		for (size_t i = 0; i < want_len; i++)
			if (g[i] != want[i]) {
				fprintf(stderr, "%s: first difference at byte %zu: %02x != %02x\n",
					name, i, g[i], want[i]);
				break;
			}
		CHECK(!"bytes differ");
	}
	free(want);
}

static void key(uint8_t *k, unsigned start)
{
	for (unsigned i = 0; i < 32; i++)
		k[i] = (start + i) & 0xff;
}

static struct ip_prefix pfx(const char *s)
{
	struct ip_prefix p;

	memset(&p, 0, sizeof(p));
	if (addr_parse_prefix(s, &p) < 0)
		abort();
	return p;
}

static struct wg_endpoint ep(const char *ip, uint16_t port)
{
	struct wg_endpoint e;

	memset(&e, 0, sizeof(e));
	if (addr_parse(ip, &e.addr) < 0)
		abort();
	e.port = port;
	return e;
}

static struct wg_device changes_new(void)
{
	struct wg_device d;

	memset(&d, 0, sizeof(d));
	strcpy(d.name, "wg0");
	return d;
}

/* ---- builders against fixtures ------------------------------------------------------------ */

static void test_family_request(void)
{
	uint8_t buf[WG_NL_MSG_MAX];

	check_fixture(buf, wg_nl_build_family_request(buf, sizeof(buf), SEQ_FAMILY),
		      "family-request.bin");
	CHECK_INT(wg_nl_build_family_request(buf, 20, SEQ_FAMILY), -EMSGSIZE);
}

static void test_get_request(void)
{
	uint8_t buf[WG_NL_MSG_MAX];

	check_fixture(buf, wg_nl_build_get(buf, sizeof(buf), FAMILY, SEQ_GET, "wg0"),
		      "get-wg0.bin");
	CHECK_INT(wg_nl_build_get(buf, sizeof(buf), FAMILY, SEQ_GET, ""), -EINVAL);
	CHECK_INT(wg_nl_build_get(buf, sizeof(buf), FAMILY, SEQ_GET, "0123456789abcdef"), -EINVAL);
}

/* Builds a change set that must fit one message, and checks there is no second one. */
static void check_single_set(const struct wg_device *d, const char *fixture)
{
	struct wg_nl_cursor cur = {0};
	uint8_t buf[WG_NL_MSG_MAX];

	check_fixture(buf, wg_nl_build_set(d, &cur, FAMILY, SEQ_SET, buf, sizeof(buf)), fixture);
	CHECK_INT(wg_nl_build_set(d, &cur, FAMILY, SEQ_SET, buf, sizeof(buf)), 0);
}

static void test_set_add_peer(void)
{
	struct wg_device d = changes_new();
	struct ip_prefix ip = pfx("10.15.0.2/32");
	struct wg_peer p;

	memset(&p, 0, sizeof(p));
	key(p.public_key, 0x01);
	key(p.preshared_key, 0x41);
	p.endpoint = ep("192.0.2.1", 51871);
	p.keepalive = 25;
	p.allowedips = &ip;
	p.n_allowedips = 1;
	p.flags = WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE |
		  WG_PEER_REPLACE_ALLOWEDIPS;
	d.peers = &p;
	d.n_peers = 1;
	check_single_set(&d, "set-add-peer.bin");
}

static void test_set_remove(void)
{
	struct wg_device d = changes_new();
	struct ip_prefix ip = pfx("10.15.0.9/32");
	struct wg_peer p;

	/* Everything but the key and REMOVE_ME is left out, even when the peer carries it. */
	memset(&p, 0, sizeof(p));
	memset(p.public_key, 0xaa, sizeof(p.public_key));
	key(p.preshared_key, 0x41);
	p.allowedips = &ip;
	p.n_allowedips = 1;
	p.flags = WG_PEER_REMOVE | WG_PEER_HAS_PRESHARED_KEY | WG_PEER_REPLACE_ALLOWEDIPS;
	d.peers = &p;
	d.n_peers = 1;
	check_single_set(&d, "set-remove.bin");
}

static void test_set_v6_endpoint(void)
{
	struct wg_device d = changes_new();
	struct ip_prefix ips[2] = {pfx("fd00:15::2/128"), pfx("10.15.0.3/32")};
	struct wg_peer p;

	memset(&p, 0, sizeof(p));
	key(p.public_key, 0x80);
	p.endpoint = ep("2001:db8::1", 51820);
	p.keepalive = 0;
	p.allowedips = ips;
	p.n_allowedips = 2;
	p.flags = WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE;
	d.peers = &p;
	d.n_peers = 1;
	check_single_set(&d, "set-v6-endpoint.bin");
}

static void test_set_device(void)
{
	struct wg_device d = changes_new();
	struct wg_nl_cursor cur = {0};
	uint8_t buf[WG_NL_MSG_MAX];

	key(d.private_key, 0x20);
	d.private_key[0] &= 248;
	d.private_key[31] = (d.private_key[31] & 127) | 64;
	d.listen_port = 51871;
	d.flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	check_single_set(&d, "set-device.bin");

	/* Nothing flagged, no peers: no message at all. */
	d.flags = 0;
	CHECK_INT(wg_nl_build_set(&d, &cur, FAMILY, SEQ_SET, buf, sizeof(buf)), 0);
}

static void test_set_invalid(void)
{
	struct wg_device d = changes_new();
	struct ip_prefix bad = pfx("10.0.0.0/8");
	struct wg_nl_cursor cur = {0};
	uint8_t buf[WG_NL_MSG_MAX];
	struct wg_peer p;

	memset(&p, 0, sizeof(p));
	p.allowedips = &bad;
	p.n_allowedips = 1;
	d.peers = &p;
	d.n_peers = 1;
	bad.len = 33;
	CHECK_INT(wg_nl_build_set(&d, &cur, FAMILY, SEQ_SET, buf, sizeof(buf)), -EINVAL);
	bad.len = 8;
	bad.addr.family = 0;
	CHECK_INT(wg_nl_build_set(&d, &cur, FAMILY, SEQ_SET, buf, sizeof(buf)), -EINVAL);
	bad.addr.family = AF_INET;
	p.flags = WG_PEER_HAS_ENDPOINT; /* endpoint family 0 */
	CHECK_INT(wg_nl_build_set(&d, &cur, FAMILY, SEQ_SET, buf, sizeof(buf)), -EINVAL);
	p.flags = 0;
	/* A limit that cannot hold a single peer must not loop forever. */
	CHECK_INT(wg_nl_build_set(&d, &cur, FAMILY, SEQ_SET, buf, 64), -EMSGSIZE);
	CHECK(!cur.started && cur.peer == 0);
	d.name[0] = '\0';
	CHECK_INT(wg_nl_build_set(&d, &cur, FAMILY, SEQ_SET, buf, sizeof(buf)), -EINVAL);
}

/* ---- an independent walker for SET messages ---------------------------------------------- */

struct t_attr {
	uint16_t type;
	bool nested;
	const uint8_t *data;
	size_t len;
};

/* 1 = *a filled, 0 = end, -1 = malformed. */
static int t_next(const uint8_t **p, size_t *rem, struct t_attr *a)
{
	uint16_t len, type;

	if (!*rem)
		return 0;
	if (*rem < 4)
		return -1;
	memcpy(&len, *p, 2);
	memcpy(&type, *p + 2, 2);
	if (len < 4 || len > *rem)
		return -1;
	a->type = type & 0x3fff;
	a->nested = type & T_NLA_F_NESTED;
	a->data = *p + 4;
	a->len = len - 4;
	len = (len + 3) & ~3u;
	if (len > *rem)
		return -1;
	*p += len;
	*rem -= len;
	return 1;
}

struct frag {
	uint8_t key[32];
	bool has_flags, has_psk, has_ep, has_ka;
	uint32_t flags;
	uint8_t psk[32];
	uint8_t ep[28];
	size_t eplen;
	uint16_t ka;
	size_t ip_off, n_ips; /* into struct walk.ips */
	size_t msg, pos;      /* message index, index among its peers */
	size_t size;	      /* bytes of the peer element */
};

struct walk {
	struct frag *frags;
	size_t n;
	struct ip_prefix *ips;
	size_t n_ips;
	size_t msg_len[4096];
	size_t n_msgs;
	bool dev_attr_late; /* a device attribute after the first message */
	bool bad;
};

static void walk_ips(struct walk *w, const struct t_attr *list)
{
	const uint8_t *p = list->data;
	size_t rem = list->len;
	struct t_attr e, a;

	while (t_next(&p, &rem, &e) == 1) {
		const uint8_t *q = e.data;
		size_t qrem = e.len;
		struct ip_prefix ip;
		uint16_t fam = 0;
		int seen = 0;

		memset(&ip, 0, sizeof(ip));
		if (!e.nested || e.type != 0)
			w->bad = true;
		while (t_next(&q, &qrem, &a) == 1) {
			if (a.type == T_IP_FAMILY && a.len == 2) {
				memcpy(&fam, a.data, 2);
				seen |= 1;
			} else if (a.type == T_IP_ADDR && (a.len == 4 || a.len == 16)) {
				memcpy(&ip.addr.v6, a.data, a.len);
				seen |= 2;
			} else if (a.type == T_IP_CIDR && a.len == 1) {
				ip.len = a.data[0];
				seen |= 4;
			} else {
				w->bad = true;
			}
		}
		ip.addr.family = fam;
		if (seen != 7 || qrem)
			w->bad = true;
		w->ips = realloc(w->ips, (w->n_ips + 1) * sizeof(*w->ips));
		w->ips[w->n_ips++] = ip;
	}
	if (rem)
		w->bad = true;
}

static void walk_peer(struct walk *w, const struct t_attr *elem, size_t msg, size_t pos)
{
	const uint8_t *p = elem->data;
	size_t rem = elem->len;
	struct frag f;
	struct t_attr a;

	memset(&f, 0, sizeof(f));
	f.msg = msg;
	f.pos = pos;
	f.size = 4 + elem->len;
	f.ip_off = w->n_ips;
	if (!elem->nested || elem->type != 0)
		w->bad = true;
	while (t_next(&p, &rem, &a) == 1) {
		if (a.type == T_PEER_PUBLIC_KEY && a.len == 32) {
			memcpy(f.key, a.data, 32);
		} else if (a.type == T_PEER_FLAGS && a.len == 4) {
			memcpy(&f.flags, a.data, 4);
			f.has_flags = true;
		} else if (a.type == T_PEER_PSK && a.len == 32) {
			memcpy(f.psk, a.data, 32);
			f.has_psk = true;
		} else if (a.type == T_PEER_ENDPOINT && (a.len == 16 || a.len == 28)) {
			memcpy(f.ep, a.data, a.len);
			f.eplen = a.len;
			f.has_ep = true;
		} else if (a.type == T_PEER_KEEPALIVE && a.len == 2) {
			memcpy(&f.ka, a.data, 2);
			f.has_ka = true;
		} else if (a.type == T_PEER_ALLOWEDIPS && a.nested) {
			walk_ips(w, &a);
		} else {
			w->bad = true;
		}
	}
	if (rem)
		w->bad = true;
	f.n_ips = w->n_ips - f.ip_off;
	w->frags = realloc(w->frags, (w->n + 1) * sizeof(*w->frags));
	w->frags[w->n++] = f;
}

static void walk_msg(struct walk *w, const uint8_t *buf, size_t len, uint32_t seq)
{
	size_t msg = w->n_msgs++, rem, pos = 0;
	uint16_t type, flags;
	uint32_t nlen, nseq;
	const uint8_t *p;
	struct t_attr a, e;
	bool first = true;

	w->msg_len[msg] = len;
	memcpy(&nlen, buf, 4);
	memcpy(&type, buf + 4, 2);
	memcpy(&flags, buf + 6, 2);
	memcpy(&nseq, buf + 8, 4);
	if (nlen != len || len > WG_NL_MSG_MAX || type != FAMILY || flags != 0x5 || nseq != seq ||
	    buf[16] != 1 || buf[17] != 1)
		w->bad = true;
	p = buf + 20;
	rem = len - 20;
	while (t_next(&p, &rem, &a) == 1) {
		/* IFNAME first in every message; device attributes only in the first message. */
		if (first && !(a.type == T_DEV_IFNAME && a.len == 4 && !memcmp(a.data, "wg0", 4)))
			w->bad = true;
		first = false;
		if (a.type == T_DEV_PRIVATE_KEY || a.type == T_DEV_LISTEN_PORT ||
		    a.type == T_DEV_FWMARK) {
			if (msg)
				w->dev_attr_late = true;
		} else if (a.type == T_DEV_FLAGS) {
			w->bad = true; /* never REPLACE_PEERS */
		} else if (a.type == T_DEV_PEERS) {
			const uint8_t *q = a.data;
			size_t qrem = a.len;

			if (!a.nested)
				w->bad = true;
			while (t_next(&q, &qrem, &e) == 1)
				walk_peer(w, &e, msg, pos++);
			if (qrem)
				w->bad = true;
		} else if (a.type != T_DEV_IFNAME) {
			w->bad = true;
		}
	}
	if (rem)
		w->bad = true;
}

static void walk_free(struct walk *w)
{
	free(w->frags);
	free(w->ips);
	free(w);
}

/* Builds every message of d under limit and walks them. */
static struct walk *build_all(const struct wg_device *d, size_t limit)
{
	struct walk *w = calloc(1, sizeof(*w));
	struct wg_nl_cursor cur = {0};
	uint8_t buf[WG_NL_MSG_MAX];
	int len;

	for (uint32_t seq = 1;; seq++) {
		len = wg_nl_build_set(d, &cur, FAMILY, seq, buf, limit);
		if (len <= 0)
			break;
		CHECK((size_t)len <= limit);
		if (w->n_msgs == sizeof(w->msg_len) / sizeof(w->msg_len[0])) {
			len = -E2BIG;
			break;
		}
		walk_msg(w, buf, len, seq);
	}
	CHECK_INT(len, 0);
	CHECK(!w->bad);
	CHECK(!w->dev_attr_late);
	return w;
}

static void expect_sockaddr(const struct wg_endpoint *e, uint8_t *out, size_t *len)
{
	uint16_t fam = e->addr.family, port = htons(e->port);

	memset(out, 0, 28);
	memcpy(out, &fam, 2);
	memcpy(out + 2, &port, 2);
	if (fam == AF_INET) {
		memcpy(out + 4, &e->addr.v4, 4);
		*len = 16;
	} else {
		memcpy(out + 8, &e->addr.v6, 16);
		*len = 28;
	}
}

static bool prefix_same(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->addr.family == b->addr.family && a->len == b->len &&
	       !memcmp(&a->addr.v6, &b->addr.v6, a->addr.family == AF_INET ? 4 : 16);
}

/*
 * The union of all fragments equals the change set: peers in order, each a run of fragments;
 * the first carries the header, continuations only key + allowed IPs and open their message.
 */
static void check_union(const struct wg_device *d, const struct walk *w, bool expect_whole)
{
	size_t k = 0, splits = 0;

	for (size_t i = 0; i < d->n_peers; i++) {
		const struct wg_peer *p = &d->peers[i];
		bool removing = p->flags & WG_PEER_REMOVE;
		size_t ip = 0, salen;
		uint8_t sa[28];

		CHECK(k < w->n);
		if (k >= w->n)
			return;
		for (size_t n = 0; k < w->n && !memcmp(w->frags[k].key, p->public_key, 32);
		     n++, k++) {
			const struct frag *f = &w->frags[k];

			if (n == 0) {
				uint32_t want = removing ? T_F_REMOVE_ME
						: (p->flags & WG_PEER_REPLACE_ALLOWEDIPS)
							? T_F_REPLACE_ALLOWEDIPS
							: 0;

				CHECK(f->has_flags == (want != 0));
				CHECK(!f->has_flags || f->flags == want);
				CHECK(f->has_psk ==
				      (!removing && (p->flags & WG_PEER_HAS_PRESHARED_KEY)));
				CHECK(!f->has_psk || !memcmp(f->psk, p->preshared_key, 32));
				CHECK(f->has_ep ==
				      (!removing && (p->flags & WG_PEER_HAS_ENDPOINT)));
				if (f->has_ep) {
					expect_sockaddr(&p->endpoint, sa, &salen);
					CHECK(f->eplen == salen && !memcmp(f->ep, sa, salen));
				}
				CHECK(f->has_ka ==
				      (!removing && (p->flags & WG_PEER_HAS_KEEPALIVE)));
				CHECK(!f->has_ka || f->ka == p->keepalive);
			} else {
				/* A continuation: no flags, PSK, endpoint or keepalive. */
				CHECK(!f->has_flags && !f->has_psk && !f->has_ep && !f->has_ka);
				CHECK_INT(f->pos, 0);
				CHECK_INT(w->frags[k - 1].msg + 1, f->msg);
				splits++;
			}
			for (size_t j = 0; j < f->n_ips; j++, ip++)
				CHECK(ip < p->n_allowedips &&
				      prefix_same(&w->ips[f->ip_off + j], &p->allowedips[ip]));
		}
		CHECK_INT(ip, removing ? 0 : p->n_allowedips);
	}
	CHECK_INT(k, w->n);
	if (expect_whole)
		CHECK_INT(splits, 0);
}

static void mesh_peer(struct wg_peer *p, size_t i)
{
	char s[64];

	memset(p, 0, sizeof(*p));
	memset(p->public_key, 0x5a, 32);
	p->public_key[0] = i & 0xff;
	p->public_key[1] = i >> 8;
	if (i % 10 == 0) {
		p->flags = WG_PEER_REMOVE;
		return;
	}
	p->flags = WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE;
	if (i % 3 == 0) {
		p->flags |= WG_PEER_HAS_PRESHARED_KEY;
		key(p->preshared_key, i);
	}
	if (i % 4 == 0)
		p->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
	if (i % 2)
		snprintf(s, sizeof(s), "198.51.%zu.%zu", i / 250, i % 250);
	else
		snprintf(s, sizeof(s), "2001:db8::%zx", i);
	p->endpoint = ep(s, 51871 + i % 7);
	p->keepalive = i % 60;
	p->n_allowedips = 1 + i % 3;
	p->allowedips = calloc(p->n_allowedips, sizeof(*p->allowedips));
	for (size_t j = 0; j < p->n_allowedips; j++) {
		if (j == 1)
			snprintf(s, sizeof(s), "fd00:15::%zx/128", i);
		else
			snprintf(s, sizeof(s), "10.%zu.%zu.%zu/%u", 15 + j, i / 256, i % 256,
				 j ? 24 : 32);
		p->allowedips[j] = pfx(s);
	}
}

static void free_peers(struct wg_device *d)
{
	for (size_t i = 0; i < d->n_peers; i++)
		free(d->peers[i].allowedips);
	free(d->peers);
}

static void test_split_1000_peers(void)
{
	struct wg_device d = changes_new();
	size_t limits[] = {WG_NL_MSG_MAX, 700, 300};

	d.n_peers = 1000;
	d.peers = calloc(d.n_peers, sizeof(*d.peers));
	for (size_t i = 0; i < d.n_peers; i++)
		mesh_peer(&d.peers[i], i);
	d.flags = WG_DEVICE_HAS_LISTEN_PORT;
	d.listen_port = 51871;
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		struct walk *w = build_all(&d, limits[l]);

		/* At 4096 bytes no peer of at most 3 allowed IPs is ever split. */
		check_union(&d, w, limits[l] == WG_NL_MSG_MAX);
		CHECK(w->n_msgs > 1);
		/* Messages are packed: the peer that opens the next one did not fit. */
		for (size_t k = 1; k < w->n; k++)
			if (w->frags[k].msg != w->frags[k - 1].msg && w->frags[k].pos == 0 &&
			    memcmp(w->frags[k].key, w->frags[k - 1].key, 32))
				CHECK(w->msg_len[w->frags[k - 1].msg] + w->frags[k].size >
				      limits[l]);
		if (limits[l] == WG_NL_MSG_MAX)
			printf("# 1000 peers: %zu messages of <= %d bytes\n", w->n_msgs,
			       WG_NL_MSG_MAX);
		walk_free(w);
	}
	free_peers(&d);
}

static void test_split_500_allowedips(void)
{
	struct wg_device d = changes_new();
	struct walk *w;
	size_t n_split = 0;
	char s[64];

	d.n_peers = 3;
	d.peers = calloc(d.n_peers, sizeof(*d.peers));
	mesh_peer(&d.peers[0], 1);
	mesh_peer(&d.peers[2], 2);
	mesh_peer(&d.peers[1], 3); /* PSK, endpoint, keepalive */
	d.peers[1].flags |= WG_PEER_REPLACE_ALLOWEDIPS;
	free(d.peers[1].allowedips);
	d.peers[1].n_allowedips = 500;
	d.peers[1].allowedips = calloc(500, sizeof(struct ip_prefix));
	for (size_t j = 0; j < 500; j++) {
		if (j % 3)
			snprintf(s, sizeof(s), "10.20.%zu.%zu/32", j / 256, j % 256);
		else
			snprintf(s, sizeof(s), "fd00:20::%zx/128", j);
		d.peers[1].allowedips[j] = pfx(s);
	}
	w = build_all(&d, WG_NL_MSG_MAX);
	check_union(&d, w, false);
	for (size_t k = 0; k < w->n; k++)
		n_split += !memcmp(w->frags[k].key, d.peers[1].public_key, 32);
	/* 500 IPs of 28-40 bytes need several 4 KiB messages. */
	CHECK(n_split >= 4);
	CHECK(w->frags[1].has_flags && w->frags[1].flags == T_F_REPLACE_ALLOWEDIPS);
	walk_free(w);
	free_peers(&d);
}

/* ---- reply parsers ----------------------------------------------------------------------- */

static int feed_fixture(int (*fn)(struct wg_nl_reply *, const void *, size_t),
			struct wg_nl_reply *r, const char *name)
{
	size_t len;
	void *buf = read_fixture(name, &len);
	int ret = fn(r, buf, len);

	free(buf);
	return ret;
}

static struct wg_nl_reply dump_reply(struct wg_device *d)
{
	struct wg_nl_reply r = {.seq = SEQ_GET, .portid = PORTID, .family = FAMILY, .dev = d};

	return r;
}

static void check_split_device(const struct wg_device *d)
{
	uint8_t k[32];
	const struct wg_peer *a, *b;
	char s[ADDR_STRLEN];

	CHECK_STR(d->name, "wg0");
	CHECK_INT(d->flags & (WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT),
		  WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT);
	CHECK_INT(d->listen_port, 51871);
	key(k, 0x20);
	k[0] &= 248;
	k[31] = (k[31] & 127) | 64;
	CHECK(!memcmp(d->private_key, k, 32));
	key(k, 0x60);
	CHECK(!memcmp(d->public_key, k, 32));
	CHECK_INT(d->n_peers, 2);
	if (d->n_peers != 2)
		return;
	a = &d->peers[0];
	b = &d->peers[1];
	key(k, 0x01);
	CHECK(!memcmp(a->public_key, k, 32));
	key(k, 0x41);
	CHECK(!memcmp(a->preshared_key, k, 32));
	CHECK(a->flags & WG_PEER_HAS_PRESHARED_KEY);
	CHECK(a->flags & WG_PEER_HAS_ENDPOINT);
	CHECK_STR(addr_fmt_endpoint(&a->endpoint.addr, a->endpoint.port, s), "192.0.2.1:51871");
	CHECK_INT(a->keepalive, 25);
	CHECK_INT(a->last_handshake_sec, 1700000000);
	CHECK_INT(a->last_handshake_nsec, 123);
	CHECK_INT(a->rx_bytes, 0x1122334455LL);
	CHECK_INT(a->tx_bytes, 77);
	/* Two IPs from the first message, one from the repeated peer in the second. */
	CHECK_INT(a->n_allowedips, 3);
	if (a->n_allowedips == 3) {
		struct ip_prefix want[3] = {pfx("10.15.0.2/32"), pfx("10.15.1.0/24"),
					    pfx("fd00:15::2/128")};

		for (int i = 0; i < 3; i++)
			CHECK(prefix_same(&a->allowedips[i], &want[i]));
	}
	key(k, 0xc0);
	CHECK(!memcmp(b->public_key, k, 32));
	CHECK(!(b->flags & WG_PEER_HAS_PRESHARED_KEY)); /* all zero = none */
	CHECK_STR(addr_fmt_endpoint(&b->endpoint.addr, b->endpoint.port, s), "[2001:db8::7]:443");
	CHECK(b->flags & WG_PEER_HAS_KEEPALIVE);
	CHECK_INT(b->keepalive, 0);
	CHECK_INT(b->last_handshake_sec, 0);
	CHECK_INT(b->n_allowedips, 1);
}

static void test_dump_split_peer(void)
{
	struct wg_device *d = wg_device_new("wg0");
	struct wg_nl_reply r = dump_reply(d);

	CHECK_INT(feed_fixture(wg_nl_feed_dump, &r, "dump-split-1.bin"), 1);
	CHECK_INT(feed_fixture(wg_nl_feed_dump, &r, "dump-split-2.bin"), 0);
	check_split_device(d);
	wg_device_free(d);
}

static void test_dump_one_datagram(void)
{
	size_t l1, l2;
	uint8_t *b1 = read_fixture("dump-split-1.bin", &l1);
	uint8_t *b2 = read_fixture("dump-split-2.bin", &l2);
	uint8_t *buf = malloc(l1 + l2);
	struct wg_device *d = wg_device_new("wg0");
	struct wg_nl_reply r = dump_reply(d);

	memcpy(buf, b1, l1);
	memcpy(buf + l1, b2, l2);
	CHECK_INT(wg_nl_feed_dump(&r, buf, l1 + l2), 0);
	check_split_device(d);
	wg_device_free(d);

	d = wg_device_new("wg0");
	r = dump_reply(d);
	CHECK_INT(feed_fixture(wg_nl_feed_dump, &r, "dump-nopeers.bin"), 0);
	CHECK_INT(d->n_peers, 0);
	CHECK_INT(d->listen_port, 51871);
	wg_device_free(d);
	free(b1);
	free(b2);
	free(buf);
}

static int dump_fixture(const char *name)
{
	struct wg_device *d = wg_device_new("wg0");
	struct wg_nl_reply r = dump_reply(d);
	int ret = feed_fixture(wg_nl_feed_dump, &r, name);

	wg_device_free(d);
	return ret;
}

static void test_dump_errors(void)
{
	struct wg_device *d;
	struct wg_nl_reply r;

	CHECK_INT(dump_fixture("dump-intr.bin"), -EINTR);
	CHECK_INT(dump_fixture("dump-enodev.bin"), -ENODEV);
	CHECK_INT(dump_fixture("dump-done-error.bin"), -EMSGSIZE);
	CHECK_INT(dump_fixture("dump-bad-keylen.bin"), -EINVAL);
	CHECK_INT(dump_fixture("dump-bad-ipaddr.bin"), -EINVAL);
	CHECK_INT(dump_fixture("dump-bad-endpoint.bin"), -EINVAL);
	CHECK_INT(dump_fixture("dump-no-pubkey.bin"), -EINVAL);

	/* Sequence number and port id are checked (libmnl: EPROTO, ESRCH). */
	d = wg_device_new("wg0");
	r = dump_reply(d);
	r.seq = 0x999;
	CHECK_INT(feed_fixture(wg_nl_feed_dump, &r, "dump-split-1.bin"), -EPROTO);
	r = dump_reply(d);
	r.portid = 0x999;
	CHECK_INT(feed_fixture(wg_nl_feed_dump, &r, "dump-split-1.bin"), -ESRCH);
	/* A message of another family is not ours. */
	r = dump_reply(d);
	r.family = FAMILY + 1;
	CHECK_INT(feed_fixture(wg_nl_feed_dump, &r, "dump-split-1.bin"), -EINVAL);
	wg_device_free(d);
}

static void test_dump_truncated(void)
{
	size_t len, bad = 0;
	uint8_t *orig = read_fixture("dump-split-1.bin", &len);
	uint8_t *buf = malloc(len);
	uint32_t nlen;
	int ret;

	for (size_t l = 0; l < len; l++) {
		struct wg_device *d = wg_device_new("wg0");
		struct wg_nl_reply r = dump_reply(d);

		/* A datagram cut anywhere: never a whole message. */
		memcpy(buf, orig, l);
		CHECK_INT(wg_nl_feed_dump(&r, buf, l), -EINVAL);
		/* A message whose length says it ends early: attributes are cut. */
		if (l >= 20) {
			nlen = l;
			memcpy(buf, orig, l);
			memcpy(buf, &nlen, 4);
			r = dump_reply(d);
			ret = wg_nl_feed_dump(&r, buf, l);
			CHECK(ret == 1 || ret == -EINVAL);
			bad += ret == -EINVAL;
		}
		wg_device_free(d);
	}
	CHECK(bad > len / 2);
	/* Every byte flipped in turn: any result, but no crash (ASan) and no success with junk. */
	for (size_t i = 0; i < len; i++) {
		for (unsigned v = 0; v < 256; v += 51) {
			struct wg_device *d = wg_device_new("wg0");
			struct wg_nl_reply r = dump_reply(d);

			memcpy(buf, orig, len);
			buf[i] ^= v | 1;
			ret = wg_nl_feed_dump(&r, buf, len);
			CHECK(ret <= 1);
			wg_device_free(d);
		}
	}
	free(orig);
	free(buf);
}

static void test_family_reply(void)
{
	struct wg_nl_reply r = {.seq = SEQ_FAMILY, .portid = PORTID};

	CHECK_INT(feed_fixture(wg_nl_feed_family, &r, "family-reply.bin"), 1);
	CHECK_INT(r.family, FAMILY);
	CHECK_INT(feed_fixture(wg_nl_feed_family, &r, "family-ack.bin"), 0);
	r.family = 0;
	CHECK_INT(feed_fixture(wg_nl_feed_family, &r, "family-enoent.bin"), -ENOENT);
	/* An ACK without the family message is no answer. */
	r.family = 0;
	CHECK_INT(feed_fixture(wg_nl_feed_family, &r, "family-ack.bin"), -EINVAL);
}

static void test_ack(void)
{
	struct wg_nl_reply r = {.seq = SEQ_SET, .portid = PORTID};

	CHECK_INT(feed_fixture(wg_nl_feed_ack, &r, "ack-ok.bin"), 0);
	CHECK_INT(feed_fixture(wg_nl_feed_ack, &r, "ack-einval.bin"), -EINVAL);
	r.seq = SEQ_GET;
	CHECK_INT(feed_fixture(wg_nl_feed_ack, &r, "ack-ok.bin"), -EPROTO);
}

/* ---- live: this host may have no WireGuard module ---------------------------------------- */

static void test_live_family(void)
{
	uint16_t family = 0;
	int r = wg_nl_resolve_family(&family);

	if (r == 0)
		printf("# kernel has WireGuard: family id 0x%x\n", family);
	else
		printf("# family lookup: %s\n", strerror(-r));
	CHECK(r == 0 || r == -EPROTONOSUPPORT);
	CHECK(r != 0 || family >= 0x10);
}

static void test_backend(void)
{
	struct wg_device d = changes_new();
	struct wg_device *got = NULL;
	int r;

	CHECK_STR(wg_backend_kernel.name, "kernel");
	/* A no-op change set sends nothing: works without any kernel support. */
	CHECK_INT(wg_backend_kernel.set(&d), 0);
	d.name[0] = '\0';
	d.flags = WG_DEVICE_HAS_LISTEN_PORT;
	CHECK_INT(wg_backend_kernel.set(&d), -EINVAL);
	r = wg_backend_kernel.get("cbtest-none0", &got);
	CHECK(r == -EPROTONOSUPPORT || r == -ENODEV);
	CHECK(!got);
}

int main(void)
{
	RUN(test_family_request);
	RUN(test_get_request);
	RUN(test_set_add_peer);
	RUN(test_set_remove);
	RUN(test_set_v6_endpoint);
	RUN(test_set_device);
	RUN(test_set_invalid);
	RUN(test_split_1000_peers);
	RUN(test_split_500_allowedips);
	RUN(test_dump_split_peer);
	RUN(test_dump_one_datagram);
	RUN(test_dump_errors);
	RUN(test_dump_truncated);
	RUN(test_family_reply);
	RUN(test_ack);
	RUN(test_live_family);
	RUN(test_backend);
	return test_exit();
}

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "../../bootstrap/config.h"
#include "../../bootstrap/wg.h"
#include "../../metadata/provider.h"
#include "mesh-seed.h"
#include "test.h"

static struct keys_mesh mk;

static void ep(struct record *r, const char *zone, const char *wan, const char *lan,
	       const char *wan6)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->zone, sizeof(r->zone), "%s", zone);
	if (wan)
		addr_parse(wan, &r->wan);
	if (lan)
		addr_parse(lan, &r->lan);
	if (wan6)
		addr_parse(wan6, &r->wan6);
}

static void test_endpoint_matrix(void)
{
	static const struct {
		const char *zone_a, *wan_a, *lan_a, *wan6_a;
		const char *zone_b, *wan_b, *lan_b, *wan6_b;
		enum mesh_path want;
		const char *want_ip;
	} cases[] = {
		/* same zone, both LAN */
		{"z", "1.1.1.1", "10.0.0.1", NULL, "z", "2.2.2.2", "10.0.0.2", NULL, MESH_PATH_LAN,
		 "10.0.0.2"},
		/* same zone, peer lacks LAN */
		{"z", "1.1.1.1", "10.0.0.1", NULL, "z", "2.2.2.2", NULL, NULL, MESH_PATH_WAN,
		 "2.2.2.2"},
		/* same zone, we lack LAN (the seed's rule would pick LAN here) */
		{"z", "1.1.1.1", NULL, NULL, "z", "2.2.2.2", "10.0.0.2", NULL, MESH_PATH_WAN,
		 "2.2.2.2"},
		/* different zones, both LAN */
		{"a", "1.1.1.1", "10.0.0.1", NULL, "b", "2.2.2.2", "10.0.0.2", NULL, MESH_PATH_WAN,
		 "2.2.2.2"},
		/* v4 preferred when both have both */
		{"a", "1.1.1.1", NULL, "2001:db8::1", "b", "2.2.2.2", NULL, "2001:db8::2",
		 MESH_PATH_WAN, "2.2.2.2"},
		/* v6-only pair */
		{"a", NULL, NULL, "2001:db8::1", "b", NULL, NULL, "2001:db8::2", MESH_PATH_WAN6,
		 "2001:db8::2"},
		/* we are v6-only, the peer dual-stack: v6 */
		{"a", NULL, NULL, "2001:db8::1", "b", "2.2.2.2", NULL, "2001:db8::2",
		 MESH_PATH_WAN6, "2001:db8::2"},
		/* the peer is v6-only, we dual-stack: v6 */
		{"a", "1.1.1.1", NULL, "2001:db8::1", "b", NULL, NULL, "2001:db8::2",
		 MESH_PATH_WAN6, "2001:db8::2"},
		/* the peer is v6-only, we v4-only: nothing */
		{"a", "1.1.1.1", NULL, NULL, "b", NULL, NULL, "2001:db8::2", MESH_PATH_NONE, NULL},
		/* the peer has no public address (it will reach us) */
		{"a", "1.1.1.1", NULL, NULL, "b", NULL, NULL, NULL, MESH_PATH_NONE, NULL},
		{"z", "1.1.1.1", "10.0.0.1", NULL, "z", NULL, NULL, NULL, MESH_PATH_NONE, NULL},
		/* we have nothing public: the peer's v4 is still reachable outbound */
		{"a", NULL, NULL, NULL, "b", "2.2.2.2", NULL, NULL, MESH_PATH_WAN, "2.2.2.2"},
	};
	struct record a, b;
	struct ip_addr got;
	char s[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum mesh_path p;

		ep(&a, cases[i].zone_a, cases[i].wan_a, cases[i].lan_a, cases[i].wan6_a);
		ep(&b, cases[i].zone_b, cases[i].wan_b, cases[i].lan_b, cases[i].wan6_b);
		memset(&got, 0xaa, sizeof(got));
		p = mesh_choose_endpoint(&a, &b, &got);
		if (p != cases[i].want) {
			fprintf(stderr, "  case %zu: %s, want %s\n", i, mesh_path_name(p),
				mesh_path_name(cases[i].want));
			test_failures++;
			continue;
		}
		if (cases[i].want_ip)
			CHECK_STR(addr_fmt(&got, s), cases[i].want_ip);
		else
			CHECK_INT(got.family, 0);
	}
	CHECK_STR(mesh_path_name(MESH_PATH_WAN6), "wan6");
	CHECK_STR(mesh_path_name(MESH_PATH_NONE), "none");
}

static void test_zone(void)
{
	struct md_instance inst = {0};
	struct config cfg;
	char out[128], small[8];

	config_init(&cfg);
	strcpy(inst.provider, "linode");
	strcpy(inst.region, "ap-south");
	CHECK_INT(mesh_zone(&cfg, &inst, out, sizeof(out)), 0);
	CHECK_STR(out, "linode/ap-south");
	strcpy(inst.private_net, "vpc-123");
	CHECK_INT(mesh_zone(&cfg, &inst, out, sizeof(out)), 0);
	CHECK_STR(out, "linode/ap-south/vpc-123");
	CHECK_INT(mesh_zone(&cfg, &inst, small, sizeof(small)), -ENAMETOOLONG);
	strcpy(cfg.zone, "dc1");
	CHECK_INT(mesh_zone(&cfg, &inst, out, sizeof(out)), 0);
	CHECK_STR(out, "dc1");
	cfg.zone[0] = '\0';
	inst.region[0] = '\0';
	CHECK_INT(mesh_zone(&cfg, &inst, out, sizeof(out)), -EINVAL);
}

static int build_for(int self_i, struct mesh_input *in, size_t n, const struct config *cfg,
		     struct mesh *m)
{
	struct record self;
	uint8_t priv[32];

	seed_record(self_i, &self);
	seed_private(self_i, priv);
	return mesh_build(cfg, &self, priv, mk.psk, in, n, 1700000100, m);
}

static const struct mesh_peer *find(const struct mesh *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n_peers; i++)
		if (!strcmp(m->peers[i].rec.name, name))
			return &m->peers[i];
	return NULL;
}

static void test_seed_layout(void)
{
	struct mesh_input in[SEED_NODES];
	struct mesh meshes[SEED_NODES];
	struct config cfg;
	struct record r;
	size_t n, k;
	int i, j;

	config_init(&cfg);
	for (i = 0; i < SEED_NODES; i++) {
		n = seed_inputs(i, in);
		CHECK_INT(build_for(i, in, n, &cfg, &meshes[i]), 0);
		CHECK_INT(meshes[i].n_peers, 5);
		CHECK_INT(meshes[i].n_skipped, 0);
		CHECK_STR(meshes[i].address_conflict, "");
		for (k = 1; k < meshes[i].n_peers; k++)
			CHECK(memcmp(meshes[i].peers[k - 1].rec.public_key,
				     meshes[i].peers[k].rec.public_key, 32) < 0);
	}
	for (i = 0; i < SEED_NODES; i++) {
		for (j = 0; j < SEED_NODES; j++) {
			const struct mesh_peer *p, *q;

			if (i == j)
				continue;
			seed_record(j, &r);
			p = find(&meshes[i], r.name);
			seed_record(i, &r);
			q = find(&meshes[j], r.name);
			CHECK(p && q);
			if (!p || !q)
				continue;
			CHECK_INT(p->path, i < 3 && j < 3 ? MESH_PATH_LAN : MESH_PATH_WAN);
			CHECK(addr_equal(&p->endpoint,
					 p->path == MESH_PATH_LAN ? &p->rec.lan : &p->rec.wan));
			CHECK_INT(p->endpoint_port, 51871);
			/* both ends derive the same PSK, and each pair its own */
			CHECK(!memcmp(p->psk, q->psk, 32));
			CHECK(!sodium_is_zero(p->psk, 32));
		}
	}
	CHECK(memcmp(find(&meshes[0], "linode-node-2")->psk, find(&meshes[0], "linode-node-3")->psk,
		     32));
	for (i = 0; i < SEED_NODES; i++)
		mesh_free(&meshes[i]);
	CHECK(meshes[0].peers == NULL && meshes[0].n_peers == 0);
}

static bool skipped(const struct mesh *m, const char *object, const char *reason_part)
{
	size_t i;

	for (i = 0; i < m->n_skipped; i++)
		if (!strcmp(m->skipped[i].object, object) &&
		    strstr(m->skipped[i].reason, reason_part))
			return true;
	return false;
}

static void test_skip_rules(void)
{
	struct mesh_input in[SEED_NODES + 6];
	struct config cfg;
	struct mesh m;
	size_t n;

	config_init(&cfg);
	n = seed_inputs(0, in);
	/* 5: our own key under another name */
	in[n] = in[0];
	strcpy(in[n].object, "clique/nodes/50");
	seed_record(0, &in[n].rec);
	addr_parse("10.15.9.9", &in[n].rec.address);
	n++;
	/* 6: a copy of node 4's key under a lower object name wins over "clique/nodes/04" */
	in[n] = in[3];
	strcpy(in[n].object, "clique/nodes/0");
	strcpy(in[n].rec.name, "impostor");
	addr_parse("10.15.9.10", &in[n].rec.address);
	n++;
	/* 7: outside the network */
	in[n] = in[0];
	strcpy(in[n].object, "clique/nodes/70");
	in[n].rec.public_key[0] ^= 0x55;
	addr_parse("10.16.0.1", &in[n].rec.address);
	n++;
	/* 8: the broadcast address of the network */
	in[n] = in[0];
	strcpy(in[n].object, "clique/nodes/80");
	in[n].rec.public_key[1] ^= 0x55;
	addr_parse("10.15.255.255", &in[n].rec.address);
	n++;
	/* 9: holds our address (10.15.0.1) */
	in[n] = in[0];
	strcpy(in[n].object, "clique/nodes/90");
	strcpy(in[n].rec.name, "squatter");
	in[n].rec.public_key[2] ^= 0x55;
	addr_parse("10.15.0.1", &in[n].rec.address);
	n++;
	/* 10: node 2's address (10.15.0.3) under a higher object name */
	in[n] = in[0];
	strcpy(in[n].object, "clique/nodes/99");
	in[n].rec.public_key[3] ^= 0x55;
	addr_parse("10.15.0.3", &in[n].rec.address);
	n++;

	CHECK_INT(build_for(0, in, n, &cfg, &m), 0);
	CHECK_INT(m.n_peers, 5);
	CHECK_INT(m.n_skipped, 6);
	CHECK(skipped(&m, "clique/nodes/50", "our own public key"));
	CHECK(skipped(&m, "clique/nodes/04", "duplicate public key of node 'impostor'"));
	CHECK(find(&m, "impostor") != NULL);
	CHECK(skipped(&m, "clique/nodes/70", "10.16.0.1 is not a host address of network"));
	CHECK(skipped(&m, "clique/nodes/80", "10.15.255.255"));
	CHECK(skipped(&m, "clique/nodes/90", "holds our address"));
	CHECK_STR(m.address_conflict, "squatter");
	CHECK(skipped(&m, "clique/nodes/99", "already held by node 'linode-node-3'"));
	/* skipped list in object order */
	CHECK(strcmp(m.skipped[0].object, m.skipped[1].object) < 0);
	mesh_free(&m);
}

static void test_expiry(void)
{
	struct mesh_input in[SEED_NODES];
	struct config cfg;
	struct mesh m;
	size_t n;

	config_init(&cfg);
	n = seed_inputs(0, in);
	in[0].last_modified = 1700000100 - 4000; /* linode-node-2 */
	in[1].last_modified = 0;		 /* unknown: kept */
	in[2].last_modified = 1700000100 - 3600; /* exactly expire_after: kept */
	CHECK_INT(build_for(0, in, n, &cfg, &m), 0);
	CHECK_INT(m.n_peers, 5);
	mesh_free(&m);
	cfg.expire_after = 3600;
	CHECK_INT(build_for(0, in, n, &cfg, &m), 0);
	CHECK_INT(m.n_peers, 4);
	CHECK_INT(m.n_skipped, 1);
	CHECK(skipped(&m, "clique/nodes/01", "expired"));
	mesh_free(&m);
}

static void test_edge_inputs(void)
{
	struct config cfg;
	struct record self;
	struct mesh m;
	uint8_t priv[32];

	config_init(&cfg);
	seed_record(0, &self);
	seed_private(0, priv);
	CHECK_INT(mesh_build(&cfg, &self, priv, mk.psk, NULL, 0, 0, &m), 0);
	CHECK_INT(m.n_peers, 0);
	mesh_free(&m);
	memset(&self.address, 0, sizeof(self.address));
	CHECK_INT(mesh_build(&cfg, &self, priv, mk.psk, NULL, 0, 0, &m), -EINVAL);
}

static void test_to_device(void)
{
	struct mesh_input in[SEED_NODES];
	struct wg_device *d = NULL;
	struct config cfg;
	struct mesh m;
	uint8_t priv[32], pub[32];
	size_t i, n;

	config_init(&cfg);
	cfg.keepalive = 15;
	cfg.listen_port = 51000;
	n = seed_inputs(0, in);
	memset(&in[4].rec.wan, 0, sizeof(in[4].rec.wan)); /* vultr-node-3: no endpoint */
	CHECK_INT(build_for(0, in, n, &cfg, &m), 0);
	CHECK_INT(mesh_to_device(&cfg, &m, &d), 0);
	if (!d) {
		mesh_free(&m);
		return;
	}
	CHECK_STR(d->name, "wg0");
	CHECK(d->flags & WG_DEVICE_HAS_PRIVATE_KEY);
	CHECK(d->flags & WG_DEVICE_HAS_LISTEN_PORT);
	CHECK_INT(d->listen_port, 51000);
	seed_private(0, priv);
	CHECK(!memcmp(d->private_key, priv, 32));
	keys_public(priv, pub);
	CHECK(!memcmp(d->public_key, pub, 32));
	CHECK_INT(d->n_peers, 5);
	for (i = 0; i < d->n_peers && i < m.n_peers; i++) {
		const struct wg_peer *p = &d->peers[i];
		const struct mesh_peer *mp = &m.peers[i];

		CHECK(!memcmp(p->public_key, mp->rec.public_key, 32));
		CHECK(!memcmp(p->preshared_key, mp->psk, 32));
		CHECK(p->flags & WG_PEER_HAS_PRESHARED_KEY);
		CHECK_INT(p->keepalive, 15);
		CHECK_INT(p->n_allowedips, 1);
		CHECK_INT(p->allowedips[0].len, 32);
		CHECK(addr_equal(&p->allowedips[0].addr, &mp->rec.address));
		if (!strcmp(mp->rec.name, "vultr-node-3")) {
			CHECK(!(p->flags & WG_PEER_HAS_ENDPOINT));
			CHECK_INT(p->endpoint.addr.family, 0);
		} else {
			CHECK(p->flags & WG_PEER_HAS_ENDPOINT);
			CHECK(addr_equal(&p->endpoint.addr, &mp->endpoint));
			CHECK_INT(p->endpoint.port, 51871);
		}
	}
	wg_device_free(d);
	mesh_free(&m);
}

/*
 * Node a adds node b to a device that does not have it (a boot run, or the refresh that sees b
 * join), `age` seconds after a created its record, b's or a's record changed by edit; returns
 * whether a's change set turns persistent keepalive on for b, i.e. whether a sends a handshake
 * initiation the moment the set lands.
 */
static bool initiates(int a, int b, void (*edit)(struct record *), bool b_on_device, time_t age)
{
	struct wg_device *live, *want = NULL, *changes = NULL;
	struct wg_peer *lp;
	struct mesh_input in;
	struct record self;
	struct config cfg;
	struct mesh m;
	uint8_t priv[32];
	bool on = false;

	config_init(&cfg);
	cfg.keepalive = 25;
	memset(&in, 0, sizeof(in));
	snprintf(in.object, sizeof(in.object), "clique/nodes/%02d", b);
	seed_record(b, &in.rec);
	seed_record(a, &self);
	if (edit)
		edit(b == 0 ? &in.rec : &self); /* the edit is about node 0 */
	seed_private(a, priv);
	live = wg_device_new("wg0");
	CHECK_INT(mesh_build(&cfg, &self, priv, mk.psk, &in, 1, self.created + age, &m), 0);
	CHECK_INT(mesh_to_device(&cfg, &m, &want), 0);
	if (want && b_on_device) {
		/* b is on the device already, keepalive still off */
		CHECK_INT(wg_device_add_peer(live, &lp), 0);
		memcpy(lp->public_key, want->peers[0].public_key, WG_KEY_LEN);
		memcpy(lp->preshared_key, want->peers[0].preshared_key, WG_KEY_LEN);
		lp->endpoint = want->peers[0].endpoint;
		CHECK_INT(wg_peer_add_allowedip(lp, &want->peers[0].allowedips[0]), 0);
	}
	CHECK_INT(wg_diff(live, want, &changes), 0);
	if (changes) {
		mesh_hold_keepalive(&m, self.created, self.created + age, live, changes);
		CHECK_INT(changes->n_peers, 1);
		/* keepalive always said: 25 turns it on, a held 0 is sent as 0 (mesh.c) */
		CHECK(changes->n_peers && (changes->peers[0].flags & WG_PEER_HAS_KEEPALIVE));
		on = changes->n_peers && changes->peers[0].keepalive == 25;
	}
	wg_device_free(changes);
	wg_device_free(want);
	wg_device_free(live);
	mesh_free(&m);
	return on;
}

static void newer(struct record *r)
{
	r->created++;
}

static void much_newer(struct record *r)
{
	r->created += MESH_JOIN_TOGETHER_S + 1;
}

static void private_only(struct record *r)
{
	memset(&r->wan, 0, sizeof(r->wan));
	memset(&r->lan, 0, sizeof(r->lan));
}

/* Two nodes joining together and adding each other at once: exactly one starts the handshake. */
static void test_one_end_initiates(void)
{
	int a, b;

	for (a = 0; a < SEED_NODES; a++) {
		for (b = a + 1; b < SEED_NODES; b++) {
			/* booted in the same second: the smaller public key starts */
			CHECK_INT(initiates(a, b, NULL, false, 3) + initiates(b, a, NULL, false, 3),
				  1);
			/* the same pair a day later (a reboot from the cache): both start */
			CHECK_INT(initiates(a, b, NULL, false, 86400) +
					  initiates(b, a, NULL, false, 86400),
				  2);
		}
	}
	/* the older node starts: node 0 is newer than 1 here, whatever the keys say */
	CHECK(!initiates(0, 1, newer, false, 3));
	CHECK(initiates(1, 0, newer, false, 3));
	/* not together: a new node and an old one both initiate (the old one did not know it) */
	CHECK(initiates(0, 1, much_newer, false, 3));
	CHECK(initiates(1, 0, much_newer, false, 3));
	/* a node nobody can reach (no WAN, no LAN) starts itself, older or not */
	CHECK(initiates(0, 4, private_only, false, 3));
	/* a peer already on the device gets its keepalive as always */
	CHECK(initiates(0, 1, newer, true, 3));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	keys_derive_mesh(seed_mesh_key, &mk);
	RUN(test_endpoint_matrix);
	RUN(test_zone);
	RUN(test_seed_layout);
	RUN(test_skip_rules);
	RUN(test_expiry);
	RUN(test_edge_inputs);
	RUN(test_to_device);
	RUN(test_one_end_initiates);
	keys_mesh_wipe(&mk);
	return test_exit();
}

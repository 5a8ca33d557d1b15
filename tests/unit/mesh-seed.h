/*
 * The seed's six-node layout (shared/reference/peers-and-lessons.md 1.1): three Linodes in
 * ap-south with private IPs, three Vultrs in sgp without; 10.15.0.x and 10.15.1.x of a /16.
 * Keys are fixed so PSKs and rendered units are reproducible. Shared by test-mesh and
 * test-networkd.
 */
#ifndef CLIQUE_TEST_MESH_SEED_H
#define CLIQUE_TEST_MESH_SEED_H

#include <stdio.h>
#include <string.h>

#include "../../bootstrap/keys.h"
#include "../../bootstrap/mesh.h"

#define SEED_NODES 6

static const uint8_t seed_mesh_key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
					  12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					  23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static inline void seed_private(int i, uint8_t out[32])
{
	memset(out, 0x10 * (i + 1), 32);
	keys_clamp(out);
}

/* Node i: 0-2 Linode, 3-5 Vultr. */
static inline void seed_record(int i, struct record *r)
{
	uint8_t priv[32];
	char ip[ADDR_STRLEN];
	bool linode = i < 3;
	int k = (i % 3) + 1;

	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s-node-%d", linode ? "linode" : "vultr", k);
	snprintf(r->provider, sizeof(r->provider), "%s", linode ? "linode" : "vultr");
	snprintf(r->region, sizeof(r->region), "%s", linode ? "ap-south" : "sgp");
	snprintf(r->zone, sizeof(r->zone), "%s", linode ? "linode/ap-south" : "vultr/sgp");
	seed_private(i, priv);
	keys_public(priv, r->public_key);
	snprintf(ip, sizeof(ip), "10.15.%d.%d", linode ? 0 : 1, k);
	addr_parse(ip, &r->address);
	r->port = 51871;
	snprintf(ip, sizeof(ip), "%s.%d", linode ? "172.105.40" : "139.180.130", 10 + k);
	addr_parse(ip, &r->wan);
	if (linode) {
		snprintf(ip, sizeof(ip), "192.168.139.%d", 10 + k);
		addr_parse(ip, &r->lan);
	}
	r->created = r->updated = 1700000000;
	r->seq = 1;
}

/* Every node but self as input, object names "clique/nodes/<i>". */
static inline size_t seed_inputs(int self, struct mesh_input *in)
{
	size_t n = 0;
	int i;

	for (i = 0; i < SEED_NODES; i++) {
		if (i == self)
			continue;
		memset(&in[n], 0, sizeof(in[n]));
		snprintf(in[n].object, sizeof(in[n].object), "clique/nodes/%02d", i);
		seed_record(i, &in[n].rec);
		in[n].last_modified = 1700000000;
		n++;
	}
	return n;
}

#endif

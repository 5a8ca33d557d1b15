/*
 * address = auto (DESIGN.md 5): a node owns a mesh address by holding its claim object in the
 * bucket. Claim names are keyed hashes like record names (the bucket shows no IP), claims are
 * sealed like records and bound to their name, and they name the claiming node by its record
 * object, so a node that lost its state still recognises its own claim.
 */
#ifndef CLIQUE_CLAIM_H
#define CLIQUE_CLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "buf.h"
#include "record.h"

struct s3_client;

struct claim {
	char node[RECORD_OBJECT_MAX]; /* record object name of the claiming node */
	struct ip_addr address;
	uint64_t claimed; /* unix seconds, informational */
};

/* "<prefix>addrs/<32 hex of keyed BLAKE2b(name subkey, "addr:" ip)>" */
int claim_object_name(const uint8_t name_key[32], const char *prefix, const struct ip_addr *a,
		      char *ret_name, size_t name_size);
/* Addresses in [start, end] (IPv4); 0 when end < start. */
uint32_t claim_pool_size(const struct ip_addr *start, const struct ip_addr *end);
/* The i-th candidate of node: start + (hash(node) + i) mod size. -ERANGE on an empty pool. */
int claim_candidate(const uint8_t name_key[32], const char *node, const struct ip_addr *start,
		    const struct ip_addr *end, uint32_t i, struct ip_addr *ret);
int claim_seal(const uint8_t record_key[32], const char *object, const struct claim *c,
	       struct buf *ret_envelope);
/* Pure. The errors of record_open(). */
int claim_open(const uint8_t record_key[32], const char *object, const char *buf, size_t len,
	       struct claim *ret);

/* One node's claiming, against the bucket. */
struct claim_ctx {
	struct s3_client *s3;
	const uint8_t *name_key, *record_key;
	const char *prefix;
	const char *node;   /* own record object name */
	bool honoured;	    /* the store refuses a second If-None-Match: * PUT */
	unsigned settle_ms; /* write-then-verify: wait before judging (0 = 2500) */
	unsigned lost;	    /* conditional PUTs the store refused (412), for the summary */
};

/*
 * PUTs a scratch key twice with If-None-Match: * and deletes it: 1 when the second PUT was
 * refused (the store honours the condition), 0 when it was accepted, -errno on failure.
 */
int claim_probe(struct s3_client *s3, const char *prefix);
/*
 * Tries to own address a: 1 when it is ours now (claimed, or our own claim found), 0 when another
 * node holds it, -errno when the bucket failed. ret_object (RECORD_OBJECT_MAX) gets our claim
 * object on 1. Where the store ignores the condition: write-then-verify with a deterministic
 * winner (the earliest intent by LastModified, then by name).
 */
int claim_try(struct claim_ctx *ctx, const struct ip_addr *a, char *ret_object);

#endif

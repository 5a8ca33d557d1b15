/* The fixed mesh record key and object names shared by the record harnesses and seed-records. */
#ifndef CLIQUE_FUZZ_RECORD_H
#define CLIQUE_FUZZ_RECORD_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "../../bootstrap/record.h"
#include "fuzz.h"

#define FUZZ_RECORD_OBJECT "clique/nodes/00112233445566778899aabbccddeeff"
#define FUZZ_RECORD_OTHER "clique/nodes/ffeeddccbbaa99887766554433221100"

static const uint8_t fuzz_record_key[32] = {
	0x43, 0x6c, 0x69, 0x71, 0x75, 0x65, 0x2d, 0x62, 0x6f, 0x6f, 0x74,
	0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x72, 0x65, 0x63, 0x6f, 0x72,
	0x64, 0x20, 0x6b, 0x65, 0x79, 0x20, 0x30, 0x30, 0x30, 0x31,
};

/* What record.h promises of an opened record: strings safe for unit files and logs. */
static inline void fuzz_record_check(const struct record *rec)
{
	FUZZ_ASSERT(record_check_string(rec->name, sizeof(rec->name)) == 0);
	FUZZ_ASSERT(record_check_string(rec->zone, sizeof(rec->zone)) == 0);
	FUZZ_ASSERT(record_check_string(rec->region, sizeof(rec->region)) == 0);
	FUZZ_ASSERT(record_check_string(rec->provider, sizeof(rec->provider)) == 0);
	FUZZ_ASSERT(rec->address.family == AF_INET);
}

static inline int fuzz_addr_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return 0;
	if (a->family == AF_INET)
		return !memcmp(&a->v4, &b->v4, sizeof(a->v4));
	return !a->family || !memcmp(&a->v6, &b->v6, sizeof(a->v6));
}

/* Field by field: padding and the bytes after a string's terminator carry no meaning. */
static inline int fuzz_record_equal(const struct record *a, const struct record *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->provider, b->provider) &&
	       !strcmp(a->region, b->region) && !strcmp(a->zone, b->zone) &&
	       !memcmp(a->public_key, b->public_key, sizeof(a->public_key)) &&
	       fuzz_addr_equal(&a->address, &b->address) && a->port == b->port &&
	       fuzz_addr_equal(&a->wan, &b->wan) && fuzz_addr_equal(&a->lan, &b->lan) &&
	       fuzz_addr_equal(&a->wan6, &b->wan6) && a->created == b->created &&
	       a->updated == b->updated && a->seq == b->seq;
}

/* What record_seal() wrote opens to the same record. */
static inline void fuzz_record_roundtrip(const struct record *rec, const struct buf *sealed)
{
	struct record back;

	FUZZ_ASSERT(record_open(fuzz_record_key, FUZZ_RECORD_OBJECT, sealed->data, sealed->len,
				&back) == 0);
	FUZZ_ASSERT(fuzz_record_equal(rec, &back));
}

#endif

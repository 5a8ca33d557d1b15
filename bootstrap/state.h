/*
 * The state directory (default /var/lib/clique-boot, 0700): the private key, the lock that
 * serialises runs, and state.json: what we published, the last metadata, and the sealed peer
 * records by object name with their ETags (the ETag cache and the last peer set in one file).
 */
#ifndef CLIQUE_STATE_H
#define CLIQUE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "record.h"
#include "s3.h"
#include "../metadata/provider.h"

#define STATE_FILE_MAX (16u << 20)
#define STATE_CLOCK_OFFSET_MAX (366L * 86400) /* a clock off by more is not kept */

struct state_peer {
	char object[RECORD_OBJECT_MAX];
	char etag[S3_ETAG_MAX];
	time_t last_modified;
	char *body; /* sealed record as stored in the bucket */
	size_t body_len;
};

/* Whether the bucket refuses a second PUT with If-None-Match: * (probed once per bucket). */
enum state_cond_put {
	STATE_COND_PUT_UNKNOWN,
	STATE_COND_PUT_HONOURED,
	STATE_COND_PUT_IGNORED,
};

struct state {
	/* own record as last published */
	char self_object[RECORD_OBJECT_MAX];
	char self_etag[S3_ETAG_MAX];
	uint64_t self_seq, self_created;
	uint8_t self_digest[32]; /* of the stable payload fields; all zero = never published */
	bool has_metadata;
	struct md_instance metadata;
	/* address = auto: the address we hold and its claim object (family 0 = none) */
	struct ip_addr claim_address;
	char claim_object[RECORD_OBJECT_MAX];
	/* the probe's answer and the bucket it is about ("endpoint/bucket/prefix") */
	enum state_cond_put cond_put;
	char cond_put_bucket[512];
	/* seconds the bucket's clock is ahead of ours, as the last run learned it from Date
	 * headers, and the bucket_endpoint it is about: the next run signs with it at once */
	long clock_offset;
	char clock_endpoint[256];
	/* --leave ran: --refresh stays away until a plain run joins again */
	bool left;
	struct state_peer *peers; /* sorted by object name */
	size_t n_peers, cap_peers;
};

/* Pure. An empty buffer is an empty state. -EINVAL/-EBADMSG on anything malformed. */
int state_parse(const char *buf, size_t len, struct state *ret);
int state_serialize(const struct state *st, struct buf *out);
/* Missing file = empty state. */
int state_load(const char *path, struct state *ret);
/* Atomic, 0600, only when the content changed: 1 written, 0 unchanged. */
int state_save(const char *path, const struct state *st);
void state_free(struct state *st);
struct state_peer *state_find_peer(const struct state *st, const char *object);
/* Copies body; keeps peers sorted. */
int state_put_peer(struct state *st, const char *object, const char *etag, time_t last_modified,
		   const char *body, size_t len);

/* flock(LOCK_EX) on <dir>/lock, waiting for a concurrent run; returns the fd (O_CLOEXEC). */
int state_lock(const char *dir);

#endif

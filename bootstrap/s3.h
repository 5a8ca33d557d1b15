/*
 * S3 client for Ceph RGW (Linode/Vultr Object Storage): path-style URLs, SigV4 signed by hand,
 * x-amz-content-sha256 on every request, retries with backoff on 5xx/SlowDown, clock-skew
 * correction from the Date header (shared/reference/metadata-and-s3.md C, D).
 */
#ifndef CLIQUE_S3_H
#define CLIQUE_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

struct config;

#define S3_KEY_MAX 1025 /* S3 keys are at most 1024 bytes: every legal key fits */
#define S3_ETAG_MAX 80
#define S3_RECORD_MAX 4096
#define S3_LIST_MAX 100000 /* objects in one listing (~150 B each); more is -E2BIG */

struct s3_stats {
	unsigned list, get, put, del, retries;
};

struct s3_client {
	char endpoint[256]; /* scheme://host[:port], no trailing slash */
	char bucket[64];
	char region[32];
	char access_key[128];
	char secret_key[128];  /* wiped by s3_client_wipe() */
	long clock_offset;     /* seconds to add to time(): server - local */
	bool skew_seen;	       /* a correction happened (main logs it once) */
	unsigned max_attempts; /* per request; default 5 */
	unsigned max_parallel; /* s3_get_many; default 16 */
	uint64_t deadline_ms;  /* CLOCK_MONOTONIC ms after which nothing is sent; 0 = none */
	struct s3_stats stats;
	/* why the last call failed ("HTTP 403 SignatureDoesNotMatch, request tx00...-default") */
	char last_error[192];
};

struct s3_object {
	char *key;		/* decoded; owned by the listing */
	char etag[S3_ETAG_MAX]; /* unquoted */
	time_t last_modified;	/* server clock */
	uint64_t size;
};

struct s3_listing {
	struct s3_object *objects;
	size_t n, cap;
};

struct s3_get_result {
	int result; /* 0, -ENOENT (404), -EMSGSIZE (over max), -EIO ... */
	struct buf body;
	char etag[S3_ETAG_MAX]; /* unquoted */
	char error[192];	/* why it failed (as s3_client.last_error), "" on success */
};

int s3_client_init(struct s3_client *c, const struct config *cfg);
void s3_client_wipe(struct s3_client *c);

enum s3_put_flags {
	S3_PUT_IF_NONE_MATCH = 1 << 0, /* If-None-Match: * -- create only */
};
/* -EEXIST when a conditional PUT lost (412/409); ret_etag (S3_ETAG_MAX, unquoted) may be NULL. */
int s3_put(struct s3_client *c, const char *key, const void *body, size_t len, unsigned flags,
	   char *ret_etag);
/* -ENOENT on 404, -EMSGSIZE if the body exceeds max. ret_etag may be NULL. */
int s3_get(struct s3_client *c, const char *key, size_t max, struct buf *ret_body, char *ret_etag);
/* Parallel GETs; ret[i] is initialised here and freed with s3_get_results_free(). */
int s3_get_many(struct s3_client *c, const char *const *keys, size_t n, size_t max,
		struct s3_get_result *ret);
void s3_get_results_free(struct s3_get_result *r, size_t n);
/* Deleting a missing key is success (RGW answers 204). */
int s3_delete(struct s3_client *c, const char *key);
/* All pages of ListObjectsV2 under prefix. Any failure returns <0 and *ret stays empty: a partial
 * listing is never returned (it must not be taken as truth and remove peers). */
int s3_list(struct s3_client *c, const char *prefix, struct s3_listing *ret);
void s3_listing_free(struct s3_listing *l);
/* Pure, for tests and fuzzing. */
/* Appends one ListObjectsV2 page to l; ret_next gets NextContinuationToken ("" if none). */
int s3_list_parse(const char *xml, size_t len, struct s3_listing *l, bool *ret_truncated,
		  char *ret_next, size_t nextlen);

#endif

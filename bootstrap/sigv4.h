/*
 * AWS Signature Version 4, computed by hand with libsodium's HMAC-SHA256. libcurl 7.88's
 * CURLOPT_AWS_SIGV4 signs the path and query raw and sends no x-amz-content-sha256, which Ceph
 * RGW rejects (shared/reference/metadata-and-s3.md D). Pure: the time is a parameter.
 */
#ifndef CLIQUE_SIGV4_H
#define CLIQUE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

struct http_header;

#define SIGV4_DATE_LEN 17 /* "20150830T123600Z" + NUL */
#define SIGV4_HASH_HEX 65 /* hex SHA-256 + NUL */
#define SIGV4_AUTH_MAX 1024
#define SIGV4_QUERY_MAX 16
#define SIGV4_HEADERS_MAX 16
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* A query parameter, decoded; value NULL is a valueless parameter, canonically "name=". */
struct sigv4_param {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;
	const char *path; /* decoded; every byte but A-Za-z0-9-_.~ and '/' is encoded once (S3) */
	const struct sigv4_param *query;
	size_t n_query;
	const struct http_header *headers; /* all of them are signed: include host, x-amz-date */
	size_t n_headers;
	const char *payload_hash; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
};

struct sigv4_credentials {
	const char *access_key;
	const char *secret_key;
	const char *region;
	const char *service; /* "s3" */
};

struct sigv4_signed {
	struct buf creq; /* canonical request (kept for tests and debugging) */
	struct buf sts;	 /* string to sign */
	char authorization[SIGV4_AUTH_MAX];
};

/* "YYYYMMDDTHHMMSSZ" in UTC. */
void sigv4_format_date(time_t t, char out[SIGV4_DATE_LEN]);
void sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HASH_HEX]);
/* Appends in percent-encoded with upper-case hex; '/' kept when keep_slash. */
int sigv4_uri_encode(const char *in, size_t len, bool keep_slash, struct buf *out);
/* Appends the canonical query: names and values encoded, sorted by name then value, joined
 * with '&'. The same string is sent on the wire, so what is signed is what is sent. */
int sigv4_canonical_query(const struct sigv4_param *q, size_t n, struct buf *out);
/* -EINVAL on a malformed request, -E2BIG over the limits above, -ENOMEM.
 * ret is initialised here and freed with sigv4_signed_free() in every case. */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred, time_t now,
	       struct sigv4_signed *ret);
void sigv4_signed_free(struct sigv4_signed *s);

#endif

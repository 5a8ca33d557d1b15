/* The only user of curl/curl.h (STYLE.md): bounded bodies, no signing, no retries here. */
#ifndef CLIQUE_HTTP_H
#define CLIQUE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method; /* "GET", "PUT", "DELETE", "HEAD" */
	const char *url;
	const struct http_header *headers;
	size_t n_headers;
	const void *body; /* PUT body, may be NULL */
	size_t body_len;
	size_t max_response; /* hard cap on the response body */
	long timeout_ms;     /* whole transfer; 0 = 10 s */
};

struct http_response {
	int result;  /* 0 = a status line arrived; else -errno (see http_perform) */
	long status; /* HTTP status when result == 0 */
	struct buf body;
	char etag[128];	     /* ETag header as sent (quotes kept), "" if none */
	time_t date;	     /* Date header, 0 if none or unparsable */
	char request_id[64]; /* x-amz-request-id header as sent, "" if none or over-long */
	char error[160]; /* transport error text ("TLS certificate not trusted (...)", curl's) */
};

int http_global_init(void);
void http_global_cleanup(void);
/* The PEM bundle that https requests verify against, alone (copied; NULL or "": curl's build
 * default). Minimum TLS 1.2, host name checked, always. 0 or -ENOMEM. */
int http_set_ca_file(const char *path);
/*
 * 0 when a response arrived, whatever its status. -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH,
 * -EPROTO (TLS certificate refused, CA file unusable: not worth a retry),
 * -EIO (other transport failures), -EMSGSIZE (body over max_response), -ENOMEM.
 * resp must be freed with http_response_free() in every case.
 */
int http_perform(const struct http_request *req, struct http_response *resp);
/* Runs n requests with at most max_parallel in flight (curl multi, kept-alive connections);
 * each resp[i].result holds that request's outcome. Returns 0 or -ENOMEM. */
int http_perform_many(const struct http_request *reqs, struct http_response *resps, size_t n,
		      unsigned max_parallel);
void http_response_free(struct http_response *resp);

/* Pure, for tests. The one-line reason for a TLS failure from a curl result code and curl's error
 * text: "TLS certificate not trusted (unable to get local issuer certificate)", cut to len;
 * false (out untouched) when rc is not a TLS failure. */
bool http_tls_error_text(int rc, const char *detail, char *out, size_t len);

#endif

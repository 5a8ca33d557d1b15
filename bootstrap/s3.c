#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "clock.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "sigv4.h"
#include "text.h"

#define S3_URL_MAX (16 * 1024)
#define S3_LIST_PAGE_MAX (4u << 20)
#define S3_ERROR_BODY_MIN (16 * 1024) /* room for an <Error> document whatever the caller's max */
#define S3_TIMEOUT_MS 30000L
#define S3_SKEW_SECONDS 300 /* aws-sdk-js isClockSkewed threshold (metadata-and-s3.md C4) */
#define S3_BACKOFF_BASE_MS 200
#define S3_BACKOFF_CAP_MS 5000
#define S3_MANY_BATCH 256
#define S3_HEADERS_MAX 6

struct s3_op {
	const char *method;
	const char *key; /* NULL: the bucket itself */
	const struct sigv4_param *query;
	size_t n_query;
	const void *body;
	size_t len;
	bool if_none_match;
	size_t max_response;
};

/* One signed request, ready for http_perform(); everything it points to lives here. */
struct s3_prepared {
	struct buf url;
	char host[256], date[SIGV4_DATE_LEN], hash[SIGV4_HASH_HEX], auth[SIGV4_AUTH_MAX];
	struct http_header hdrs[S3_HEADERS_MAX];
	struct http_request req;
};

static int copy_field(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* scheme://host[:port] with nothing after it: the host is signed and sent as the Host header. */
static int endpoint_host(const char *endpoint, char *host, size_t hostlen)
{
	const char *h;

	if (!strncmp(endpoint, "http://", 7))
		h = endpoint + 7;
	else if (!strncmp(endpoint, "https://", 8))
		h = endpoint + 8;
	else
		return -EINVAL;
	if (!*h || strpbrk(h, "/?#@ \t\r\n"))
		return -EINVAL;
	return copy_field(host, hostlen, h);
}

int s3_client_init(struct s3_client *c, const struct config *cfg)
{
	char host[256];
	size_t n;
	int r;

	memset(c, 0, sizeof(*c));
	r = copy_field(c->endpoint, sizeof(c->endpoint), cfg->bucket_endpoint);
	if (r < 0)
		goto fail;
	n = strlen(c->endpoint);
	while (n && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = '\0';
	r = endpoint_host(c->endpoint, host, sizeof(host));
	if (r >= 0)
		r = copy_field(c->bucket, sizeof(c->bucket), cfg->bucket);
	if (r >= 0)
		r = copy_field(c->region, sizeof(c->region),
			       *cfg->bucket_region ? cfg->bucket_region : "us-east-1");
	if (r >= 0)
		r = copy_field(c->access_key, sizeof(c->access_key), cfg->access_key);
	if (r >= 0)
		r = copy_field(c->secret_key, sizeof(c->secret_key), cfg->secret_key);
	if (r < 0)
		goto fail;
	if (!*c->bucket || strchr(c->bucket, '/') || !*c->access_key || !*c->secret_key) {
		r = -EINVAL;
		goto fail;
	}
	c->max_attempts = 5;
	c->max_parallel = cfg->bucket_parallel ? cfg->bucket_parallel : 16;
	c->deadline_ms =
		cfg->bucket_timeout ? clock_now_ms() + (uint64_t)cfg->bucket_timeout * 1000 : 0;
	return 0;
fail:
	s3_client_wipe(c);
	return r;
}

void s3_client_wipe(struct s3_client *c)
{
	sodium_memzero(c->secret_key, sizeof(c->secret_key));
	sodium_memzero(c->access_key, sizeof(c->access_key));
}

static void prepared_free(struct s3_prepared *p)
{
	buf_free(&p->url);
	sodium_memzero(p->auth, sizeof(p->auth));
}

static int build_url(const struct s3_client *c, const struct s3_op *op, const char *path,
		     struct buf *url)
{
	int r;

	r = buf_add(url, c->endpoint, strlen(c->endpoint));
	if (r >= 0)
		r = sigv4_uri_encode(path, strlen(path), true, url);
	if (r >= 0 && op->n_query) {
		r = buf_addc(url, '?');
		if (r >= 0)
			r = sigv4_canonical_query(op->query, op->n_query, url);
	}
	return r;
}

static int sign(const struct s3_client *c, const struct s3_op *op, const char *path,
		struct s3_prepared *p, size_t n_hdrs, time_t now)
{
	const struct sigv4_request sreq = {
		.method = op->method,
		.path = path,
		.query = op->query,
		.n_query = op->n_query,
		.headers = p->hdrs,
		.n_headers = n_hdrs,
		.payload_hash = p->hash,
	};
	const struct sigv4_credentials cred = {
		.access_key = c->access_key,
		.secret_key = c->secret_key,
		.region = c->region,
		.service = "s3",
	};
	struct sigv4_signed s;
	int r;

	r = sigv4_sign(&sreq, &cred, now, &s);
	if (r >= 0)
		r = copy_field(p->auth, sizeof(p->auth), s.authorization);
	sigv4_signed_free(&s);
	return r;
}

/* What one attempt may take: S3_TIMEOUT_MS, cut to the time left before bucket_timeout. */
static long attempt_ms(const struct s3_client *c)
{
	long left;

	if (!c->deadline_ms)
		return S3_TIMEOUT_MS;
	left = clock_left_ms(c->deadline_ms);
	return left < S3_TIMEOUT_MS ? left : S3_TIMEOUT_MS;
}

static int prepare(const struct s3_client *c, const struct s3_op *op, struct s3_prepared *p)
{
	char path[1 + sizeof(c->bucket) + 1 + S3_KEY_MAX];
	size_t n = 0;
	time_t now;
	int r;

	buf_init(&p->url, S3_URL_MAX);
	if (!attempt_ms(c))
		return -ETIMEDOUT; /* bucket_timeout: nothing more is sent in this run */
	if (op->key && (!*op->key || strlen(op->key) >= S3_KEY_MAX))
		return op->key[0] ? -ENAMETOOLONG : -EINVAL;
	/* Path-style: one Host per cluster and no TLS wildcard trouble with dotted bucket names. */
	snprintf(path, sizeof(path), "/%s%s%s", c->bucket, op->key ? "/" : "",
		 op->key ? op->key : "");
	r = endpoint_host(c->endpoint, p->host, sizeof(p->host));
	if (r >= 0)
		r = build_url(c, op, path, &p->url);
	if (r < 0)
		return r;
	/* one reading for the header and the signature: the server signs what the header says */
	now = time(NULL) + c->clock_offset;
	sigv4_format_date(now, p->date);
	/* RGW takes a missing x-amz-content-sha256 as UNSIGNED-PAYLOAD and then rejects the
	 * signature (metadata-and-s3.md D.1), so every request carries the body hash. */
	sigv4_sha256_hex(op->body ? op->body : "", op->len, p->hash);
	p->hdrs[n++] = (struct http_header){"Host", p->host};
	p->hdrs[n++] = (struct http_header){"x-amz-content-sha256", p->hash};
	p->hdrs[n++] = (struct http_header){"x-amz-date", p->date};
	if (op->if_none_match)
		p->hdrs[n++] = (struct http_header){"If-None-Match", "*"};
	r = sign(c, op, path, p, n, now);
	if (r < 0)
		return r;
	p->hdrs[n++] = (struct http_header){"Authorization", p->auth};
	p->req = (struct http_request){
		.method = op->method,
		.url = p->url.data,
		.headers = p->hdrs,
		.n_headers = n,
		.body = op->body,
		.body_len = op->len,
		.max_response = op->max_response,
		.timeout_ms = attempt_ms(c),
	};
	return 0;
}

static void response_clear(struct http_response *resp, size_t max)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, max);
	resp->result = -EIO;
}

/* The text of element name (<Code>, <RequestId>) of an S3 <Error> document, "" if none. */
static void error_field(const struct http_response *resp, const char *name, char *out, size_t len)
{
	char open[32], close[32];
	const char *b, *e;

	out[0] = '\0';
	if (!resp->body.data)
		return;
	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	b = strstr(resp->body.data, open);
	if (!b)
		return;
	b += strlen(open);
	e = strstr(b, close);
	if (e && (size_t)(e - b) < len && !memchr(b, '<', e - b)) {
		memcpy(out, b, e - b);
		out[e - b] = '\0';
	}
}

static void error_code(const struct http_response *resp, char *code, size_t len)
{
	error_field(resp, "Code", code, len);
}

/* An id as RGW and AWS make them ("tx00000d1b2f8a3c4e5f6a7-0065f1c2d3-1a2b-default"): what
 * else the bucket sends there is not logged. */
static bool request_id_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:");

	return n && !s[n];
}

/* The request id of a response: the x-amz-request-id header, else the document's <RequestId>. */
static void request_id(const struct http_response *resp, char *out, size_t len)
{
	if (request_id_ok(resp->request_id) && strlen(resp->request_id) < len) {
		memcpy(out, resp->request_id, strlen(resp->request_id) + 1);
		return;
	}
	error_field(resp, "RequestId", out, len);
	if (!request_id_ok(out))
		out[0] = '\0';
}

/* Every Date header moves our clock to the server's when we are >= 5 min off (aws-sdk-js
 * getUpdatedSystemClockOffset); returns true when the offset changed. */
static bool note_date(struct s3_client *c, const struct http_response *resp)
{
	long observed;

	if (resp->result < 0 || !resp->date)
		return false;
	observed = (long)(resp->date - time(NULL));
	if (labs(observed - c->clock_offset) < S3_SKEW_SECONDS)
		return false;
	log_debug("s3: server clock is %lds ahead of ours", observed);
	c->clock_offset = observed;
	c->skew_seen = true;
	return true;
}

static bool is_skew_error(const struct http_response *resp, const char *code, bool corrected)
{
	if (resp->result < 0 || resp->status != 403 || !corrected)
		return false;
	return !strcmp(code, "RequestTimeTooSkewed") || !strcmp(code, "SignatureDoesNotMatch") ||
	       !strcmp(code, "RequestExpired");
}

static bool is_server_error(const struct http_response *resp)
{
	return resp->result == 0 && (resp->status >= 500 || resp->status == 429);
}

/* Never sleeps past bucket_timeout: the next prepare() then ends the run's bucket work. */
static void backoff(const struct s3_client *c, unsigned attempt)
{
	unsigned ms = clock_backoff_ms(S3_BACKOFF_BASE_MS, S3_BACKOFF_CAP_MS, attempt);
	long left = attempt_ms(c);

	/* "Equal jitter": half fixed, half random, so a fleet booting together spreads out. */
	ms = ms / 2 + randombytes_uniform(ms / 2 + 1);
	if (c->deadline_ms && (long)ms > left)
		ms = left;
	clock_sleep_ms(ms);
}

enum s3_next {
	S3_NEXT_DONE,
	S3_NEXT_RETRY,
	S3_NEXT_RESIGN,
	S3_NEXT_FAIL,
};

/*
 * What to do after one attempt (metadata-and-s3.md D1.6). A conditional PUT is never resent after
 * a 5xx or a lost reply: it may have been applied, and a resend would then report -EEXIST for our
 * own write. Refused connections and SlowDown never reached the object, so they are retried.
 */
static enum s3_next classify(const struct s3_op *op, const struct http_response *resp,
			     bool corrected)
{
	char code[64];

	if (resp->result == -ECONNREFUSED || resp->result == -EHOSTUNREACH)
		return S3_NEXT_RETRY;
	if (resp->result == -ETIMEDOUT || resp->result == -EIO)
		return op->if_none_match ? S3_NEXT_FAIL : S3_NEXT_RETRY;
	if (resp->result < 0)
		return S3_NEXT_FAIL;
	error_code(resp, code, sizeof(code));
	if (is_skew_error(resp, code, corrected))
		return S3_NEXT_RESIGN;
	if (!is_server_error(resp))
		return S3_NEXT_DONE;
	if (op->if_none_match && resp->status != 429 && strcmp(code, "SlowDown"))
		return S3_NEXT_FAIL;
	return S3_NEXT_RETRY;
}

static void set_last_error(struct s3_client *c, const struct http_response *resp)
{
	char code[64], id[64];

	if (resp->result < 0) {
		text_copy(c->last_error, sizeof(c->last_error),
			  resp->error[0] ? resp->error : strerror(-resp->result));
		return;
	}
	if (resp->status < 300) {
		c->last_error[0] = '\0';
		return;
	}
	error_code(resp, code, sizeof(code));
	request_id(resp, id, sizeof(id));
	snprintf(c->last_error, sizeof(c->last_error), "HTTP %ld%s%s, request %s", resp->status,
		 code[0] ? " " : "", code, id[0] ? id : "id not sent");
}

/* One request with retries; 0 when a final response arrived (the caller maps its status). */
static int s3_do(struct s3_client *c, const struct s3_op *op, struct http_response *resp)
{
	struct s3_prepared p;
	bool resigned = false;
	unsigned attempt = 0;
	enum s3_next next;
	int r;

	response_clear(resp, op->max_response);
	for (;;) {
		r = prepare(c, op, &p);
		if (r >= 0)
			http_perform(&p.req, resp);
		prepared_free(&p);
		if (r < 0) {
			resp->result = r;
			text_copy(c->last_error, sizeof(c->last_error), strerror(-r));
			return r;
		}
		attempt++;
		next = classify(op, resp, note_date(c, resp));
		if (next == S3_NEXT_RESIGN && resigned)
			next = S3_NEXT_DONE;
		if (next == S3_NEXT_RETRY && attempt >= (c->max_attempts ? c->max_attempts : 1))
			next = S3_NEXT_DONE;
		if (next == S3_NEXT_DONE || next == S3_NEXT_FAIL)
			break;
		c->stats.retries++;
		if (next == S3_NEXT_RESIGN)
			resigned = true;
		else
			backoff(c, attempt - 1);
		http_response_free(resp);
		response_clear(resp, op->max_response);
	}
	set_last_error(c, resp);
	/* A conditional PUT whose fate is unknown is -EIO: the caller re-reads the object. */
	if (next == S3_NEXT_FAIL &&
	    (resp->result == 0 || (op->if_none_match && resp->result != -ENOMEM)))
		return -EIO;
	return resp->result;
}

static int status_errno(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
	case 412:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/* ETags are kept unquoted: RGW rejects a quoted If-Match (metadata-and-s3.md C3). */
static int etag_unquote(const char *in, size_t len, char out[S3_ETAG_MAX])
{
	size_t i;

	if (len >= 2 && in[0] == '"' && in[len - 1] == '"') {
		in++;
		len -= 2;
	}
	if (len >= S3_ETAG_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if ((unsigned char)in[i] <= ' ' || in[i] == '"' || (unsigned char)in[i] >= 0x7f)
			return -EINVAL;
	memcpy(out, in, len);
	out[len] = '\0';
	return 0;
}

/* A missing or odd ETag does not undo a completed request: it is reported as "". */
static int take_etag(const struct http_response *resp, char *ret_etag)
{
	char etag[S3_ETAG_MAX];

	if (!ret_etag)
		return 0;
	if (etag_unquote(resp->etag, strlen(resp->etag), etag) < 0)
		etag[0] = '\0';
	memcpy(ret_etag, etag, S3_ETAG_MAX);
	return 0;
}

int s3_put(struct s3_client *c, const char *key, const void *body, size_t len, unsigned flags,
	   char *ret_etag)
{
	const struct s3_op op = {
		.method = "PUT",
		.key = key,
		.body = body,
		.len = len,
		.if_none_match = flags & S3_PUT_IF_NONE_MATCH,
		.max_response = S3_ERROR_BODY_MIN,
	};
	struct http_response resp;
	int r;

	if (!key)
		return -EINVAL;
	c->stats.put++;
	r = s3_do(c, &op, &resp);
	if (r >= 0)
		r = status_errno(resp.status);
	if (r >= 0)
		r = take_etag(&resp, ret_etag);
	http_response_free(&resp);
	return r;
}

/* Moves a 200 body to ret, checking the caller's max (the transfer cap also fits error XML). */
static int take_body(struct http_response *resp, size_t max, struct buf *ret)
{
	int r;

	if (resp->body.len > max)
		return -EMSGSIZE;
	/* An empty object still gets a NUL-terminated buffer: parsers may read data. */
	r = buf_add(&resp->body, "", 0);
	if (r < 0)
		return r;
	*ret = resp->body;
	ret->max = max;
	buf_init(&resp->body, 0);
	return 0;
}

static size_t get_limit(size_t max)
{
	return max > S3_ERROR_BODY_MIN ? max : S3_ERROR_BODY_MIN;
}

int s3_get(struct s3_client *c, const char *key, size_t max, struct buf *ret_body, char *ret_etag)
{
	const struct s3_op op = {
		.method = "GET",
		.key = key,
		.max_response = get_limit(max),
	};
	struct http_response resp;
	char etag[S3_ETAG_MAX];
	int r;

	if (!key)
		return -EINVAL;
	c->stats.get++;
	r = s3_do(c, &op, &resp);
	if (r >= 0)
		r = status_errno(resp.status);
	if (r >= 0)
		r = take_etag(&resp, etag);
	if (r >= 0)
		r = take_body(&resp, max, ret_body);
	if (r >= 0 && ret_etag)
		memcpy(ret_etag, etag, S3_ETAG_MAX);
	http_response_free(&resp);
	return r;
}

int s3_delete(struct s3_client *c, const char *key)
{
	const struct s3_op op = {
		.method = "DELETE",
		.key = key,
		.max_response = S3_ERROR_BODY_MIN,
	};
	struct http_response resp;
	int r;

	if (!key)
		return -EINVAL;
	c->stats.del++;
	r = s3_do(c, &op, &resp);
	if (r >= 0)
		r = status_errno(resp.status);
	http_response_free(&resp);
	return r == -ENOENT ? 0 : r;
}

/* Drops the objects from index n on (a page that failed half-way). */
static void listing_truncate(struct s3_listing *l, size_t n)
{
	while (l->n > n)
		free(l->objects[--l->n].key);
}

void s3_listing_free(struct s3_listing *l)
{
	listing_truncate(l, 0);
	free(l->objects);
	l->objects = NULL;
	l->n = l->cap = 0;
}

static int list_page(struct s3_client *c, const char *prefix, const char *token,
		     struct s3_listing *l, bool *ret_truncated, char *ret_next)
{
	/* Sorted by name: sigv4_canonical_query sorts anyway, the URL is sent in that order. */
	struct sigv4_param q[4];
	struct s3_op op = {
		.method = "GET",
		.query = q,
		.max_response = S3_LIST_PAGE_MAX,
	};
	struct http_response resp;
	unsigned attempt = 0;
	size_t n = 0;
	int r;

	if (*token)
		q[n++] = (struct sigv4_param){"continuation-token", token};
	q[n++] = (struct sigv4_param){"list-type", "2"};
	q[n++] = (struct sigv4_param){"max-keys", "1000"};
	q[n++] = (struct sigv4_param){"prefix", prefix};
	op.n_query = n;
	c->stats.list++;
	for (;;) {
		r = s3_do(c, &op, &resp);
		if (r >= 0)
			r = status_errno(resp.status);
		if (r < 0)
			break;
		r = s3_list_parse(resp.body.data ? resp.body.data : "", resp.body.len, l,
				  ret_truncated, ret_next, S3_KEY_MAX);
		if (r >= 0)
			break;
		snprintf(c->last_error, sizeof(c->last_error), "bad listing page: %s",
			 strerror(-r));
		/* A 200 whose XML was cut (a proxy or a connection that lost the tail under a
		 * complete-looking length) is a transport fault: asked again like one. */
		if (r == -ENOMEM || ++attempt >= (c->max_attempts ? c->max_attempts : 1))
			break;
		c->stats.retries++;
		http_response_free(&resp);
		backoff(c, attempt - 1);
	}
	http_response_free(&resp);
	return r;
}

int s3_list(struct s3_client *c, const char *prefix, struct s3_listing *ret)
{
	struct s3_listing l = {0};
	char *token, *next;
	bool truncated = false;
	int r;

	ret->objects = NULL;
	ret->n = ret->cap = 0;
	token = calloc(1, S3_KEY_MAX);
	next = calloc(1, S3_KEY_MAX);
	if (!token || !next) {
		r = -ENOMEM;
		goto out;
	}
	do {
		r = list_page(c, prefix ? prefix : "", token, &l, &truncated, next);
		if (r < 0)
			goto out;
		/* RGW's token is the last key: a repeated or empty one would loop forever. */
		if (truncated && (!*next || !strcmp(next, token))) {
			snprintf(c->last_error, sizeof(c->last_error), "listing does not advance");
			r = -EIO;
			goto out;
		}
		memcpy(token, next, S3_KEY_MAX);
	} while (truncated);
	*ret = l;
	memset(&l, 0, sizeof(l)); /* ownership went to *ret */
out:
	s3_listing_free(&l);
	free(token);
	free(next);
	return r;
}

/* ---- s3_get_many ---- */

struct many_item {
	struct s3_prepared p;
	size_t idx; /* into keys[] / ret[] */
};

/* Turns one parallel response into ret->result; returns true when it should be tried again. */
static bool many_result(struct s3_client *c, struct http_response *resp, size_t max, bool corrected,
			struct s3_get_result *ret)
{
	const struct s3_op op = {.method = "GET"};
	enum s3_next next;
	int r;

	next = classify(&op, resp, corrected);
	if (next == S3_NEXT_RETRY || next == S3_NEXT_RESIGN) {
		set_last_error(c, resp);
		return true;
	}
	r = resp->result;
	if (r >= 0)
		r = status_errno(resp->status);
	if (r >= 0)
		r = take_etag(resp, ret->etag);
	if (r >= 0) {
		buf_free(&ret->body);
		r = take_body(resp, max, &ret->body);
	}
	if (r < 0) {
		set_last_error(c, resp);
		text_copy(ret->error, sizeof(ret->error), c->last_error);
	}
	ret->result = r;
	return false;
}

/* One parallel round over the items flagged in pending[]; clears the flags it settles. */
static int many_round(struct s3_client *c, const char *const *keys, size_t n, size_t max,
		      struct s3_get_result *ret, unsigned char *pending, bool *ret_corrected)
{
	struct many_item *items;
	struct http_request *reqs;
	struct http_response *resps;
	size_t i = 0, m, j;
	bool corrected = false;
	int r = 0;

	items = calloc(S3_MANY_BATCH, sizeof(*items));
	reqs = calloc(S3_MANY_BATCH, sizeof(*reqs));
	resps = calloc(S3_MANY_BATCH, sizeof(*resps));
	if (!items || !reqs || !resps) {
		r = -ENOMEM;
		goto out;
	}
	while (i < n) {
		for (m = 0; i < n && m < S3_MANY_BATCH; i++) {
			const struct s3_op op = {
				.method = "GET",
				.key = keys[i],
				.max_response = get_limit(max),
			};

			if (!pending[i])
				continue;
			r = prepare(c, &op, &items[m].p);
			if (r < 0) {
				prepared_free(&items[m].p);
				ret[i].result = r;
				pending[i] = 0;
				continue;
			}
			c->stats.get++;
			items[m].idx = i;
			reqs[m] = items[m].p.req;
			m++;
		}
		r = http_perform_many(reqs, resps, m, c->max_parallel);
		for (j = 0; j < m; j++) {
			size_t k = items[j].idx;

			if (r >= 0) {
				if (note_date(c, &resps[j]))
					corrected = true;
				pending[k] = many_result(c, &resps[j], max, corrected, &ret[k]);
			}
			http_response_free(&resps[j]);
			prepared_free(&items[j].p);
		}
		if (r < 0)
			goto out;
	}
	*ret_corrected = corrected;
out:
	free(items);
	free(reqs);
	free(resps);
	return r;
}

int s3_get_many(struct s3_client *c, const char *const *keys, size_t n, size_t max,
		struct s3_get_result *ret)
{
	unsigned char *pending;
	bool corrected = false, waited = false;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		ret[i].result = -EIO;
		buf_init(&ret[i].body, max);
		ret[i].etag[0] = '\0';
		ret[i].error[0] = '\0';
	}
	pending = malloc(n ? n : 1);
	if (!pending)
		return -ENOMEM;
	memset(pending, 1, n);
	r = many_round(c, keys, n, max, ret, pending, &corrected);
	/* A clock correction invalidates every signature of the round: redo it in parallel. */
	if (r >= 0 && corrected)
		r = many_round(c, keys, n, max, ret, pending, &corrected);
	/* Whatever is left (5xx, SlowDown, transport errors) goes through s3_get's backoff. */
	for (i = 0; r >= 0 && i < n; i++) {
		if (!pending[i])
			continue;
		/* s3_get's first attempt does not wait: a SlowDown round must not be resent at once */
		if (!waited) {
			backoff(c, 0);
			waited = true;
		}
		c->stats.retries++;
		buf_free(&ret[i].body);
		ret[i].result = s3_get(c, keys[i], max, &ret[i].body, ret[i].etag);
		if (ret[i].result < 0)
			text_copy(ret[i].error, sizeof(ret[i].error), c->last_error);
	}
	free(pending);
	return r;
}

void s3_get_results_free(struct s3_get_result *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf_free(&r[i].body);
}

/* ---- ListBucketResult scanner ---- */

#define XML_DEPTH_MAX 8

struct xml_name {
	const char *p;
	size_t len;
};

struct list_ctx {
	struct s3_listing *l;
	struct s3_object cur;
	char key[S3_KEY_MAX]; /* cur's key while its <Contents> is open */
	unsigned have;	      /* LIST_HAVE_* of cur */
	bool truncated, saw_truncated;
	char *next;
	size_t nextlen;
};

enum {
	LIST_HAVE_KEY = 1 << 0,
	LIST_HAVE_ETAG = 1 << 1,
	LIST_HAVE_MTIME = 1 << 2,
	LIST_HAVE_SIZE = 1 << 3,
};

static bool name_is(const struct xml_name *n, const char *s)
{
	return n->len == strlen(s) && !memcmp(n->p, s, n->len);
}

static size_t utf8_put(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | (cp >> 6);
		out[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = 0xe0 | (cp >> 12);
		out[1] = 0x80 | ((cp >> 6) & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	out[0] = 0xf0 | (cp >> 18);
	out[1] = 0x80 | ((cp >> 12) & 0x3f);
	out[2] = 0x80 | ((cp >> 6) & 0x3f);
	out[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* &#NN; / &#xNN; -> code point; NUL, surrogates and > U+10FFFF are refused. */
static int char_ref(const char *s, size_t len, uint32_t *ret)
{
	bool hex = len > 1 && (s[1] == 'x' || s[1] == 'X');
	size_t i = hex ? 2 : 1;
	uint32_t cp = 0;

	if (i >= len || len - i > 8)
		return -EINVAL;
	for (; i < len; i++) {
		char ch = s[i];
		unsigned d;

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (hex && ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (hex && ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return -EINVAL;
		cp = cp * (hex ? 16 : 10) + d;
		if (cp > 0x10ffff)
			return -EINVAL;
	}
	if (!cp || (cp >= 0xd800 && cp <= 0xdfff))
		return -EINVAL;
	*ret = cp;
	return 0;
}

static int entity(const char *s, size_t len, char *out, size_t *ret_n)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
	uint32_t cp;
	size_t i;
	int r;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (len == strlen(named[i].name) && !memcmp(s, named[i].name, len)) {
			out[0] = named[i].c;
			*ret_n = 1;
			return 0;
		}
	if (!len || s[0] != '#')
		return -EINVAL;
	r = char_ref(s, len, &cp);
	if (r < 0)
		return r;
	*ret_n = utf8_put(cp, out);
	return 0;
}

/* Decodes element text into out (NUL-terminated); -ENAMETOOLONG when it does not fit. */
static int xml_text(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len) {
		char tmp[4];
		size_t n = 1;

		if (s[i] == '&') {
			const char *semi = memchr(s + i, ';', len - i > 12 ? 12 : len - i);
			int r;

			if (!semi)
				return -EINVAL;
			r = entity(s + i + 1, semi - s - i - 1, tmp, &n);
			if (r < 0)
				return r;
			i = semi - s + 1;
		} else if (s[i] == '\0' || s[i] == '<') {
			return -EINVAL;
		} else {
			tmp[0] = s[i++];
		}
		if (o + n >= outlen)
			return -ENAMETOOLONG;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* "2024-05-01T12:34:56.789Z" (RGW rgw_to_iso8601, milliseconds) or without the fraction. */
static int parse_iso8601(const char *s, time_t *ret)
{
	struct tm tm = {0};
	const char *p;
	time_t t;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z"))
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = t;
	return 0;
}

static int parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int contents_field(struct list_ctx *x, const struct xml_name *name, const char *text,
			  size_t len)
{
	char tmp[S3_ETAG_MAX + 2];
	int r;

	if (name_is(name, "Key")) {
		r = xml_text(text, len, x->key, sizeof(x->key));
		if (r >= 0 && !x->key[0])
			r = -EINVAL;
		x->have |= LIST_HAVE_KEY;
		return r;
	}
	if (!name_is(name, "ETag") && !name_is(name, "LastModified") && !name_is(name, "Size"))
		return 0; /* StorageClass, RGW's <Type>, ... */
	r = xml_text(text, len, tmp, sizeof(tmp));
	if (r < 0)
		return -EINVAL;
	if (name_is(name, "ETag")) {
		/* RGW writes the quoted ETag, escaped as &quot;...&quot; (metadata-and-s3.md C2). */
		r = etag_unquote(tmp, strlen(tmp), x->cur.etag);
		x->have |= LIST_HAVE_ETAG;
	} else if (name_is(name, "LastModified")) {
		r = parse_iso8601(tmp, &x->cur.last_modified);
		x->have |= LIST_HAVE_MTIME;
	} else {
		r = parse_size(tmp, &x->cur.size);
		x->have |= LIST_HAVE_SIZE;
	}
	return r;
}

static int append_object(struct s3_listing *l, const struct s3_object *o, const char *key)
{
	struct s3_object *p;
	size_t cap;
	char *copy;

	if (l->n >= S3_LIST_MAX)
		return -E2BIG;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 64;
		if (cap > S3_LIST_MAX)
			cap = S3_LIST_MAX;
		p = realloc(l->objects, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->objects = p;
		l->cap = cap;
	}
	copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	l->objects[l->n] = *o;
	l->objects[l->n++].key = copy;
	return 0;
}

static int on_open(struct list_ctx *x, const struct xml_name *stack, unsigned depth)
{
	/* An <Error> document or anything else is not a listing. */
	if (depth == 1)
		return name_is(&stack[0], "ListBucketResult") ? 0 : -EINVAL;
	if (depth == 2 && name_is(&stack[1], "Contents")) {
		memset(&x->cur, 0, sizeof(x->cur));
		x->have = 0;
	}
	return 0;
}

/* text is NULL when the element had child elements. */
static int on_close(struct list_ctx *x, const struct xml_name *stack, unsigned depth,
		    const char *text, size_t len)
{
	const struct xml_name *name = &stack[depth - 1];
	const unsigned need = LIST_HAVE_KEY | LIST_HAVE_ETAG | LIST_HAVE_MTIME;
	char tmp[8];
	int r;

	if (depth == 3 && name_is(&stack[1], "Contents"))
		return text ? contents_field(x, name, text, len) : 0;
	if (depth != 2)
		return 0;
	if (name_is(name, "Contents"))
		return (x->have & need) == need ? append_object(x->l, &x->cur, x->key) : -EINVAL;
	if (name_is(name, "EncodingType"))
		return -EINVAL; /* never requested: url-encoded keys would be misread */
	if (!text)
		return 0;
	if (name_is(name, "NextContinuationToken"))
		return xml_text(text, len, x->next, x->nextlen);
	if (!name_is(name, "IsTruncated"))
		return 0;
	r = xml_text(text, len, tmp, sizeof(tmp));
	if (r < 0 || (strcmp(tmp, "true") && strcmp(tmp, "false")))
		return -EINVAL;
	x->truncated = !strcmp(tmp, "true");
	return 0;
}

/* Skips "<?...?>" and "<!--...-->"; DTDs and CDATA are refused (no entity tricks). */
static int skip_markup(const char **p, const char *end)
{
	const char *e;

	if (end - *p >= 2 && !memcmp(*p, "<?", 2)) {
		e = memmem(*p, end - *p, "?>", 2);
		if (!e)
			return -EINVAL;
		*p = e + 2;
		return 0;
	}
	if (end - *p >= 4 && !memcmp(*p, "<!--", 4)) {
		e = memmem(*p + 4, end - *p - 4, "-->", 3);
		if (!e)
			return -EINVAL;
		*p = e + 3;
		return 0;
	}
	return -EINVAL;
}

/* Finds the '>' ending a tag, skipping quoted attribute values. */
static const char *tag_end(const char *p, const char *end)
{
	char quote = 0;

	for (; p < end; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '>') {
			return p;
		} else if (*p == '<') {
			return NULL;
		}
	}
	return NULL;
}

static size_t name_len(const char *p, const char *end)
{
	const char *s = p;

	while (s < end && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '/' &&
	       *s != '>')
		s++;
	return s - p;
}

struct xml_state {
	struct xml_name stack[XML_DEPTH_MAX];
	unsigned depth;
	bool root_done;
	const char *text;
};

static int close_tag(struct list_ctx *x, struct xml_state *st, const char *lt, const char *gt)
{
	struct xml_name n = {lt + 2, name_len(lt + 2, gt)};
	int r;

	if (!st->depth || n.len != st->stack[st->depth - 1].len ||
	    memcmp(n.p, st->stack[st->depth - 1].p, n.len))
		return -EINVAL;
	r = on_close(x, st->stack, st->depth, st->text, st->text ? (size_t)(lt - st->text) : 0);
	st->text = NULL;
	if (--st->depth == 0)
		st->root_done = true;
	return r;
}

static int open_tag(struct list_ctx *x, struct xml_state *st, const char *lt, const char *gt)
{
	struct xml_name n = {lt + 1, name_len(lt + 1, gt)};
	int r;

	if (!n.len || st->root_done || st->depth >= XML_DEPTH_MAX)
		return -EINVAL;
	st->stack[st->depth++] = n;
	r = on_open(x, st->stack, st->depth);
	if (r < 0)
		return r;
	st->text = gt + 1;
	if (gt[-1] != '/')
		return 0;
	/* <Prefix/>: an empty leaf. */
	r = on_close(x, st->stack, st->depth, gt, 0);
	st->text = NULL;
	if (--st->depth == 0)
		st->root_done = true;
	return r;
}

static int scan(struct list_ctx *x, const char *p, const char *end)
{
	struct xml_state st = {.depth = 0};
	int r = 0;

	while (p < end && r >= 0) {
		const char *lt = memchr(p, '<', end - p), *gt;

		if (!lt)
			break;
		if (lt + 1 < end && (lt[1] == '?' || lt[1] == '!')) {
			p = lt;
			r = skip_markup(&p, end);
			continue;
		}
		gt = tag_end(lt + 1, end);
		if (!gt)
			return -EINVAL;
		r = lt[1] == '/' ? close_tag(x, &st, lt, gt) : open_tag(x, &st, lt, gt);
		p = gt + 1;
	}
	if (r >= 0 && (st.depth || !st.root_done))
		r = -EINVAL;
	return r;
}

int s3_list_parse(const char *xml, size_t len, struct s3_listing *l, bool *ret_truncated,
		  char *ret_next, size_t nextlen)
{
	struct list_ctx *x;
	size_t n0 = l->n;
	int r;

	if (!xml || !nextlen)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->next = calloc(1, nextlen);
	if (!x->next) {
		free(x);
		return -ENOMEM;
	}
	x->l = l;
	x->nextlen = nextlen;
	r = scan(x, xml, xml + len);
	if (r >= 0) {
		*ret_truncated = x->truncated;
		memcpy(ret_next, x->next, nextlen);
	} else {
		listing_truncate(l, n0); /* a page is taken whole or not at all */
	}
	free(x->next);
	free(x);
	return r;
}

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "http.h"
#include "sigv4.h"

#define SIGV4_NAME_MAX 64
#define SIGV4_SECRET_MAX 256

struct canon_header {
	char name[SIGV4_NAME_MAX]; /* lower-cased */
	const char *value;
	size_t order; /* keeps duplicate headers in request order (get-header-value-order) */
};

struct canon_param {
	struct buf name, value;
};

void sigv4_format_date(time_t t, char out[SIGV4_DATE_LEN])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm))
		memcpy(out, "19700101T000000Z", SIGV4_DATE_LEN);
}

void sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HASH_HEX])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, p, n);
	sodium_bin2hex(out, SIGV4_HASH_HEX, h, sizeof(h));
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(const char *in, size_t len, bool keep_slash, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int r;

	for (i = 0; i < len; i++) {
		unsigned char c = in[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			r = buf_addc(out, c);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			r = buf_add(out, esc, sizeof(esc));
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_param(const void *a, const void *b)
{
	const struct canon_param *x = a, *y = b;
	int d;

	d = strcmp(x->name.data, y->name.data);
	if (d)
		return d;
	return strcmp(x->value.data, y->value.data);
}

int sigv4_canonical_query(const struct sigv4_param *q, size_t n, struct buf *out)
{
	struct canon_param p[SIGV4_QUERY_MAX];
	size_t i;
	int r = 0;

	if (n > SIGV4_QUERY_MAX)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		buf_init(&p[i].name, out->max);
		buf_init(&p[i].value, out->max);
	}
	for (i = 0; i < n && r >= 0; i++) {
		const char *v = q[i].value ? q[i].value : "";

		if (!q[i].name || !*q[i].name) {
			r = -EINVAL;
			break;
		}
		/* Empty strings still need a NUL-terminated allocation for the sort. */
		r = buf_add(&p[i].name, "", 0);
		if (r >= 0)
			r = buf_add(&p[i].value, "", 0);
		if (r >= 0)
			r = sigv4_uri_encode(q[i].name, strlen(q[i].name), false, &p[i].name);
		if (r >= 0)
			r = sigv4_uri_encode(v, strlen(v), false, &p[i].value);
	}
	if (r < 0)
		goto out;
	qsort(p, n, sizeof(p[0]), cmp_param);
	for (i = 0; i < n && r >= 0; i++)
		r = buf_addf(out, "%s%s=%s", i ? "&" : "", p[i].name.data, p[i].value.data);
out:
	for (i = 0; i < n; i++) {
		buf_free(&p[i].name);
		buf_free(&p[i].value);
	}
	return r < 0 ? r : 0;
}

static int cmp_header(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int d;

	d = strcmp(x->name, y->name);
	if (d)
		return d;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Header names are RFC 9110 tokens; anything else could not be sent as we sign it. */
static int lower_name(const char *in, char out[SIGV4_NAME_MAX])
{
	size_t i;

	for (i = 0; in[i]; i++) {
		unsigned char c = in[i];

		if (i + 1 >= SIGV4_NAME_MAX || c <= ' ' || c >= 0x7f || c == ':')
			return -EINVAL;
		out[i] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
	}
	out[i] = '\0';
	return i ? 0 : -EINVAL;
}

/* Trimall (AWS "Create a canonical request"): strip both ends, collapse inner runs of blanks. */
static int add_trimmed(struct buf *b, const char *v)
{
	bool space = false;
	size_t start = b->len;
	int r;

	for (; *v; v++) {
		unsigned char c = *v;

		if (c == '\r' || c == '\n' || (c < ' ' && c != '\t') || c == 0x7f)
			return -EINVAL;
		if (c == ' ' || c == '\t') {
			space = true;
			continue;
		}
		if (space && b->len > start) {
			r = buf_addc(b, ' ');
			if (r < 0)
				return r;
		}
		space = false;
		r = buf_addc(b, c);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_headers(const struct sigv4_request *req, struct buf *creq, char *signed_hdrs,
		       size_t signed_len)
{
	struct canon_header h[SIGV4_HEADERS_MAX];
	size_t i, used = 0;
	int r;

	if (req->n_headers > SIGV4_HEADERS_MAX)
		return -E2BIG;
	for (i = 0; i < req->n_headers; i++) {
		r = lower_name(req->headers[i].name, h[i].name);
		if (r < 0)
			return r;
		h[i].value = req->headers[i].value;
		h[i].order = i;
	}
	qsort(h, req->n_headers, sizeof(h[0]), cmp_header);
	signed_hdrs[0] = '\0';
	for (i = 0; i < req->n_headers; i++) {
		bool dup = i && !strcmp(h[i].name, h[i - 1].name);
		int n;

		/* Repeated headers are one line with the values comma-joined (get-header-key-duplicate). */
		if (dup) {
			r = buf_addc(creq, ',');
		} else {
			r = buf_addf(creq, "%s%s:", i ? "\n" : "", h[i].name);
			n = snprintf(signed_hdrs + used, signed_len - used, "%s%s", used ? ";" : "",
				     h[i].name);
			if (n < 0 || (size_t)n >= signed_len - used)
				return -E2BIG;
			used += n;
		}
		if (r >= 0)
			r = add_trimmed(creq, h[i].value);
		if (r < 0)
			return r;
	}
	return buf_addc(creq, '\n');
}

static int build_creq(const struct sigv4_request *req, struct buf *creq, char *signed_hdrs,
		      size_t signed_len)
{
	const char *path = req->path && *req->path ? req->path : "/";
	int r;

	r = buf_addf(creq, "%s\n", req->method);
	if (r >= 0)
		r = sigv4_uri_encode(path, strlen(path), true, creq);
	if (r >= 0)
		r = buf_addc(creq, '\n');
	if (r >= 0)
		r = sigv4_canonical_query(req->query, req->n_query, creq);
	if (r >= 0)
		r = buf_addc(creq, '\n');
	if (r >= 0)
		r = add_headers(req, creq, signed_hdrs, signed_len);
	if (r >= 0)
		r = buf_addf(creq, "\n%s\n%s", signed_hdrs, req->payload_hash);
	return r;
}

static void hmac(uint8_t out[crypto_auth_hmacsha256_BYTES], const void *key, size_t keylen,
		 const char *msg)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* The four-step key derivation of "Calculate the signature" (AWS SigV4 docs). */
static int signature(const struct sigv4_credentials *cred, const char *day, const char *sts,
		     char hex[SIGV4_HASH_HEX])
{
	char secret[4 + SIGV4_SECRET_MAX];
	uint8_t k[crypto_auth_hmacsha256_BYTES], sig[crypto_auth_hmacsha256_BYTES];
	size_t n = strlen(cred->secret_key);

	if (n >= SIGV4_SECRET_MAX)
		return -EINVAL;
	memcpy(secret, "AWS4", 4);
	memcpy(secret + 4, cred->secret_key, n);
	hmac(k, secret, 4 + n, day);
	hmac(k, k, sizeof(k), cred->region);
	hmac(k, k, sizeof(k), cred->service);
	hmac(k, k, sizeof(k), "aws4_request");
	hmac(sig, k, sizeof(k), sts);
	sodium_bin2hex(hex, SIGV4_HASH_HEX, sig, sizeof(sig));
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(k, sizeof(k));
	return 0;
}

static bool is_scope_part(const char *s)
{
	return s && *s && !strchr(s, '/') && strlen(s) < 64;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred, time_t now,
	       struct sigv4_signed *ret)
{
	char date[SIGV4_DATE_LEN], day[9], scope[160], hash[SIGV4_HASH_HEX], sig[SIGV4_HASH_HEX];
	char signed_hdrs[SIGV4_AUTH_MAX / 2];
	int r, n;

	buf_init(&ret->creq, 64 * 1024);
	buf_init(&ret->sts, 1024);
	ret->authorization[0] = '\0';
	if (!req->method || !*req->method || !req->payload_hash || !cred->access_key ||
	    !*cred->access_key || !cred->secret_key || !is_scope_part(cred->region) ||
	    !is_scope_part(cred->service))
		return -EINVAL;
	sigv4_format_date(now, date);
	memcpy(day, date, 8);
	day[8] = '\0';
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", day, cred->region, cred->service);

	r = build_creq(req, &ret->creq, signed_hdrs, sizeof(signed_hdrs));
	if (r < 0)
		return r;
	sigv4_sha256_hex(ret->creq.data, ret->creq.len, hash);
	r = buf_addf(&ret->sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, hash);
	if (r < 0)
		return r;
	r = signature(cred, day, ret->sts.data, sig);
	if (r < 0)
		return r;
	n = snprintf(ret->authorization, sizeof(ret->authorization),
		     "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		     cred->access_key, scope, signed_hdrs, sig);
	if (n < 0 || (size_t)n >= sizeof(ret->authorization)) {
		ret->authorization[0] = '\0';
		return -E2BIG;
	}
	return 0;
}

void sigv4_signed_free(struct sigv4_signed *s)
{
	buf_free(&s->creq);
	buf_free(&s->sts);
	sodium_memzero(s->authorization, sizeof(s->authorization));
}

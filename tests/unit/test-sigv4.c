/* SigV4 against the published AWS vectors in tests/fixtures/sigv4 (see its README). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/http.h"
#include "../../bootstrap/sigv4.h"
#include "test.h"

#define FIXTURES "tests/fixtures/sigv4"
#define MAXH 16

struct vector {
	char request[4096], context[1024], creq[4096], sts[1024], authz[1024];
	char method[16], path[512], query_buf[1024], hdr_buf[2048];
	struct sigv4_param query[SIGV4_QUERY_MAX];
	size_t n_query;
	struct http_header headers[MAXH];
	size_t n_headers;
	const char *body;
	char access_key[64], secret_key[128], region[32], service[32], timestamp[32];
	bool sign_body;
	char body_hash[SIGV4_HASH_HEX];
};

static int read_file(const char *dir, const char *name, char *out, size_t outlen)
{
	char path[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(out, 1, outlen - 1, f);
	fclose(f);
	out[n] = '\0';
	return 0;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	if (n && s[n - 1] == '\n')
		s[n - 1] = '\0';
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* In-place percent-decoding: the vectors give some query names already encoded. */
static void pct_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '%' && unhex(s[1]) >= 0 && unhex(s[2]) >= 0) {
			*w++ = unhex(s[1]) * 16 + unhex(s[2]);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static void parse_query(struct vector *v, char *q)
{
	char *save = NULL, *p;

	for (p = strtok_r(q, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');

		if (eq)
			*eq++ = '\0';
		pct_decode(p);
		if (eq)
			pct_decode(eq);
		v->query[v->n_query].name = p;
		v->query[v->n_query].value = eq;
		v->n_query++;
	}
}

static void add_header(struct vector *v, const char *name, const char *value)
{
	v->headers[v->n_headers].name = name;
	v->headers[v->n_headers].value = value;
	v->n_headers++;
}

static bool has_header(const struct vector *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->n_headers; i++)
		if (!strcasecmp(v->headers[i].name, name))
			return true;
	return false;
}

static int parse_request(struct vector *v)
{
	char *line, *next, *target, *q;

	line = v->request;
	next = strchr(line, '\n');
	if (!next)
		return -EINVAL;
	*next++ = '\0';
	target = strchr(line, ' ');
	if (!target || (size_t)(target - line) >= sizeof(v->method))
		return -EINVAL;
	memcpy(v->method, line, target - line);
	v->method[target - line] = '\0';
	target++;
	/* The target runs to the last " HTTP/1.1": paths may contain spaces (get-space). */
	q = strstr(target, " HTTP/1.1");
	if (!q)
		return -EINVAL;
	*q = '\0';
	q = strchr(target, '?');
	if (q) {
		*q++ = '\0';
		snprintf(v->query_buf, sizeof(v->query_buf), "%s", q);
		parse_query(v, v->query_buf);
	}
	snprintf(v->path, sizeof(v->path), "%s", target);
	pct_decode(v->path);
	for (line = next; line && *line; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line)
			break;
		colon = strchr(line, ':');
		if (!colon || v->n_headers >= MAXH - 2)
			return -EINVAL;
		*colon = '\0';
		add_header(v, line, colon + 1);
	}
	v->body = next ? next : "";
	return 0;
}

static void ctx_get(const char *ctx, const char *key, char *out, size_t outlen)
{
	const char *p = ctx;
	size_t klen = strlen(key);

	out[0] = '\0';
	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, "\n");

			snprintf(out, outlen, "%.*s", (int)n, p + klen + 1);
			return;
		}
	}
}

static time_t parse_amz_date(const char *s)
{
	struct tm tm = {0};

	if (!strptime(s, "%Y%m%dT%H%M%SZ", &tm))
		return (time_t)-1;
	return timegm(&tm);
}

/* The S3 docs print "Credential=..,SignedHeaders=..", the suite ", ": compare without the blank. */
static void squeeze(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 1 < outlen; in++) {
		if (*in == ' ' && o && out[o - 1] == ',')
			continue;
		out[o++] = *in;
	}
	out[o] = '\0';
}

static int load_vector(const char *dir, struct vector *v)
{
	char flag[8];
	int r;

	memset(v, 0, sizeof(*v));
	r = read_file(dir, "request", v->request, sizeof(v->request));
	if (r >= 0)
		r = read_file(dir, "context", v->context, sizeof(v->context));
	if (r >= 0)
		r = read_file(dir, "creq", v->creq, sizeof(v->creq));
	if (r >= 0)
		r = read_file(dir, "sts", v->sts, sizeof(v->sts));
	if (r >= 0)
		r = read_file(dir, "authz", v->authz, sizeof(v->authz));
	if (r < 0)
		return r;
	chomp(v->creq);
	chomp(v->sts);
	chomp(v->authz);
	ctx_get(v->context, "access_key", v->access_key, sizeof(v->access_key));
	ctx_get(v->context, "secret_key", v->secret_key, sizeof(v->secret_key));
	ctx_get(v->context, "region", v->region, sizeof(v->region));
	ctx_get(v->context, "service", v->service, sizeof(v->service));
	ctx_get(v->context, "timestamp", v->timestamp, sizeof(v->timestamp));
	ctx_get(v->context, "sign_body", flag, sizeof(flag));
	v->sign_body = !strcmp(flag, "1");
	r = parse_request(v);
	if (r < 0)
		return r;
	sigv4_sha256_hex(v->body, strlen(v->body), v->body_hash);
	if (v->sign_body)
		add_header(v, "X-Amz-Content-Sha256", v->body_hash);
	if (!has_header(v, "x-amz-date"))
		add_header(v, "X-Amz-Date", v->timestamp);
	return 0;
}

static int run_vector(const char *name)
{
	struct vector *v = malloc(sizeof(*v));
	struct sigv4_request req;
	struct sigv4_credentials cred;
	struct sigv4_signed s;
	char dir[512], got[SIGV4_AUTH_MAX], want[SIGV4_AUTH_MAX];
	int before = test_failures, r;

	CHECK(v);
	if (!v)
		return -ENOMEM;
	snprintf(dir, sizeof(dir), "%s/%s", FIXTURES, name);
	r = load_vector(dir, v);
	CHECK_INT(r, 0);
	if (r < 0)
		goto out;
	req = (struct sigv4_request){.method = v->method,
				     .path = v->path,
				     .query = v->query,
				     .n_query = v->n_query,
				     .headers = v->headers,
				     .n_headers = v->n_headers,
				     .payload_hash = v->body_hash};
	cred = (struct sigv4_credentials){.access_key = v->access_key,
					  .secret_key = v->secret_key,
					  .region = v->region,
					  .service = v->service};
	r = sigv4_sign(&req, &cred, parse_amz_date(v->timestamp), &s);
	CHECK_INT(r, 0);
	if (r >= 0) {
		CHECK_STR(s.creq.data, v->creq);
		CHECK_STR(s.sts.data, v->sts);
		squeeze(s.authorization, got, sizeof(got));
		squeeze(v->authz, want, sizeof(want));
		CHECK_STR(got, want);
	}
	sigv4_signed_free(&s);
out:
	printf("%s sigv4/%s\n", test_failures == before ? "ok" : "FAIL", name);
	free(v);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_vectors(void)
{
	char *names[64];
	size_t n = 0, i;
	struct dirent *de;
	DIR *d = opendir(FIXTURES);

	CHECK(d);
	if (!d)
		return;
	while ((de = readdir(d)) && n < 64) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "README"))
			continue;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	CHECK(n >= 20);
	for (i = 0; i < n; i++) {
		run_vector(names[i]);
		free(names[i]);
	}
}

static void test_uri_encode(void)
{
	static const struct {
		const char *in;
		bool slash;
		const char *out;
	} cases[] = {
		{"a b+c=d&e", true, "a%20b%2Bc%3Dd%26e"},
		{"dir/file.json", true, "dir/file.json"},
		{"dir/file.json", false, "dir%2Ffile.json"},
		{"-_.~AZaz09", false, "-_.~AZaz09"},
		{"\xc3\xa9*", true, "%C3%A9%2A"},
		{"%", true, "%25"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, 256);
		CHECK_INT(buf_add(&b, "", 0), 0);
		CHECK_INT(sigv4_uri_encode(cases[i].in, strlen(cases[i].in), cases[i].slash, &b),
			  0);
		CHECK_STR(b.data, cases[i].out);
		buf_free(&b);
	}
}

static void test_canonical_query(void)
{
	/* ListObjectsV2 as s3.c sends it; RGW's continuation token is a raw key. */
	const struct sigv4_param q[] = {
		{"prefix", "clique/"}, {"list-type", "2"}, {"continuation-token", "clique/a b+c"},
		{"max-keys", "1000"},  {"uploads", NULL},
	};
	struct buf b;

	buf_init(&b, 1024);
	CHECK_INT(sigv4_canonical_query(q, 5, &b), 0);
	CHECK_STR(b.data, "continuation-token=clique%2Fa%20b%2Bc&list-type=2&max-keys=1000&"
			  "prefix=clique%2F&uploads=");
	buf_free(&b);
}

static void test_rejects(void)
{
	struct http_header bad_value[] = {{"host", "a\r\nx-evil: 1"}};
	struct http_header bad_name[] = {{"ho st", "a"}};
	struct http_header many[SIGV4_HEADERS_MAX + 1];
	struct sigv4_credentials cred = {"AK", "SK", "us-east-1", "s3"};
	struct sigv4_request req = {.method = "GET", .path = "/", .payload_hash = "x"};
	struct sigv4_signed s;
	size_t i;

	req.headers = bad_value;
	req.n_headers = 1;
	CHECK_INT(sigv4_sign(&req, &cred, 0, &s), -EINVAL);
	sigv4_signed_free(&s);
	req.headers = bad_name;
	CHECK_INT(sigv4_sign(&req, &cred, 0, &s), -EINVAL);
	sigv4_signed_free(&s);
	for (i = 0; i < SIGV4_HEADERS_MAX + 1; i++)
		many[i] = (struct http_header){"x-a", "b"};
	req.headers = many;
	req.n_headers = SIGV4_HEADERS_MAX + 1;
	CHECK_INT(sigv4_sign(&req, &cred, 0, &s), -E2BIG);
	sigv4_signed_free(&s);
	cred.region = "us/east";
	req.n_headers = 0;
	CHECK_INT(sigv4_sign(&req, &cred, 0, &s), -EINVAL);
	sigv4_signed_free(&s);
}

static void test_date(void)
{
	char d[SIGV4_DATE_LEN];

	sigv4_format_date(1440938160, d);
	CHECK_STR(d, "20150830T123600Z");
}

int main(void)
{
	test_vectors();
	RUN(test_uri_encode);
	RUN(test_canonical_query);
	RUN(test_rejects);
	RUN(test_date);
	return test_exit();
}

/*
 * Test CLI over bootstrap/s3.c, used by the e2e tests to drive and inspect a bucket.
 * Env: S3_ENDPOINT S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY [S3_REGION] [S3_DEBUG=1]
 * [S3_PARALLEL=N] (GETs in flight for dump).
 * Exit: 0 ok, 1 error, 3 EEXIST (conditional put lost / bucket exists), 4 ENOENT, 64 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/config.h"
#include "../../bootstrap/http.h"
#include "../../bootstrap/log.h"
#include "../../bootstrap/s3.h"
#include "../../bootstrap/sigv4.h"

#define FILE_MAX (16u << 20)

static int usage(void)
{
	fprintf(stderr, "usage: s3tool mb\n"
			"       s3tool put KEY FILE [--if-none-match]   (FILE '-' = stdin)\n"
			"       s3tool get KEY | delete KEY | list PREFIX | dump PREFIX\n"
			"       s3tool fill PREFIX N\n");
	return 64;
}

static int env_field(char *dst, size_t len, const char *name, const char *def)
{
	const char *v = secure_getenv(name);

	if (!v)
		v = def;
	if (!v || strlen(v) >= len) {
		fprintf(stderr, "s3tool: %s is %s\n", name, v ? "too long" : "not set");
		return -EINVAL;
	}
	strcpy(dst, v);
	return 0;
}

/* Fills only the bucket fields of struct config; config.c is not needed. */
static int client_from_env(struct s3_client *c)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	int r;

	if (!cfg)
		return -ENOMEM;
	r = env_field(cfg->bucket_endpoint, sizeof(cfg->bucket_endpoint), "S3_ENDPOINT", NULL);
	if (r >= 0)
		r = env_field(cfg->bucket, sizeof(cfg->bucket), "S3_BUCKET", NULL);
	if (r >= 0)
		r = env_field(cfg->access_key, sizeof(cfg->access_key), "S3_ACCESS_KEY", NULL);
	if (r >= 0)
		r = env_field(cfg->secret_key, sizeof(cfg->secret_key), "S3_SECRET_KEY", NULL);
	if (r >= 0)
		r = env_field(cfg->bucket_region, sizeof(cfg->bucket_region), "S3_REGION", "");
	if (r >= 0)
		r = s3_client_init(c, cfg);
	if (r < 0 && r != -EINVAL)
		fprintf(stderr, "s3tool: bad S3 settings: %s\n", strerror(-r));
	explicit_bzero(cfg, sizeof(*cfg));
	free(cfg);
	return r;
}

static int read_input(const char *path, struct buf *b)
{
	char chunk[65536];
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	size_t n;
	int r = 0;

	if (!f)
		return -errno;
	while (r >= 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		r = buf_add(b, chunk, n);
	if (f != stdin)
		fclose(f);
	return r;
}

static int cmd_put(struct s3_client *c, int argc, char **argv)
{
	char etag[S3_ETAG_MAX];
	unsigned flags = 0;
	struct buf b;
	int r;

	if (argc == 4 && !strcmp(argv[3], "--if-none-match"))
		flags |= S3_PUT_IF_NONE_MATCH;
	else if (argc != 3)
		return -EDOM;
	buf_init(&b, FILE_MAX);
	r = read_input(argv[2], &b);
	if (r >= 0)
		r = s3_put(c, argv[1], b.data, b.len, flags, etag);
	if (r >= 0)
		printf("%s\n", etag);
	buf_free(&b);
	return r;
}

static int cmd_get(struct s3_client *c, const char *key)
{
	char etag[S3_ETAG_MAX];
	struct buf b;
	int r;

	r = s3_get(c, key, FILE_MAX, &b, etag);
	if (r < 0)
		return r;
	fwrite(b.data, 1, b.len, stdout);
	fprintf(stderr, "etag %s\n", etag);
	buf_free(&b);
	return 0;
}

static void print_object(const struct s3_object *o)
{
	char when[32];
	struct tm tm;

	gmtime_r(&o->last_modified, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s\t%s\t%llu\t%s\n", o->key, o->etag, (unsigned long long)o->size, when);
}

/* dump: every object under the prefix, fetched in parallel (exercises s3_get_many). */
static int cmd_list(struct s3_client *c, const char *prefix, bool dump)
{
	struct s3_listing l;
	struct s3_get_result *res = NULL;
	const char **keys = NULL;
	size_t i;
	int r;

	r = s3_list(c, prefix, &l);
	if (r < 0)
		return r;
	if (!dump) {
		for (i = 0; i < l.n; i++)
			print_object(&l.objects[i]);
		goto out;
	}
	keys = calloc(l.n + 1, sizeof(*keys));
	res = calloc(l.n + 1, sizeof(*res));
	if (!keys || !res) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < l.n; i++)
		keys[i] = l.objects[i].key;
	r = s3_get_many(c, keys, l.n, FILE_MAX, res);
	for (i = 0; r >= 0 && i < l.n; i++) {
		printf("==> %s <==\n", keys[i]);
		if (res[i].result < 0) {
			printf("error: %s\n", strerror(-res[i].result));
			r = res[i].result;
			continue;
		}
		fwrite(res[i].body.data, 1, res[i].body.len, stdout);
		printf("\n");
	}
	s3_get_results_free(res, l.n);
out:
	free(res);
	free(keys);
	s3_listing_free(&l);
	return r;
}

static int cmd_fill(struct s3_client *c, const char *prefix, const char *count)
{
	char key[S3_KEY_MAX], *end;
	unsigned long n, i;
	int r = 0;

	n = strtoul(count, &end, 10);
	if (*end || !*count || n > 100000)
		return -EDOM;
	for (i = 0; i < n && r >= 0; i++) {
		snprintf(key, sizeof(key), "%s%06lu", prefix, i);
		r = s3_put(c, key, key, strlen(key), 0, NULL);
	}
	return r;
}

/* PUT /<bucket>, signed here: the bootstrap itself never creates buckets. 409 = -EEXIST. */
static int cmd_mb(const struct s3_client *c)
{
	const char *host = strstr(c->endpoint, "://");
	char path[2 + sizeof(c->bucket)], url[sizeof(c->endpoint) + sizeof(path)];
	char date[SIGV4_DATE_LEN];
	struct http_header hdrs[4] = {
		{"Host", host ? host + 3 : ""},
		{"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
		{"x-amz-date", date},
	};
	const struct sigv4_request sreq = {
		.method = "PUT",
		.path = path,
		.headers = hdrs,
		.n_headers = 3,
		.payload_hash = SIGV4_EMPTY_SHA256,
	};
	const struct sigv4_credentials cred = {c->access_key, c->secret_key, c->region, "s3"};
	struct http_request req = {.method = "PUT", .url = url, .headers = hdrs, .n_headers = 4};
	struct http_response resp;
	struct sigv4_signed s;
	int r;

	snprintf(path, sizeof(path), "/%s", c->bucket);
	snprintf(url, sizeof(url), "%s%s", c->endpoint, path);
	sigv4_format_date(time(NULL), date);
	r = sigv4_sign(&sreq, &cred, time(NULL), &s);
	hdrs[3] = (struct http_header){"Authorization", s.authorization};
	req.max_response = 4096;
	if (r >= 0)
		r = http_perform(&req, &resp);
	sigv4_signed_free(&s);
	if (r < 0)
		return r;
	if (resp.status != 200)
		fprintf(stderr, "s3tool: mb: HTTP %ld\n", resp.status);
	r = resp.status == 200 ? 0 : resp.status == 409 ? -EEXIST : -EIO;
	http_response_free(&resp);
	return r;
}

static int run(struct s3_client *c, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "mb") && argc == 1)
		return cmd_mb(c);
	if (!strcmp(cmd, "put") && argc >= 3)
		return cmd_put(c, argc, argv);
	if (!strcmp(cmd, "get") && argc == 2)
		return cmd_get(c, argv[1]);
	if (!strcmp(cmd, "delete") && argc == 2)
		return s3_delete(c, argv[1]);
	if (!strcmp(cmd, "list") && argc == 2)
		return cmd_list(c, argv[1], false);
	if (!strcmp(cmd, "dump") && argc == 2)
		return cmd_list(c, argv[1], true);
	if (!strcmp(cmd, "fill") && argc == 3)
		return cmd_fill(c, argv[1], argv[2]);
	return -EDOM;
}

int main(int argc, char **argv)
{
	struct s3_client c;
	const char *dbg = getenv("S3_DEBUG");
	int r;

	if (argc < 2)
		return usage();
	log_init(dbg && *dbg == '1' ? LOG_LEVEL_DEBUG : LOG_LEVEL_QUIET);
	r = http_global_init();
	if (r < 0)
		return 1;
	r = client_from_env(&c);
	if (r < 0)
		return 1;
	if (getenv("S3_PARALLEL"))
		c.max_parallel = strtoul(getenv("S3_PARALLEL"), NULL, 10);
	r = run(&c, argc - 1, argv + 1);
	if (r == -EDOM) {
		s3_client_wipe(&c);
		return usage();
	}
	if (r < 0)
		fprintf(stderr, "s3tool: %s: %s%s%s%s\n", argv[1], strerror(-r),
			c.last_error[0] ? " (" : "", c.last_error, c.last_error[0] ? ")" : "");
	if (c.skew_seen)
		fprintf(stderr, "s3tool: clock corrected by %+lds\n", c.clock_offset);
	fprintf(stderr, "s3tool: stats list=%u get=%u put=%u del=%u retries=%u\n", c.stats.list,
		c.stats.get, c.stats.put, c.stats.del, c.stats.retries);
	s3_client_wipe(&c);
	http_global_cleanup();
	if (r == -EEXIST)
		return 3;
	if (r == -ENOENT)
		return 4;
	return r < 0 ? 1 : 0;
}

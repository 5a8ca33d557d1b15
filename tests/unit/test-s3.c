/* s3_list_parse against RGW-shaped ListObjectsV2 pages (tests/fixtures/s3/list) and the
 * SigV4 URI encoding of object keys (sigv4_uri_encode, as s3.c builds its URLs). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/s3.h"
#include "../../bootstrap/sigv4.h"
#include "test.h"

#define FIXTURES "tests/fixtures/s3/list"

static int load(const char *path, struct buf *b)
{
	char chunk[4096];
	size_t n;
	FILE *f;
	int r = 0;

	buf_init(b, 1 << 20);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (r >= 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		r = buf_add(b, chunk, n);
	fclose(f);
	if (r >= 0)
		r = buf_add(b, "", 0);
	return r;
}

static int parse_file(const char *name, struct s3_listing *l, bool *truncated, char *next,
		      size_t nextlen)
{
	char path[512];
	struct buf b;
	int r;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	r = load(path, &b);
	CHECK_INT(r, 0);
	if (r >= 0)
		r = s3_list_parse(b.data, b.len, l, truncated, next, nextlen);
	buf_free(&b);
	return r;
}

static void test_rgw_pages(void)
{
	struct s3_listing l = {0};
	char next[S3_KEY_MAX];
	bool truncated = false;

	CHECK_INT(parse_file("rgw-page1.xml", &l, &truncated, next, sizeof(next)), 0);
	CHECK(truncated);
	CHECK_STR(next, "clique/z \xc3\xbc");
	CHECK_INT(l.n, 3);
	if (l.n == 3) {
		CHECK_STR(l.objects[0].key, "clique/a&b=c+d");
		CHECK_STR(l.objects[0].etag, "0cc175b9c0f1b6a831c399e269772661");
		CHECK_INT(l.objects[0].last_modified, 1795773601);
		CHECK_INT(l.objects[0].size, 120);
		CHECK_STR(l.objects[1].key, "clique/<x> \"q\" 's' \x01\xc3\xa9");
		CHECK_STR(l.objects[1].etag, "92eb5ffee6ae2fec3ad71c777531578f-2");
		CHECK_INT(l.objects[1].size, 0);
		CHECK(l.objects[2].size == UINT64_MAX);
	}
	CHECK_INT(parse_file("rgw-last.xml", &l, &truncated, next, sizeof(next)), 0);
	CHECK(!truncated);
	CHECK_STR(next, "");
	CHECK_INT(l.n, 4);
	if (l.n == 4) {
		CHECK_STR(l.objects[3].key, "clique/zz");
		CHECK_STR(l.objects[3].etag, "8277e0910d750195b448797616e091ad");
		CHECK_INT(l.objects[3].last_modified, 1795773604);
	}
	s3_listing_free(&l);
	CHECK(!l.objects && !l.n);
}

static void test_empty_bucket(void)
{
	struct s3_listing l = {0};
	char next[16] = "junk";
	bool truncated = true;

	CHECK_INT(parse_file("empty.xml", &l, &truncated, next, sizeof(next)), 0);
	CHECK(!truncated);
	CHECK_STR(next, "");
	CHECK_INT(l.n, 0);
	s3_listing_free(&l);
}

static void test_error_document(void)
{
	struct s3_listing l = {0};
	char next[16] = "keep";
	bool truncated = true;

	CHECK_INT(parse_file("error.xml", &l, &truncated, next, sizeof(next)), -EINVAL);
	CHECK(truncated);
	CHECK_STR(next, "keep");
	s3_listing_free(&l);
}

/* Every malformed page fails and leaves the listing as it was (no partial page). */
static void test_malformed(void)
{
	struct dirent *de;
	DIR *d = opendir(FIXTURES "/bad");
	unsigned seen = 0;

	CHECK(d);
	while (d && (de = readdir(d))) {
		struct s3_listing l = {0};
		char name[300], next[S3_KEY_MAX] = "keep";
		bool truncated = true;
		int r;

		if (de->d_name[0] == '.')
			continue;
		seen++;
		CHECK_INT(parse_file("rgw-last.xml", &l, &truncated, next, sizeof(next)), 0);
		truncated = true;
		snprintf(next, sizeof(next), "keep");
		snprintf(name, sizeof(name), "bad/%s", de->d_name);
		r = parse_file(name, &l, &truncated, next, sizeof(next));
		if (r >= 0)
			fprintf(stderr, "%s: accepted\n", name);
		CHECK(r < 0);
		CHECK_INT(l.n, 1);
		CHECK(truncated);
		CHECK_STR(next, "keep");
		s3_listing_free(&l);
	}
	if (d)
		closedir(d);
	CHECK(seen >= 20);
}

static void test_specific_errors(void)
{
	struct s3_listing l = {0};
	char next[S3_KEY_MAX], small[8];
	bool truncated;

	CHECK_INT(parse_file("bad/long-key.xml", &l, &truncated, next, sizeof(next)),
		  -ENAMETOOLONG);
	CHECK_INT(parse_file("bad/long-token.xml", &l, &truncated, next, sizeof(next)),
		  -ENAMETOOLONG);
	CHECK_INT(parse_file("rgw-page1.xml", &l, &truncated, small, sizeof(small)), -ENAMETOOLONG);
	CHECK_INT(l.n, 0);
	CHECK_INT(s3_list_parse(NULL, 0, &l, &truncated, next, sizeof(next)), -EINVAL);
	s3_listing_free(&l);
}

/* More than S3_LIST_MAX objects across pages is refused rather than grown without bound. */
static void test_object_bound(void)
{
	static const char head[] = "<ListBucketResult><IsTruncated>false</IsTruncated>";
	static const char item[] = "<Contents><Key>k</Key><LastModified>2026-11-27T10:00:01.123Z"
				   "</LastModified><ETag>&quot;e&quot;</ETag></Contents>";
	struct s3_listing l = {0};
	char next[16];
	bool truncated;
	struct buf b;
	size_t i;
	int r = 0;

	buf_init(&b, 16 << 20);
	r = buf_add(&b, head, strlen(head));
	for (i = 0; i < S3_LIST_MAX / 2 && r >= 0; i++)
		r = buf_add(&b, item, strlen(item));
	if (r >= 0)
		r = buf_addf(&b, "</ListBucketResult>");
	CHECK_INT(r, 0);
	CHECK_INT(s3_list_parse(b.data, b.len, &l, &truncated, next, sizeof(next)), 0);
	CHECK_INT(s3_list_parse(b.data, b.len, &l, &truncated, next, sizeof(next)), 0);
	CHECK_INT(l.n, S3_LIST_MAX);
	CHECK_INT(s3_list_parse(b.data, b.len, &l, &truncated, next, sizeof(next)), -E2BIG);
	CHECK_INT(l.n, S3_LIST_MAX);
	buf_free(&b);
	s3_listing_free(&l);
}

/* sigv4_uri_encode into a fixed array, as s3.c's URLs use it: -ENAMETOOLONG when it does not fit. */
static int uri_encode(const char *in, bool keep_slash, char *out, size_t outlen)
{
	struct buf b;
	int r;

	buf_init(&b, outlen - 1);
	r = buf_add(&b, "", 0);
	if (r >= 0)
		r = sigv4_uri_encode(in, strlen(in), keep_slash, &b);
	if (r >= 0)
		memcpy(out, b.data, b.len + 1);
	buf_free(&b);
	return r == -EMSGSIZE ? -ENAMETOOLONG : r;
}

static void test_uri_encode(void)
{
	static const struct {
		const char *in;
		bool slash;
		const char *out;
	} cases[] = {
		{"clique/node 1+2=3&x", true, "clique/node%201%2B2%3D3%26x"},
		{"clique/node", false, "clique%2Fnode"},
		{"\xe2\x82\xac/~._-", true, "%E2%82%AC/~._-"},
		{"a?b#c%d", true, "a%3Fb%23c%25d"},
		{"", true, ""},
	};
	char out[64], tiny[4];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(uri_encode(cases[i].in, cases[i].slash, out, sizeof(out)), 0);
		CHECK_STR(out, cases[i].out);
	}
	CHECK_INT(uri_encode("abc", true, tiny, sizeof(tiny)), 0);
	CHECK_STR(tiny, "abc");
	CHECK_INT(uri_encode("ab ", true, tiny, sizeof(tiny)), -ENAMETOOLONG);
	CHECK_INT(uri_encode("abcd", true, tiny, sizeof(tiny)), -ENAMETOOLONG);
}

int main(void)
{
	RUN(test_rgw_pages);
	RUN(test_empty_bucket);
	RUN(test_error_document);
	RUN(test_malformed);
	RUN(test_specific_errors);
	RUN(test_object_bound);
	RUN(test_uri_encode);
	return test_exit();
}

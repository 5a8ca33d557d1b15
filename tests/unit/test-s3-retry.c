/*
 * What the S3 client does with a bucket that misbehaves in ways a status code does not show:
 * a LIST answered 200 whose XML was cut short is asked again (it is never taken as the
 * listing), and every error names the HTTP status, the S3 code and the request id the bucket
 * gave it (x-amz-request-id, else the <RequestId> of the error document), the id only when it
 * looks like one. Replies come from tests/fakes/http-fake.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/config.h"
#include "../../bootstrap/http.h"
#include "../../bootstrap/s3.h"
#include "../fakes/http-fake.h"
#include "test.h"

/* A one-object page as radosgw 17.2 answers ListObjectsV2 (tests/fixtures/s3/list). */
#define PAGE                                                                                     \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "                           \
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>mesh</Name>"                    \
	"<Prefix>clique/nodes/</Prefix><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"  \
	"<Contents><Key>clique/nodes/aa</Key><LastModified>2026-11-27T10:00:04.123Z"             \
	"</LastModified><ETag>&quot;8277e0910d750195b448797616e091ad&quot;</ETag><Size>7</Size>" \
	"<StorageClass>STANDARD</StorageClass></Contents><KeyCount>1</KeyCount>"                 \
	"</ListBucketResult>"
/* radosgw's error document (rgw_rest.cc end_header + dump_errno): the id is also a header */
#define RGW_ID "tx00000a1b2c3d4e5f6a7b8-0065f1c2d3-1a2b-default"
#define SIG_ERROR                                                                             \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code>" \
	"<Message></Message><BucketName>mesh</BucketName><RequestId>" RGW_ID                  \
	"</RequestId><HostId>1a2b-default-default</HostId></Error>"

static struct config cfg;

static void client(struct s3_client *c)
{
	struct config_error cerr;

	config_init(&cfg);
	CHECK_INT(config_set(&cfg, "bucket_endpoint", "http://127.0.0.1:7480", &cerr), 0);
	CHECK_INT(config_set(&cfg, "bucket", "mesh", &cerr), 0);
	CHECK_INT(config_set(&cfg, "access_key", "TESTACCESSKEY0000001", &cerr), 0);
	CHECK_INT(config_set(&cfg, "secret_key", "testsecret", &cerr), 0);
	CHECK_INT(s3_client_init(c, &cfg), 0);
	c->max_attempts = 3;
	http_fake_reset();
}

static void done(struct s3_client *c)
{
	s3_client_wipe(c);
	config_wipe(&cfg);
}

/* The first half of PAGE: a well-formed start under a length that matches (a cut body). */
static char *cut_page(void)
{
	static char cut[sizeof(PAGE)];

	memcpy(cut, PAGE, sizeof(PAGE) / 2);
	cut[sizeof(PAGE) / 2] = '\0';
	return cut;
}

static void test_cut_listing_retried(void)
{
	struct s3_listing l;
	struct s3_client c;

	client(&c);
	http_fake_push(0, 200, cut_page());
	http_fake_push(0, 200, PAGE);
	CHECK_INT(s3_list(&c, "clique/nodes/", &l), 0);
	CHECK_INT(l.n, 1);
	CHECK_STR(l.n ? l.objects[0].key : "", "clique/nodes/aa");
	CHECK_INT(http_fake_count(), 2);
	CHECK_INT(c.stats.list, 1);
	CHECK_INT(c.stats.retries, 1);
	s3_listing_free(&l);
	done(&c);
}

static void test_cut_listing_every_time(void)
{
	struct s3_listing l;
	struct s3_client c;
	int i;

	client(&c);
	for (i = 0; i < 4; i++)
		http_fake_push(0, 200, cut_page());
	CHECK(s3_list(&c, "clique/nodes/", &l) < 0);
	CHECK_INT(l.n, 0);
	CHECK_INT(http_fake_count(), 3); /* max_attempts, then the run falls back to its cache */
	CHECK(!strncmp(c.last_error, "bad listing page: ", 18));
	done(&c);
}

static void test_error_names_request(void)
{
	struct s3_listing l;
	struct s3_client c;
	struct buf body;

	client(&c);
	http_fake_push_id(403, SIG_ERROR, RGW_ID);
	CHECK(s3_list(&c, "clique/nodes/", &l) < 0);
	CHECK_STR(c.last_error, "HTTP 403 SignatureDoesNotMatch, request " RGW_ID);
	/* no header: the document's id */
	http_fake_push(0, 403, SIG_ERROR);
	CHECK_INT(s3_get(&c, "clique/nodes/aa", 64, &body, NULL), -EACCES);
	CHECK_STR(c.last_error, "HTTP 403 SignatureDoesNotMatch, request " RGW_ID);
	/* a header that is no id: the document's; neither: said so */
	http_fake_push_id(404, "<Error><Code>NoSuchKey</Code><RequestId>tx1</RequestId></Error>",
			  "tx2\x1b[2J");
	CHECK_INT(s3_get(&c, "clique/nodes/aa", 64, &body, NULL), -ENOENT);
	CHECK_STR(c.last_error, "HTTP 404 NoSuchKey, request tx1");
	http_fake_push_id(400, "<Error><RequestId>a b</RequestId></Error>", "");
	CHECK(s3_delete(&c, "clique/nodes/aa") < 0);
	CHECK_STR(c.last_error, "HTTP 400, request id not sent");
	done(&c);
}

static void test_parallel_get_error_names_request(void)
{
	static const char *const keys[] = {"clique/nodes/aa", "clique/nodes/bb"};
	struct s3_get_result res[2];
	struct s3_client c;

	client(&c);
	http_fake_push(0, 200, "sealed");
	http_fake_push_id(403, "<Error><Code>AccessDenied</Code></Error>", "tx00000f-1-default");
	CHECK_INT(s3_get_many(&c, keys, 2, 64, res), 0);
	CHECK_INT(res[0].result, 0);
	CHECK_INT(res[1].result, -EACCES);
	CHECK_STR(res[1].error, "HTTP 403 AccessDenied, request tx00000f-1-default");
	s3_get_results_free(res, 2);
	done(&c);
}

int main(void)
{
	RUN(test_cut_listing_retried);
	RUN(test_cut_listing_every_time);
	RUN(test_error_names_request);
	RUN(test_parallel_get_error_names_request);
	return test_exit();
}

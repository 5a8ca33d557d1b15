/*
 * A request's x-amz-date header and its signature must come from one reading of the clock: the
 * server recomputes the string to sign from the header, so a second that passes between two
 * readings is a 403 SignatureDoesNotMatch. This file's time() ticks one second per call (it
 * takes the place of libc's for the whole test binary), and the test verifies every recorded
 * request the way RGW does: re-sign it at the time its x-amz-date header states.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/config.h"
#include "../../bootstrap/http.h"
#include "../../bootstrap/s3.h"
#include "../../bootstrap/sigv4.h"
#include "../fakes/http-fake.h"
#include "test.h"

#define ACCESS "TESTACCESSKEY0000001"
#define SECRET "testsecretkey00000000000000000000000001"

static time_t clock_now = 1700000000;

time_t time(time_t *t)
{
	time_t now = clock_now++;

	if (t)
		*t = now;
	return now;
}

/* The value of header name in a recorded request ("METHOD URL\nName: value\n..."). */
static int header(const char *req, const char *name, char *out, size_t outlen)
{
	const char *p = req, *e;
	size_t n = strlen(name);

	while ((p = strchr(p, '\n'))) {
		p++;
		if (!strncmp(p, name, n) && p[n] == ':' && p[n + 1] == ' ') {
			p += n + 2;
			e = strchr(p, '\n');
			if (!e || (size_t)(e - p) >= outlen)
				return -EINVAL;
			memcpy(out, p, e - p);
			out[e - p] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

static time_t parse_amz_date(const char *s)
{
	struct tm tm = {0};

	if (!strptime(s, "%Y%m%dT%H%M%SZ", &tm))
		return -1;
	return timegm(&tm);
}

/* Re-signs request i at the time of its own x-amz-date, as the server does. */
static void check_signed_at_header_time(size_t i, const char *method, const char *path)
{
	const char *req = http_fake_request(i);
	char host[128], hash[SIGV4_HASH_HEX], date[SIGV4_DATE_LEN], auth[SIGV4_AUTH_MAX];
	const struct sigv4_credentials cred = {
		.access_key = ACCESS,
		.secret_key = SECRET,
		.region = "us-east-1",
		.service = "s3",
	};
	struct http_header hdrs[3];
	struct sigv4_request sreq;
	struct sigv4_signed s;

	CHECK_INT(header(req, "Host", host, sizeof(host)), 0);
	CHECK_INT(header(req, "x-amz-content-sha256", hash, sizeof(hash)), 0);
	CHECK_INT(header(req, "x-amz-date", date, sizeof(date)), 0);
	CHECK_INT(header(req, "Authorization", auth, sizeof(auth)), 0);
	hdrs[0] = (struct http_header){"Host", host};
	hdrs[1] = (struct http_header){"x-amz-content-sha256", hash};
	hdrs[2] = (struct http_header){"x-amz-date", date};
	sreq = (struct sigv4_request){
		.method = method,
		.path = path,
		.headers = hdrs,
		.n_headers = 3,
		.payload_hash = hash,
	};
	CHECK_INT(sigv4_sign(&sreq, &cred, parse_amz_date(date), &s), 0);
	CHECK_STR(auth, s.authorization);
	sigv4_signed_free(&s);
}

static void test_one_clock_reading(void)
{
	struct config_error cerr;
	struct s3_client c;
	struct config cfg;
	struct buf body;
	char etag[S3_ETAG_MAX];
	int i;

	config_init(&cfg);
	CHECK_INT(config_set(&cfg, "bucket_endpoint", "http://127.0.0.1:7480", &cerr), 0);
	CHECK_INT(config_set(&cfg, "bucket", "mesh", &cerr), 0);
	CHECK_INT(config_set(&cfg, "access_key", ACCESS, &cerr), 0);
	CHECK_INT(config_set(&cfg, "secret_key", SECRET, &cerr), 0);
	CHECK_INT(s3_client_init(&c, &cfg), 0);
	http_fake_reset();
	for (i = 0; i < 3; i++) {
		http_fake_push(0, 200, "x");
		CHECK_INT(s3_get(&c, "clique/nodes/a", 64, &body, etag), 0);
		buf_free(&body);
	}
	CHECK_INT(http_fake_count(), 3);
	for (i = 0; i < 3; i++)
		check_signed_at_header_time(i, "GET", "/mesh/clique/nodes/a");
	s3_client_wipe(&c);
	config_wipe(&cfg);
}

int main(void)
{
	RUN(test_one_clock_reading);
	return test_exit();
}

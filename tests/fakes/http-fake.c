/* See http-fake.h. Implements all of bootstrap/http.h so http.o is never pulled in. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/http.h"
#include "http-fake.h"

struct http_fake_reply {
	int result;
	long status;
	const char *body;
	const char *request_id;
};

static struct http_fake_reply replies[HTTP_FAKE_MAX];
static size_t n_replies, next_reply;
static char requests[HTTP_FAKE_MAX][1024];
static size_t n_requests;

void http_fake_reset(void)
{
	n_replies = next_reply = n_requests = 0;
}

int http_fake_push(int result, long status, const char *body)
{
	if (n_replies == HTTP_FAKE_MAX)
		return -ENOSPC;
	replies[n_replies++] = (struct http_fake_reply){result, status, body, NULL};
	return 0;
}

int http_fake_push_id(long status, const char *body, const char *request_id)
{
	int r = http_fake_push(0, status, body);

	if (!r)
		replies[n_replies - 1].request_id = request_id;
	return r;
}

size_t http_fake_count(void)
{
	return n_requests;
}

const char *http_fake_request(size_t i)
{
	return i < n_requests && i < HTTP_FAKE_MAX ? requests[i] : "";
}

static void http_fake_record(const struct http_request *req)
{
	char *out;
	size_t i, len;

	if (n_requests >= HTTP_FAKE_MAX) {
		n_requests++;
		return;
	}
	out = requests[n_requests++];
	len = snprintf(out, sizeof(requests[0]), "%s %s\n", req->method, req->url);
	for (i = 0; i < req->n_headers && len < sizeof(requests[0]); i++)
		len += snprintf(out + len, sizeof(requests[0]) - len, "%s: %s\n",
				req->headers[i].name, req->headers[i].value);
}

int http_global_init(void)
{
	return 0;
}

void http_global_cleanup(void)
{
}

int http_perform(const struct http_request *req, struct http_response *resp)
{
	struct http_fake_reply rep = {-ECONNREFUSED, 0, NULL, NULL};
	int r;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, req->max_response);
	http_fake_record(req);
	if (next_reply < n_replies)
		rep = replies[next_reply++];
	if (rep.result < 0) {
		snprintf(resp->error, sizeof(resp->error), "fake: %s", strerror(-rep.result));
		resp->result = rep.result;
		return rep.result;
	}
	resp->status = rep.status;
	if (rep.request_id)
		snprintf(resp->request_id, sizeof(resp->request_id), "%s", rep.request_id);
	if (rep.body) {
		r = buf_add(&resp->body, rep.body, strlen(rep.body));
		if (r < 0) {
			snprintf(resp->error, sizeof(resp->error), "fake: body over the limit");
			resp->result = r;
			return r;
		}
	}
	return 0;
}

int http_perform_many(const struct http_request *reqs, struct http_response *resps, size_t n,
		      unsigned max_parallel)
{
	size_t i;

	(void)max_parallel;
	for (i = 0; i < n; i++)
		http_perform(&reqs[i], &resps[i]);
	return 0;
}

void http_response_free(struct http_response *resp)
{
	buf_free(&resp->body);
}

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"
#include "text.h"

#define HTTP_DEFAULT_TIMEOUT_MS 10000L
#define HTTP_HEADER_LINE_MAX 8192

/* One transfer: the request's body cursor and the response being filled. */
struct xfer {
	const struct http_request *req;
	struct http_response *resp;
	size_t body_off;
	bool too_big, nomem;
	bool busy; /* added to the multi handle */
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
};

/*
 * The share handle holds the connection and DNS caches, so every easy handle -- the reused one of
 * http_perform() and those of http_perform_many() -- keeps connections alive across calls.
 */
static CURLSH *share;
static CURL *easy;
static bool inited;
static char *ca_file; /* http_set_ca_file(); NULL: curl's build-time default (test tools) */

int http_global_init(void)
{
	if (inited)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	share = curl_share_init();
	if (!share) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	inited = true;
	return 0;
}

void http_global_cleanup(void)
{
	if (!inited)
		return;
	if (easy)
		curl_easy_cleanup(easy);
	easy = NULL;
	curl_share_cleanup(share);
	share = NULL;
	curl_global_cleanup();
	free(ca_file);
	ca_file = NULL;
	inited = false;
}

int http_set_ca_file(const char *path)
{
	char *p = NULL;

	if (path && *path) {
		p = strdup(path);
		if (!p)
			return -ENOMEM;
	}
	free(ca_file);
	ca_file = p;
	return 0;
}

static void response_init(struct http_response *resp, size_t max)
{
	resp->result = -EIO;
	resp->status = 0;
	buf_init(&resp->body, max);
	resp->etag[0] = '\0';
	resp->date = 0;
	resp->error[0] = '\0';
}

void http_response_free(struct http_response *resp)
{
	buf_free(&resp->body);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	int r;

	/* Hard cap (curl DYNBUF "toobig"): returning short makes curl stop with WRITE_ERROR. */
	r = buf_add(&x->resp->body, p, n);
	if (r == -EMSGSIZE) {
		x->too_big = true;
		return 0;
	}
	if (r < 0) {
		x->nomem = true;
		return 0;
	}
	return n;
}

/* Copies the header value after "name:" into out, trimmed; false if it is not that header. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), start, end;

	if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen))
		return false;
	start = nlen + 1;
	end = len;
	while (start < end && (line[start] == ' ' || line[start] == '\t'))
		start++;
	while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
			       line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	/* An over-long value is dropped rather than truncated into something else. */
	if (end - start >= outlen) {
		out[0] = '\0';
		return true;
	}
	memcpy(out, line + start, end - start);
	out[end - start] = '\0';
	return true;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	char date[128];

	if (n > HTTP_HEADER_LINE_MAX)
		return n;
	/* A new status line (after "100 Continue" or a redirect) starts a new header block. */
	if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
		x->resp->etag[0] = '\0';
		x->resp->date = 0;
		x->resp->request_id[0] = '\0';
		return n;
	}
	header_value(p, n, "ETag", x->resp->etag, sizeof(x->resp->etag));
	header_value(p, n, "x-amz-request-id", x->resp->request_id, sizeof(x->resp->request_id));
	if (header_value(p, n, "Date", date, sizeof(date))) {
		time_t t = curl_getdate(date, NULL);

		x->resp->date = t > 0 ? t : 0;
	}
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t left = x->req->body_len - x->body_off, n = size * nmemb;

	if (n > left)
		n = left;
	if (n) {
		memcpy(p, (const char *)x->req->body + x->body_off, n);
		x->body_off += n;
	}
	return n;
}

/* Header names and values go on the wire as given: refuse anything that could split a line. */
static bool header_ok(const struct http_header *h)
{
	const char *s;

	if (!h->name || !*h->name || !h->value || !*h->value)
		return false;
	for (s = h->name; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == ':' || *s == 0x7f)
			return false;
	for (s = h->value; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

static int build_headers(struct xfer *x)
{
	char line[HTTP_HEADER_LINE_MAX];
	struct curl_slist *l;
	size_t i;
	int n;

	for (i = 0; i < x->req->n_headers; i++) {
		const struct http_header *h = &x->req->headers[i];

		if (!header_ok(h))
			return -EINVAL;
		n = snprintf(line, sizeof(line), "%s: %s", h->name, h->value);
		if (n < 0 || (size_t)n >= sizeof(line))
			return -EINVAL;
		l = curl_slist_append(x->headers, line);
		if (!l)
			return -ENOMEM;
		x->headers = l;
	}
	return 0;
}

static int set_method(CURL *e, struct xfer *x)
{
	const struct http_request *req = x->req;

	if (!strcmp(req->method, "GET"))
		return 0;
	if (!strcmp(req->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		return 0;
	}
	if (!strcmp(req->method, "DELETE")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		return 0;
	}
	if (strcmp(req->method, "PUT"))
		return -EINVAL;
	if (req->body_len && !req->body)
		return -EINVAL;
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(e, CURLOPT_READDATA, x);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
	/*
	 * curl adds "Expect: 100-continue" to every non-empty PUT (metadata-and-s3.md D.5); the
	 * "Expect:" removal idiom is not used, so just do not wait long for the 100.
	 */
	curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
	return 0;
}

/*
 * Verified TLS 1.2 or newer (curl's defaults made explicit). With a ca_file, it is the only trust
 * anchor: no build-time CA directory, so the static and the dynamic build trust the same.
 */
static void tls_setup(CURL *e)
{
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (!ca_file)
		return;
	curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
}

static int xfer_setup(CURL *e, struct xfer *x, const struct http_request *req,
		      struct http_response *resp)
{
	int r;

	memset(x, 0, sizeof(*x));
	x->req = req;
	x->resp = resp;
	response_init(resp, req->max_response);
	if (!req->method || !req->url)
		return -EINVAL;
	r = build_headers(x);
	if (r < 0)
		return r;
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_SHARE, share);
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	tls_setup(e);
	/* S3 keys are not paths: "a/../b" and "./x" must reach the server as signed. */
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			 req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	return set_method(e, x);
}

static int map_error(CURL *e, CURLcode rc, const struct xfer *x)
{
	long os_errno = 0;

	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_WRITE_ERROR:
		if (x->too_big)
			return -EMSGSIZE;
		return x->nomem ? -ENOMEM : -EIO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO; /* the same answer at every attempt: not retried */
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
		if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
			return -EHOSTUNREACH;
		return -ECONNREFUSED;
	default:
		return -EIO;
	}
}

static bool skip_prefix(const char **s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(*s, prefix, n))
		return false;
	*s += n;
	return true;
}

/* curl reports an untrusted chain and a name mismatch with one code; its OpenSSL backend's text
 * tells them apart. */
bool http_tls_error_text(int rc, const char *detail, char *out, size_t len)
{
	const char *what;

	switch ((CURLcode)rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (skip_prefix(&detail, "SSL certificate problem: "))
			what = "TLS certificate not trusted";
		else if (skip_prefix(&detail, "SSL: ") && strstr(detail, "subject name"))
			what = "TLS certificate does not match the host name";
		else
			what = "TLS certificate refused";
		break;
	case CURLE_SSL_CONNECT_ERROR:
		what = "TLS handshake failed";
		break;
	case CURLE_SSL_CACERT_BADFILE:
		what = "TLS CA file unusable";
		break;
	default:
		return false;
	}
	/* a cut detail is still informative */
	if (snprintf(out, len, "%s (%s)", what, detail) >= (int)len)
		out[len - 2] = ')';
	return true;
}

static void xfer_finish(CURL *e, struct xfer *x, CURLcode rc, int setup_r)
{
	struct http_response *resp = x->resp;

	if (setup_r < 0) {
		resp->result = setup_r;
	} else {
		resp->result = map_error(e, rc, x);
		if (resp->result == 0)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
	}
	if (resp->result >= 0)
		resp->error[0] = '\0';
	else if (!http_tls_error_text(rc, x->errbuf, resp->error, sizeof(resp->error)))
		text_copy(resp->error, sizeof(resp->error),
			  x->errbuf[0] ? x->errbuf : strerror(-resp->result));
	curl_slist_free_all(x->headers);
	x->headers = NULL;
}

int http_perform(const struct http_request *req, struct http_response *resp)
{
	struct xfer x;
	CURLcode rc = CURLE_OK;
	int r;

	r = http_global_init();
	if (r < 0) {
		response_init(resp, req->max_response);
		resp->result = r;
		return r;
	}
	if (!easy)
		easy = curl_easy_init();
	if (!easy) {
		response_init(resp, req->max_response);
		resp->result = -ENOMEM;
		return -ENOMEM;
	}
	r = xfer_setup(easy, &x, req, resp);
	if (r >= 0)
		rc = curl_easy_perform(easy);
	xfer_finish(easy, &x, rc, r);
	log_debug("http: %s %s -> %ld (%d)", req->method, req->url, resp->status, resp->result);
	return resp->result;
}

struct many {
	CURLM *multi;
	CURL **handles;
	struct xfer *xfers;
	unsigned slots;
};

/* Starts request i on handle slot h; a request that cannot even be set up finishes at once. */
static int start_one(struct many *m, unsigned h, const struct http_request *req,
		     struct http_response *resp)
{
	int r;

	r = xfer_setup(m->handles[h], &m->xfers[h], req, resp);
	if (r < 0) {
		xfer_finish(m->handles[h], &m->xfers[h], CURLE_OK, r);
		return 1;
	}
	if (curl_multi_add_handle(m->multi, m->handles[h]) != CURLM_OK) {
		xfer_finish(m->handles[h], &m->xfers[h], CURLE_OK, -ENOMEM);
		return 1;
	}
	m->xfers[h].busy = true;
	return 0;
}

static int many_init(struct many *m, unsigned slots)
{
	unsigned i;

	memset(m, 0, sizeof(*m));
	m->multi = curl_multi_init();
	m->handles = calloc(slots, sizeof(*m->handles));
	m->xfers = calloc(slots, sizeof(*m->xfers));
	if (!m->multi || !m->handles || !m->xfers)
		return -ENOMEM;
	m->slots = slots;
	for (i = 0; i < slots; i++) {
		m->handles[i] = curl_easy_init();
		if (!m->handles[i])
			return -ENOMEM;
	}
	curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)slots);
	curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)slots);
	return 0;
}

static void many_free(struct many *m)
{
	unsigned i;

	for (i = 0; m->handles && i < m->slots; i++)
		if (m->handles[i])
			curl_easy_cleanup(m->handles[i]);
	free(m->handles);
	free(m->xfers);
	if (m->multi)
		curl_multi_cleanup(m->multi);
}

/* Finished transfers free their slot; the next pending request reuses that easy handle. */
static void reap(struct many *m, const struct http_request *reqs, struct http_response *resps,
		 size_t n, size_t *next, unsigned *free_slots, unsigned *nfree)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left))) {
		struct xfer *x;
		char *priv = NULL;
		unsigned h;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		x = (struct xfer *)priv;
		h = x - m->xfers;
		xfer_finish(m->handles[h], x, msg->data.result, 0);
		curl_multi_remove_handle(m->multi, m->handles[h]);
		x->busy = false;
		free_slots[(*nfree)++] = h;
	}
	while (*nfree && *next < n) {
		unsigned h = free_slots[--(*nfree)];

		if (start_one(m, h, &reqs[*next], &resps[*next]))
			free_slots[(*nfree)++] = h;
		(*next)++;
	}
}

int http_perform_many(const struct http_request *reqs, struct http_response *resps, size_t n,
		      unsigned max_parallel)
{
	struct many m;
	unsigned *free_slots = NULL, nfree, i, slots;
	size_t next = 0, k;
	int running = 0, r;

	for (k = 0; k < n; k++)
		response_init(&resps[k], reqs[k].max_response);
	if (!n)
		return 0;
	r = http_global_init();
	if (r < 0)
		return r;
	slots = max_parallel ? max_parallel : 16;
	if (slots > n)
		slots = n;
	r = many_init(&m, slots);
	free_slots = calloc(slots, sizeof(*free_slots));
	if (r < 0 || !free_slots) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < slots; i++)
		free_slots[i] = slots - 1 - i;
	nfree = slots;
	reap(&m, reqs, resps, n, &next, free_slots, &nfree);
	do {
		CURLMcode mc = curl_multi_perform(m.multi, &running);

		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(m.multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			r = -EIO;
			break;
		}
		reap(&m, reqs, resps, n, &next, free_slots, &nfree);
	} while (running || next < n || nfree < slots);
out:
	/* On a multi failure, transfers still in flight end with -EIO. */
	for (i = 0; m.xfers && i < m.slots; i++)
		if (m.xfers[i].busy) {
			curl_multi_remove_handle(m.multi, m.handles[i]);
			xfer_finish(m.handles[i], &m.xfers[i], CURLE_OK, -EIO);
		}
	free(free_slots);
	many_free(&m);
	return r == -ENOMEM ? r : 0;
}

/*
 * Scripted stand-in for bootstrap/http.c, linked in its place (STYLE.md 12, bgpd regress stubs):
 * replies are served in the order queued, an empty queue answers -ECONNREFUSED (nobody
 * listening), and every request is recorded as text for the test to assert on.
 */
#ifndef CLIQUE_HTTP_FAKE_H
#define CLIQUE_HTTP_FAKE_H

#include <stddef.h>

#define HTTP_FAKE_MAX 64

void http_fake_reset(void);
/* result < 0: a transport error (status ignored); else an HTTP status with body (may be NULL). */
int http_fake_push(int result, long status, const char *body);
/* A response whose x-amz-request-id header says request_id. */
int http_fake_push_id(long status, const char *body, const char *request_id);
/* Number of requests performed since the last reset. */
size_t http_fake_count(void);
/* "PUT http://h/v1/token\nName: value\n..." for request i, "" when out of range. */
const char *http_fake_request(size_t i);

#endif

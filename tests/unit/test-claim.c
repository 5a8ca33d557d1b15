/* Address claims (pure parts) and the lifecycle fields of state.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <sodium.h>

#include "../../bootstrap/addr.h"
#include "../../bootstrap/buf.h"
#include "../../bootstrap/claim.h"
#include "../../bootstrap/record.h"
#include "../../bootstrap/state.h"
#include "test.h"

static const uint8_t name_key[32] = {1, 2, 3};
static const uint8_t record_key[32] = {9, 8, 7};

static struct ip_addr ip(const char *s)
{
	struct ip_addr a;

	if (addr_parse(s, &a) < 0)
		memset(&a, 0, sizeof(a));
	return a;
}

static void test_claim_object_name(void)
{
	struct ip_addr a = ip("10.15.2.7"), b = ip("10.15.2.8");
	char n1[RECORD_OBJECT_MAX], n2[RECORD_OBJECT_MAX], n3[RECORD_OBJECT_MAX];
	size_t i;

	CHECK_INT(claim_object_name(name_key, "clique/", &a, n1, sizeof(n1)), 0);
	CHECK_INT(claim_object_name(name_key, "clique/", &a, n2, sizeof(n2)), 0);
	CHECK_INT(claim_object_name(name_key, "clique/", &b, n3, sizeof(n3)), 0);
	CHECK_STR(n1, n2); /* deterministic: every node names the same object */
	CHECK(strcmp(n1, n3));
	CHECK_INT(strlen(n1), strlen("clique/addrs/") + 32);
	CHECK(!strncmp(n1, "clique/addrs/", 13));
	for (i = 13; n1[i]; i++) /* opaque: hex only, no IP in the bucket */
		CHECK(strchr("0123456789abcdef", n1[i]) != NULL);
	CHECK(!strstr(n1, "10.15"));
	CHECK_INT(claim_object_name(name_key, "clique/", &a, n1, 20), -ENAMETOOLONG);
	b = ip("2001:db8::1");
	CHECK_INT(claim_object_name(name_key, "clique/", &b, n1, sizeof(n1)), -EINVAL);
}

static void test_claim_candidates(void)
{
	struct ip_addr s = ip("10.15.2.1"), e = ip("10.15.2.24"), c0, c, one = ip("10.15.2.9");
	uint32_t i, first, seen = 0;

	CHECK_INT(claim_pool_size(&s, &e), 24);
	CHECK_INT(claim_pool_size(&e, &s), 0);
	CHECK_INT(claim_pool_size(&one, &one), 1);
	CHECK_INT(claim_candidate(name_key, "clique/nodes/aa", &s, &e, 0, &c0), 0);
	first = ntohl(c0.v4.s_addr) - ntohl(s.v4.s_addr);
	/* every address of the pool comes up exactly once, in order from the hashed start */
	for (i = 0; i < 24; i++) {
		CHECK_INT(claim_candidate(name_key, "clique/nodes/aa", &s, &e, i, &c), 0);
		CHECK_INT(ntohl(c.v4.s_addr) - ntohl(s.v4.s_addr), (first + i) % 24);
		seen |= 1u << (ntohl(c.v4.s_addr) - ntohl(s.v4.s_addr));
	}
	CHECK_INT(seen, (1u << 24) - 1);
	CHECK_INT(claim_candidate(name_key, "clique/nodes/aa", &s, &e, 24, &c), 0);
	CHECK(addr_equal(&c, &c0)); /* wraps */
	CHECK_INT(claim_candidate(name_key, "clique/nodes/aa", &e, &s, 0, &c), -ERANGE);
	CHECK_INT(claim_candidate(name_key, "x", &one, &one, 5, &c), 0);
	CHECK(addr_equal(&c, &one));
}

static void test_claim_seal_open(void)
{
	struct claim c = {.address = ip("10.15.2.7"), .claimed = 1700000000}, back;
	char object[RECORD_OBJECT_MAX], other[RECORD_OBJECT_MAX];
	uint8_t wrong[32] = {0};
	struct buf b;
	struct ip_addr o = ip("10.15.2.8");

	snprintf(c.node, sizeof(c.node), "clique/nodes/0123456789abcdef0123456789abcdef");
	CHECK_INT(claim_object_name(name_key, "clique/", &c.address, object, sizeof(object)), 0);
	CHECK_INT(claim_object_name(name_key, "clique/", &o, other, sizeof(other)), 0);
	buf_init(&b, RECORD_MAX_SIZE);
	CHECK_INT(claim_seal(record_key, object, &c, &b), 0);
	CHECK(!strstr(b.data, "10.15") && !strstr(b.data, "clique/nodes"));
	CHECK_INT(claim_open(record_key, object, b.data, b.len, &back), 0);
	CHECK_STR(back.node, c.node);
	CHECK(addr_equal(&back.address, &c.address));
	CHECK_INT(back.claimed, 1700000000);
	/* bound to its name: a claim copied to another address's object does not open */
	CHECK_INT(claim_open(record_key, other, b.data, b.len, &back), -EBADMSG);
	CHECK_INT(claim_open(wrong, object, b.data, b.len, &back), -EBADMSG);
	CHECK_INT(claim_open(record_key, object, "{}", 2, &back), -EBADMSG);
	/* a sealed record is not a claim */
	CHECK_INT(record_seal_payload(record_key, object, "{\"node\":1}", 10, &b), 0);
	CHECK_INT(claim_open(record_key, object, b.data, b.len, &back), -EINVAL);
	buf_free(&b);
}

static void test_state_lifecycle_fields(void)
{
	struct state st = {0}, back;
	struct buf b;
	static const char *bad[] = {
		"{\"version\":1,\"claim\":{\"address\":\"2001:db8::1\",\"object\":\"x\"}}",
		"{\"version\":1,\"claim\":{\"address\":\"10.15.2.7\"}}",
		"{\"version\":1,\"conditional_put\":{\"bucket\":\"b\",\"honoured\":1}}",
		"{\"version\":1,\"left\":\"yes\"}",
	};
	size_t i;

	st.claim_address = ip("10.15.2.7");
	snprintf(st.claim_object, sizeof(st.claim_object), "clique/addrs/00ff");
	st.cond_put = STATE_COND_PUT_IGNORED;
	snprintf(st.cond_put_bucket, sizeof(st.cond_put_bucket), "http://h:7480/b/clique/");
	st.left = true;
	buf_init(&b, 1 << 20);
	CHECK_INT(state_serialize(&st, &b), 0);
	CHECK_INT(state_parse(b.data, b.len, &back), 0);
	CHECK(addr_equal(&back.claim_address, &st.claim_address));
	CHECK_STR(back.claim_object, st.claim_object);
	CHECK_INT(back.cond_put, STATE_COND_PUT_IGNORED);
	CHECK_STR(back.cond_put_bucket, st.cond_put_bucket);
	CHECK(back.left);
	state_free(&back);
	/* absent fields: no claim, probe unknown, not left */
	CHECK_INT(state_parse("{\"version\":1}", 13, &back), 0);
	CHECK_INT(back.claim_address.family, 0);
	CHECK_INT(back.cond_put, STATE_COND_PUT_UNKNOWN);
	CHECK(!back.left);
	state_free(&back);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK_INT(state_parse(bad[i], strlen(bad[i]), &back), -EINVAL);
	buf_free(&b);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_claim_object_name);
	RUN(test_claim_candidates);
	RUN(test_claim_seal_open);
	RUN(test_state_lifecycle_fields);
	return test_exit();
}

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <sodium.h>

#include "../../bootstrap/keys.h"
#include "../../bootstrap/record.h"
#include "test.h"

#define NAME_64 "0123456789012345678901234567890123456789012345678901234567890123"

#define OBJ "clique/nodes/00112233445566778899aabbccddeeff"
#define PK_B64 "eaYx7t4b+cmPEgMs3q3Q56B5OY/HhriMyEbsia+FpRo="

static uint8_t key[32], other_key[32];

static void sample(struct record *r)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->name, "linode-node-1");
	strcpy(r->provider, "linode");
	strcpy(r->region, "ap-south");
	strcpy(r->zone, "linode/ap-south/vlan1");
	keys_from_base64(PK_B64, r->public_key);
	addr_parse("10.15.0.1", &r->address);
	r->port = 51871;
	addr_parse("203.0.113.10", &r->wan);
	addr_parse("192.168.128.10", &r->lan);
	addr_parse("2001:db8::10", &r->wan6);
	r->created = 1700000000;
	r->updated = 1700000100;
	r->seq = 7;
}

static bool record_equal(const struct record *a, const struct record *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->provider, b->provider) &&
	       !strcmp(a->region, b->region) && !strcmp(a->zone, b->zone) &&
	       !memcmp(a->public_key, b->public_key, 32) && addr_equal(&a->address, &b->address) &&
	       a->port == b->port && addr_equal(&a->wan, &b->wan) && addr_equal(&a->lan, &b->lan) &&
	       addr_equal(&a->wan6, &b->wan6) && a->created == b->created &&
	       a->updated == b->updated && a->seq == b->seq;
}

static void test_object_name(void)
{
	uint8_t name_key[32];
	char out[RECORD_OBJECT_MAX], out2[RECORD_OBJECT_MAX], small[20];

	memset(name_key, 3, sizeof(name_key));
	CHECK_INT(record_object_name(name_key, "clique/", "linode", "12345", out, sizeof(out)), 0);
	CHECK(!strncmp(out, "clique/nodes/", 13));
	CHECK_INT(strlen(out), 13 + 32);
	CHECK(strspn(out + 13, "0123456789abcdef") == 32);
	/* Stable (= Python hashlib.blake2b(b"linode:12345", digest_size=16, key=b"\3" * 32)):
	 * a change renames every node's object. */
	CHECK_STR(out, "clique/nodes/50d3a3447a23c922472cf3b3558f4916");
	CHECK_INT(record_object_name(name_key, "", "linode", "12345", out2, sizeof(out2)), 0);
	CHECK_STR(out2, out + 7);
	CHECK_INT(record_object_name(name_key, "", "vultr", "12345", out2, sizeof(out2)), 0);
	CHECK(strcmp(out2, out + 7));
	name_key[0] ^= 1;
	CHECK_INT(record_object_name(name_key, "", "linode", "12345", out2, sizeof(out2)), 0);
	CHECK(strcmp(out2, out + 7));
	CHECK_INT(record_object_name(name_key, "", "lin:ode", "1", out2, sizeof(out2)), -EINVAL);
	CHECK_INT(record_object_name(name_key, "", "linode", "", out2, sizeof(out2)), -EINVAL);
	CHECK_INT(record_object_name(name_key, "", "linode", "a\nb", out2, sizeof(out2)), -EINVAL);
	CHECK_INT(record_object_name(name_key, "", "linode", "1", small, sizeof(small)),
		  -ENAMETOOLONG);
}

static void test_round_trip(void)
{
	struct record r, back;
	struct buf b;

	sample(&r);
	buf_init(&b, RECORD_MAX_SIZE);
	CHECK_INT(record_seal(key, OBJ, &r, &b), 0);
	CHECK(b.len < 1024);
	CHECK(!strncmp(b.data, "{\"v\":1,\"nonce\":\"", 16));
	memset(&back, 0, sizeof(back));
	CHECK_INT(record_open(key, OBJ, b.data, b.len, &back), 0);
	CHECK(record_equal(&r, &back));

	/* Without optional endpoints. */
	memset(&r.wan, 0, sizeof(r.wan));
	memset(&r.lan, 0, sizeof(r.lan));
	memset(&r.wan6, 0, sizeof(r.wan6));
	CHECK_INT(record_seal(key, OBJ, &r, &b), 0);
	CHECK_INT(record_open(key, OBJ, b.data, b.len, &back), 0);
	CHECK(record_equal(&r, &back));
	CHECK_INT(back.wan.family, 0);
	buf_free(&b);
}

static void test_no_plaintext(void)
{
	static const char *const needles[] = {"linode",	   "node-1",  "ap-south", "10.15.0.1",
					      "203.0.113", "192.168", "2001:db8", "eaYx7t4b",
					      "51871",	   "seq"};
	struct record r;
	struct buf b;
	size_t i;

	sample(&r);
	buf_init(&b, RECORD_MAX_SIZE);
	CHECK_INT(record_seal(key, OBJ, &r, &b), 0);
	for (i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
		CHECK(strstr(b.data, needles[i]) == NULL);
	buf_free(&b);
}

static void test_wrong_key_and_replay(void)
{
	struct record r, back;
	struct buf b;

	sample(&r);
	buf_init(&b, RECORD_MAX_SIZE);
	CHECK_INT(record_seal(key, OBJ, &r, &b), 0);
	CHECK_INT(record_open(other_key, OBJ, b.data, b.len, &back), -EBADMSG);
	/* The same bytes copied to another node's name. */
	CHECK_INT(record_open(key, "clique/nodes/ffeeddccbbaa99887766554433221100", b.data, b.len,
			      &back),
		  -EBADMSG);
	CHECK_INT(record_open(key, "other/nodes/00112233445566778899aabbccddeeff", b.data, b.len,
			      &back),
		  -EBADMSG);
	buf_free(&b);
}

static void test_tampered(void)
{
	struct record r, back;
	struct buf b;
	char *box, saved;

	sample(&r);
	buf_init(&b, RECORD_MAX_SIZE);
	CHECK_INT(record_seal(key, OBJ, &r, &b), 0);
	box = strstr(b.data, "\"box\":\"") + 7;
	saved = box[10];
	box[10] = saved == 'A' ? 'B' : 'A';
	CHECK_INT(record_open(key, OBJ, b.data, b.len, &back), -EBADMSG);
	box[10] = saved;
	CHECK_INT(record_open(key, OBJ, b.data, b.len, &back), 0);
	/* nonce */
	box = strstr(b.data, "\"nonce\":\"") + 9;
	saved = box[3];
	box[3] = saved == 'A' ? 'B' : 'A';
	CHECK_INT(record_open(key, OBJ, b.data, b.len, &back), -EBADMSG);
	box[3] = saved;
	/* truncated */
	CHECK_INT(record_open(key, OBJ, b.data, b.len - 5, &back), -EBADMSG);
	CHECK_INT(record_open(key, OBJ, b.data, 0, &back), -EBADMSG);
	buf_free(&b);
}

static int open_text(const char *text)
{
	struct record back;

	return record_open(key, OBJ, text, strlen(text), &back);
}

static void test_envelope(void)
{
	static const char *const bad[] = {
		"[]",
		"{}",
		"\"v\"",
		"{\"v\":\"1\",\"nonce\":\"\",\"box\":\"\"}",
		"{\"v\":1}",
		"{\"v\":1,\"nonce\":\"AAAA\",\"box\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"v\":1,\"nonce\":1,\"box\":\"x\"}",
		"{\"v\":1.0,\"nonce\":\"x\",\"box\":\"x\"}",
		"{\"v\":1,\"v\":1,\"nonce\":\"x\",\"box\":\"x\"}",
		"{\"v\":1,\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"box\":\"AAAA\"}",
		"{\"v\":1,\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"box\":\"****\"}",
	};
	struct record r, back;
	struct buf b;
	char *extra;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (record_open(key, OBJ, bad[i], strlen(bad[i]), &back) != -EBADMSG) {
			fprintf(stderr, "  accepted envelope %s\n", bad[i]);
			test_failures++;
		}
	}
	CHECK_INT(open_text("{\"v\":2,\"other\":1}"), -EPROTONOSUPPORT);
	CHECK_INT(open_text("{\"v\":0,\"nonce\":\"\",\"box\":\"\"}"), -EPROTONOSUPPORT);

	/* An extra envelope field is refused even around an authentic box. */
	sample(&r);
	buf_init(&b, RECORD_MAX_SIZE);
	CHECK_INT(record_seal(key, OBJ, &r, &b), 0);
	extra = malloc(b.len + 16);
	snprintf(extra, b.len + 16, "{\"x\":1,%s", b.data + 1);
	CHECK_INT(record_open(key, OBJ, extra, strlen(extra), &back), -EBADMSG);
	free(extra);
	buf_free(&b);
}

static void test_oversized(void)
{
	char *big = malloc(RECORD_MAX_SIZE + 2);
	struct record back;
	struct buf b;

	memset(big, ' ', RECORD_MAX_SIZE + 1);
	big[RECORD_MAX_SIZE + 1] = '\0';
	CHECK_INT(record_open(key, OBJ, big, RECORD_MAX_SIZE + 1, &back), -EMSGSIZE);
	CHECK_INT(record_payload_parse(big, RECORD_MAX_SIZE + 1, &back), -EMSGSIZE);
	/* A payload whose envelope would not fit is never sealed. */
	buf_init(&b, 3 * RECORD_MAX_SIZE);
	CHECK_INT(record_seal_payload(key, OBJ, big, 3500, &b), -EMSGSIZE);
	buf_free(&b);
	free(big);
}

#define GOOD_PAYLOAD GOOD_PAYLOAD_NAMED("n")
#define GOOD_PAYLOAD_NAMED(name)                                                                   \
	"{\"name\":\"" name "\",\"provider\":\"vultr\",\"region\":\"sgp\",\"zone\":\"vultr/sgp\"," \
	"\"public_key\":\"" PK_B64 "\",\"address\":\"10.15.1.1\",\"port\":51871,"                  \
	"\"endpoints\":{\"wan\":\"198.51.100.1\"},\"created\":1,\"updated\":2,\"seq\":3"

static int open_payload(const char *payload, struct record *ret)
{
	struct buf b;
	int r;

	buf_init(&b, RECORD_MAX_SIZE);
	r = record_seal_payload(key, OBJ, payload, strlen(payload), &b);
	if (r == 0)
		r = record_open(key, OBJ, b.data, b.len, ret);
	buf_free(&b);
	return r;
}

static void test_payload_validation(void)
{
	static const char *const bad[] = {
		/* wrong types */
		"{\"name\":1,\"provider\":\"vultr\",\"region\":\"sgp\",\"zone\":\"z\",\"public_"
		"key\":"
		"\"" PK_B64 "\",\"address\":\"10.15.1.1\",\"port\":51871,\"endpoints\":{},"
		"\"created\":1,\"updated\":2,\"seq\":3}",
		"{\"name\":\"n\",\"provider\":\"vultr\",\"region\":\"sgp\",\"zone\":\"z\","
		"\"public_key\":\"" PK_B64 "\",\"address\":\"10.15.1.1\",\"port\":51871.0,"
		"\"endpoints\":{},\"created\":1,\"updated\":2,\"seq\":3}",
		"{\"name\":\"n\",\"provider\":\"vultr\",\"region\":\"sgp\",\"zone\":\"z\","
		"\"public_key\":\"" PK_B64 "\",\"address\":\"10.15.1.1\",\"port\":51871,"
		"\"endpoints\":[],\"created\":1,\"updated\":2,\"seq\":3}",
		"{\"name\":\"n\",\"provider\":\"vultr\",\"region\":\"sgp\",\"zone\":\"z\","
		"\"public_key\":\"" PK_B64 "\",\"address\":\"10.15.1.1\",\"port\":51871,"
		"\"endpoints\":{\"wan\":5},\"created\":1,\"updated\":2,\"seq\":3}",
		/* missing field */
		"{\"name\":\"n\",\"provider\":\"vultr\",\"region\":\"sgp\",\"zone\":\"z\","
		"\"public_key\":\"" PK_B64 "\",\"address\":\"10.15.1.1\",\"port\":51871,"
		"\"endpoints\":{},\"created\":1,\"updated\":2}",
	};
	static const char *const fields[] = {
		/* each replaces one field of an otherwise good payload */
		"\"port\":\"51871\"",
		"\"port\":0",
		"\"port\":65536",
		"\"port\":-1",
		"\"seq\":-1",
		"\"created\":-5",
		"\"updated\":1.5",
		"\"address\":\"fd00::1\"",
		"\"address\":\"10.15.1.1/32\"",
		"\"address\":\"\"",
		"\"public_key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
		"\"public_key\":\"eaYx7t4b+cmPEgMs3q3Q56B5OY/HhriMyEbsia+FpRp=\"",
		"\"public_key\":\"eaYx\"",
		"\"endpoints\":{\"wan\":\"2001:db8::1\"}",
		"\"endpoints\":{\"lan\":\"2001:db8::1\"}",
		"\"endpoints\":{\"wan6\":\"198.51.100.1\"}",
		"\"endpoints\":{\"wan\":\"0.0.0.0\"}",
		"\"endpoints\":{\"wan\":\"224.0.0.1\"}",
		"\"endpoints\":{\"wan6\":\"::\"}",
		"\"endpoints\":{\"wan\":\"\"}",
		"\"endpoints\":{\"wan\":\"host.example\"}",
		"\"endpoints\":{\"wan\":null}",
		/* hostile strings */
		"\"name\":\"evil\\nPrivateKey=x\"",
		"\"name\":\"[WireGuardPeer]\"",
		"\"name\":\"a=b\"",
		"\"name\":\"bell\\u0007\"",
		"\"name\":\"nul\\u0000x\"",
		"\"name\":\"caf\\u00e9\"",
		"\"name\":\"\"",
		"\"zone\":\"z#1\"",
		"\"zone\":\"z;1\"",
		"\"region\":\"back\\\\slash\"",
		"\"provider\":\"quote\\\"d\"",
		"\"provider\":\"0123456789abcdef\"",
		/* 256 characters: one over the limit */
		"\"name\":\"" NAME_64 NAME_64 NAME_64 NAME_64 "\"",
	};
	char payload[1024];
	struct record back;
	size_t i;

	/* 255 characters fit */
	snprintf(payload, sizeof(payload), "%s}",
		 GOOD_PAYLOAD_NAMED(NAME_64 NAME_64 NAME_64 "012345678901234567890123456789"
							    "012345678901234567890123456789012"));
	CHECK_INT(open_payload(payload, &back), 0);
	CHECK_INT(strlen(back.name), 255);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (open_payload(bad[i], &back) != -EINVAL) {
			fprintf(stderr, "  accepted payload %zu\n", i);
			test_failures++;
		}
	}
	/* Duplicate keys: which value counts would be ambiguous. */
	snprintf(payload, sizeof(payload), "%s,\"seq\":4}", GOOD_PAYLOAD);
	CHECK_INT(open_payload(payload, &back), -EBADMSG);
	CHECK_INT(open_payload("not json", &back), -EBADMSG);

	/* Each case substitutes one field of the good template. */
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char name[32], *p, *end;

		strcpy(payload, GOOD_PAYLOAD "}");
		snprintf(name, sizeof(name), "%.*s", (int)(strchr(fields[i], ':') - fields[i] + 1),
			 fields[i]);
		p = strstr(payload, name);
		if (!p) {
			test_failures++;
			continue;
		}
		end = p + strlen(name);
		if (*end == '{')
			end = strchr(end, '}') + 1;
		else if (*end == '"')
			end = strchr(end + 1, '"') + 1;
		else
			end += strcspn(end, ",}");
		memmove(p + strlen(fields[i]), end, strlen(end) + 1);
		memcpy(p, fields[i], strlen(fields[i]));
		if (open_payload(payload, &back) >= 0) {
			fprintf(stderr, "  accepted %s\n", payload);
			test_failures++;
		}
	}
	/* The template itself is good, and unknown fields are ignored (rolling upgrades). */
	CHECK_INT(open_payload(GOOD_PAYLOAD "}", &back), 0);
	CHECK_STR(back.zone, "vultr/sgp");
	CHECK_INT(back.lan.family, 0);
	CHECK_INT(open_payload(GOOD_PAYLOAD ",\"future\":{\"x\":[1]}}", &back), 0);
	CHECK_INT(record_payload_parse(GOOD_PAYLOAD "}", strlen(GOOD_PAYLOAD "}"), &back), 0);
}

static void test_seal_validates(void)
{
	struct record r;
	struct buf b;

	buf_init(&b, RECORD_MAX_SIZE);
	sample(&r);
	strcpy(r.name, "bad\nname");
	CHECK_INT(record_seal(key, OBJ, &r, &b), -EINVAL);
	sample(&r);
	r.port = 0;
	CHECK_INT(record_seal(key, OBJ, &r, &b), -EINVAL);
	sample(&r);
	memset(&r.address, 0, sizeof(r.address));
	CHECK_INT(record_seal(key, OBJ, &r, &b), -EINVAL);
	sample(&r);
	r.wan = r.wan6;
	CHECK_INT(record_seal(key, OBJ, &r, &b), -EINVAL);
	buf_free(&b);
}

static void test_check_string(void)
{
	CHECK_INT(record_check_string("linode/ap-south/vlan 1", 64), 0);
	CHECK_INT(record_check_string("", 64), -EINVAL);
	CHECK_INT(record_check_string("abc", 3), -EINVAL);
	CHECK_INT(record_check_string("ab", 3), 0);
	CHECK_INT(record_check_string("a\tb", 64), -EINVAL);
	CHECK_INT(record_check_string("a\x7f", 64), -EINVAL);
	CHECK_INT(record_check_string("a]", 64), -EINVAL);
	CHECK_INT(record_check_string(NULL, 64), -EINVAL);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	memset(key, 0x11, sizeof(key));
	memset(other_key, 0x12, sizeof(other_key));
	RUN(test_object_name);
	RUN(test_round_trip);
	RUN(test_no_plaintext);
	RUN(test_wrong_key_and_replay);
	RUN(test_tampered);
	RUN(test_envelope);
	RUN(test_oversized);
	RUN(test_payload_validation);
	RUN(test_seal_validates);
	RUN(test_check_string);
	return test_exit();
}

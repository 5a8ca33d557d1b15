/* state.json round trip and strictness; atomic writes of fsutil; addr, buf and log_quote. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "../../bootstrap/addr.h"
#include "../../bootstrap/buf.h"
#include "../../bootstrap/fsutil.h"
#include "../../bootstrap/log.h"
#include "../../bootstrap/state.h"
#include "test.h"

static char tmpdir[] = "/tmp/clique-test-state.XXXXXX";

static void fill_state(struct state *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->self_object, sizeof(st->self_object), "clique/nodes/%032x", 7);
	snprintf(st->self_etag, sizeof(st->self_etag), "0123abcd");
	st->self_seq = 1700000001;
	st->self_created = 1700000000;
	memset(st->self_digest, 0xab, sizeof(st->self_digest));
	st->has_metadata = true;
	snprintf(st->metadata.provider, sizeof(st->metadata.provider), "linode");
	snprintf(st->metadata.id, sizeof(st->metadata.id), "41000001");
	snprintf(st->metadata.region, sizeof(st->metadata.region), "ap-south");
	addr_parse("198.51.100.11", &st->metadata.wan4);
	addr_parse("2001:db8::1", &st->metadata.wan6);
	st->clock_offset = -1200; /* a clock 20 minutes ahead of the bucket's */
	snprintf(st->clock_endpoint, sizeof(st->clock_endpoint), "http://198.51.100.250:7480");
	CHECK_INT(state_put_peer(st, "clique/nodes/bb", "e2", 20, "{\"v\":1}", 7), 0);
	CHECK_INT(state_put_peer(st, "clique/nodes/aa", "e1", 10, "{\"v\":1,\"x\":\"\\n\"}", 16),
		  0);
}

static void test_state_round_trip(void)
{
	struct state st, back;
	struct buf b, b2;

	fill_state(&st);
	buf_init(&b, 1 << 20);
	buf_init(&b2, 1 << 20);
	CHECK_INT(state_serialize(&st, &b), 0);
	CHECK_INT(state_parse(b.data, b.len, &back), 0);
	CHECK_STR(back.self_object, st.self_object);
	CHECK_INT(back.self_seq, st.self_seq);
	CHECK(!memcmp(back.self_digest, st.self_digest, 32));
	CHECK(back.has_metadata);
	CHECK_STR(back.metadata.region, "ap-south");
	CHECK(addr_equal(&back.metadata.wan6, &st.metadata.wan6));
	CHECK_INT(back.clock_offset, -1200);
	CHECK_STR(back.clock_endpoint, "http://198.51.100.250:7480");
	CHECK_INT(back.n_peers, 2);
	CHECK_STR(back.peers[0].object, "clique/nodes/aa"); /* kept sorted */
	CHECK(state_find_peer(&back, "clique/nodes/bb") != NULL);
	CHECK(state_find_peer(&back, "clique/nodes/cc") == NULL);
	CHECK_INT(state_serialize(&back, &b2), 0);
	CHECK(b.len == b2.len && !memcmp(b.data, b2.data, b.len)); /* byte-stable */
	state_free(&st);
	state_free(&back);
	buf_free(&b);
	buf_free(&b2);
}

static void test_state_rejects(void)
{
	static const char *bad[] = {
		"{",
		"[]",
		"{\"version\":2}",
		"{\"version\":1,\"peers\":{}}",
		"{\"version\":1,\"peers\":[{\"object\":1,\"body\":\"x\"}]}",
		"{\"version\":1,\"peers\":[{\"object\":\"a\"}]}",
		"{\"version\":1,\"self\":{\"object\":\"a\",\"digest\":\"zz\"}}",
		"{\"version\":1,\"version\":1}",
		"{\"version\":1,\"clock_offset\":{\"endpoint\":\"http://h\",\"seconds\":31708801}}",
		"{\"version\":1,\"clock_offset\":{\"endpoint\":\"http://"
		"h\",\"seconds\":-31708801}}",
		"{\"version\":1,\"clock_offset\":{\"endpoint\":\"http://h\",\"seconds\":1.5}}",
		"{\"version\":1,\"clock_offset\":{\"seconds\":60}}",
		"{\"version\":1,\"clock_offset\":60}",
		"{\"version\":1,\"metadata\":{\"provider\":\"x\",\"id\":\"1\",\"region\":\"r\","
		"\"wan4\":\"999.1.1.1\"}}",
	};
	struct state st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK(state_parse(bad[i], strlen(bad[i]), &st) < 0);
	CHECK_INT(state_parse("", 0, &st), 0);
	CHECK_INT(st.n_peers, 0);
	CHECK(state_find_peer(&st, "clique/nodes/aa") == NULL);
}

static void test_state_file(void)
{
	char path[256];
	struct state st, back;
	struct stat s1, s2;

	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	CHECK_INT(state_load(path, &back), 0); /* missing = empty */
	CHECK_INT(back.n_peers, 0);
	fill_state(&st);
	CHECK_INT(state_save(path, &st), 1);
	CHECK_INT(stat(path, &s1), 0);
	CHECK_INT(s1.st_mode & 0777, 0600);
	CHECK_INT(state_save(path, &st), 0); /* unchanged: not rewritten */
	CHECK_INT(stat(path, &s2), 0);
	CHECK(s1.st_ino == s2.st_ino);
	CHECK_INT(state_load(path, &back), 0);
	CHECK_INT(back.n_peers, 2);
	state_free(&st);
	state_free(&back);
}

static void test_lock(void)
{
	int fd = state_lock(tmpdir);

	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void test_fs_write_atomic(void)
{
	char path[256], tmp[300];
	struct stat st;
	struct buf b;

	snprintf(path, sizeof(path), "%s/unit", tmpdir);
	CHECK_INT(fs_write_atomic(path, "a\n", 2, 0640, (gid_t)-1, 0), 1);
	CHECK_INT(fs_write_atomic(path, "a\n", 2, 0640, (gid_t)-1, 0), 0);
	CHECK_INT(fs_write_atomic(path, "b\n", 2, 0640, (gid_t)-1, 0), 1);
	buf_init(&b, 16);
	CHECK_INT(fs_read_file(path, 16, &b), 0);
	CHECK_STR(b.data, "b\n");
	CHECK_INT(fs_read_file(path, 1, &b), -EFBIG);
	CHECK_INT(chmod(path, 0644), 0);
	CHECK_INT(fs_write_atomic(path, "b\n", 2, 0640, (gid_t)-1, 0), 0); /* mode repaired */
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0640);
	CHECK_INT(fs_write_atomic(path, "c\n", 2, 0600, (gid_t)-1, FS_WRITE_NOREPLACE), -EEXIST);
	CHECK_INT(fs_read_file(path, 16, &b), 0);
	CHECK_STR(b.data, "b\n");
	buf_free(&b);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	CHECK(access(tmp, F_OK) < 0); /* no temp file left behind */
	snprintf(path, sizeof(path), "%s/no/such/dir/unit", tmpdir);
	CHECK(fs_write_atomic(path, "x", 1, 0600, (gid_t)-1, 0) == -ENOENT);
	snprintf(path, sizeof(path), "%s/a/b/c", tmpdir);
	CHECK_INT(fs_mkdir_p(path, 0700), 0);
	CHECK_INT(fs_mkdir_p(path, 0700), 0);
}

static void test_remove_stale_tmp(void)
{
	static const char *const names[] = {
		"90-clique-wg0.netdev.tmp.123", /* ours: removed */
		"90-clique-wg0.network.tmp.7",	/* ours: removed */
		"90-clique-wg0.netdev",		/* a unit, not a temp file */
		"90-clique-wg1.netdev.tmp.5",	/* another interface's */
		"50-other.network.tmp.9",	/* another program's */
		"90-clique-wg0.netdev.tmp.x1",	/* not a pid */
	};
	char dir[256], path[512];
	size_t i;

	snprintf(dir, sizeof(dir), "%s/stale", tmpdir);
	CHECK_INT(fs_mkdir_p(dir, 0700), 0);
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		CHECK_INT(fs_write_atomic(path, "x", 1, 0600, (gid_t)-1, 0), 1);
	}
	CHECK_INT(fs_remove_stale_tmp(dir, "90-clique-wg0."), 0);
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		CHECK_INT(access(path, F_OK) == 0, i >= 2);
	}
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	CHECK_INT(fs_remove_stale_tmp(path, ""), 0);
}

static void test_addr(void)
{
	struct ip_prefix p, net;
	struct ip_addr a, b;
	char s[ADDR_STRLEN];

	CHECK_INT(addr_parse("10.15.0.1", &a), 0);
	CHECK_STR(addr_fmt(&a, s), "10.15.0.1");
	CHECK(addr_parse("10.15.0.1/32", &a) < 0);
	CHECK(addr_parse("10.15.0", &a) < 0);
	CHECK(addr_parse("", &a) < 0);
	CHECK_INT(addr_parse_prefix("1.2.3.4/32", &p), 0);
	CHECK_INT(p.len, 32);
	CHECK_INT(addr_parse_prefix("2001:db8::1/128", &p), 0);
	CHECK_STR(addr_fmt_endpoint(&p.addr, 51871, s), "[2001:db8::1]:51871");
	CHECK(addr_parse_prefix("1.2.3.4/33", &p) < 0);
	CHECK(addr_parse_prefix("1.2.3.4/", &p) < 0);
	CHECK(addr_parse_prefix("1.2.3.4/-1", &p) < 0);
	CHECK(addr_parse_prefix("1.2.3.4/0032", &p) < 0);
	CHECK_INT(addr_parse_prefix("10.15.0.0/16", &net), 0);
	CHECK_INT(addr_parse("10.15.200.9", &a), 0);
	CHECK(addr_in_prefix(&a, &net));
	CHECK_INT(addr_parse("10.16.0.1", &b), 0);
	CHECK(!addr_in_prefix(&b, &net));
	CHECK(addr_cmp(&a, &b) < 0);
	CHECK_INT(addr_parse_prefix("10.15.7.9/20", &p), 0);
	addr_mask(&p);
	CHECK_STR(addr_fmt(&p.addr, s), "10.15.0.0");
}

static void test_buf_bounds(void)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK_INT(buf_add(&b, "12345678", 8), 0);
	CHECK_INT(buf_add(&b, "9", 1), -EMSGSIZE);
	CHECK_INT(b.len, 8);
	buf_reset(&b);
	CHECK_INT(buf_addf(&b, "%d", 1234567), 0);
	CHECK_INT(buf_addf(&b, "%d", 12), -EMSGSIZE);
	CHECK_STR(b.data, "1234567");
	buf_free(&b);
}

static void test_log_quote(void)
{
	char out[32];

	CHECK_STR(log_quote(out, sizeof(out), "a\nb[=]", 6), "a\\x0ab[=]");
	CHECK_STR(log_quote(out, 16, "0123456789abcdefghij", 20), "01234567...");
}

int main(void)
{
	char cmd[64];

	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_state_round_trip);
	RUN(test_state_rejects);
	RUN(test_state_file);
	RUN(test_lock);
	RUN(test_fs_write_atomic);
	RUN(test_remove_stale_tmp);
	RUN(test_addr);
	RUN(test_buf_bounds);
	RUN(test_log_quote);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return test_exit();
}

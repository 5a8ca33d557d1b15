/*
 * UAPI codecs (bootstrap/wg-uapi.h): get replies from tests/fixtures/uapi/get/<case>/{input,
 * expected}, set requests against tests/fixtures/uapi/set/<case>/expected, and the socket
 * backend against an in-process fake daemon in a private mount namespace (root only).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <sodium.h>

#include "../../bootstrap/addr.h"
#include "../../bootstrap/buf.h"
#include "../../bootstrap/config.h"
#include "../../bootstrap/wg-uapi.h"
#include "../../bootstrap/wg.h"
#include "test.h"

#define FIXTURES "tests/fixtures/uapi"

static int read_file(const char *path, struct buf *b)
{
	char chunk[4096];
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		r = buf_add(b, chunk, (size_t)n);
		if (r < 0)
			break;
	}
	if (n < 0)
		r = -errno;
	close(fd);
	return r;
}

static void put_hex(struct buf *b, const char *name, const uint8_t *k)
{
	char hex[2 * WG_KEY_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), k, WG_KEY_LEN);
	buf_addf(b, "%s=%s\n", name, hex);
}

/* A canonical text form of a parsed device, compared with expected. */
static void render(const struct wg_device *d, struct buf *b)
{
	char s[ADDR_STRLEN];
	size_t i, j;

	if (d->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		put_hex(b, "private_key", d->private_key);
	if (!sodium_is_zero(d->public_key, WG_KEY_LEN))
		put_hex(b, "public_key", d->public_key);
	if (d->flags & WG_DEVICE_HAS_LISTEN_PORT)
		buf_addf(b, "listen_port=%u\n", d->listen_port);
	if (d->flags & WG_DEVICE_HAS_FWMARK)
		buf_addf(b, "fwmark=%u\n", d->fwmark);
	for (i = 0; i < d->n_peers; i++) {
		const struct wg_peer *p = &d->peers[i];

		put_hex(b, "peer", p->public_key);
		buf_addf(b, " flags=%u\n", p->flags);
		if (p->flags & WG_PEER_HAS_PRESHARED_KEY)
			put_hex(b, " preshared_key", p->preshared_key);
		if (p->endpoint.addr.family)
			buf_addf(b, " endpoint=%s\n",
				 addr_fmt_endpoint(&p->endpoint.addr, p->endpoint.port, s));
		buf_addf(b, " keepalive=%u handshake=%lld.%09lld rx=%llu tx=%llu\n", p->keepalive,
			 (long long)p->last_handshake_sec, (long long)p->last_handshake_nsec,
			 (unsigned long long)p->rx_bytes, (unsigned long long)p->tx_bytes);
		for (j = 0; j < p->n_allowedips; j++)
			buf_addf(b, " allowed_ip=%s/%u\n", addr_fmt(&p->allowedips[j].addr, s),
				 p->allowedips[j].len);
	}
}

static int run_get_case(const char *name)
{
	char path[512];
	struct buf in, want, got;
	struct wg_device *d;
	int r, ok;

	buf_init(&in, 1 << 20);
	buf_init(&want, 1 << 20);
	buf_init(&got, 1 << 20);
	d = wg_device_new("wgx");
	snprintf(path, sizeof(path), FIXTURES "/get/%s/input", name);
	r = read_file(path, &in);
	snprintf(path, sizeof(path), FIXTURES "/get/%s/expected", name);
	if (r == 0)
		r = read_file(path, &want);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		ok = 0;
		goto out;
	}
	r = wg_uapi_parse_get(in.len ? in.data : "", in.len, d);
	if (r < 0) {
		buf_addf(&got, "error %d\n", r);
		/* failure leaves *ret untouched */
		if (d->n_peers || d->flags)
			buf_addf(&got, "device modified\n");
	} else {
		wg_device_normalize(d);
		render(d, &got);
	}
	ok = got.len == want.len && (!got.len || !memcmp(got.data, want.data, got.len));
	if (!ok)
		fprintf(stderr, "get/%s: got\n%s--- want\n%s---\n", name, got.len ? got.data : "",
			want.len ? want.data : "");
	if (getenv("UAPI_PRINT"))
		printf("== %s\n%s", name, got.len ? got.data : "");
out:
	wg_device_free(d);
	buf_free(&in);
	buf_free(&want);
	buf_free(&got);
	return ok;
}

static void test_get_fixtures(void)
{
	struct dirent *e;
	DIR *dir;
	int n = 0;

	dir = opendir(FIXTURES "/get");
	CHECK(dir != NULL);
	if (!dir)
		return;
	for (e = readdir(dir); e; e = readdir(dir)) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (!run_get_case(e->d_name)) {
			fprintf(stderr, "FAIL get/%s\n", e->d_name);
			test_failures++;
		}
	}
	closedir(dir);
	CHECK(n >= 30);
}

/* A fresh parse replaces the old content of *ret. */
static void test_get_replaces(void)
{
	const char *a = "listen_port=1\npublic_key="
			"0101010101010101010101010101010101010101010101010101010101010101\n"
			"allowed_ip=10.0.0.0/8\nerrno=0\n\n";
	const char *b = "fwmark=5\nerrno=0\n\n";
	struct wg_device *d = wg_device_new("wg0");

	CHECK_INT(wg_uapi_parse_get(a, strlen(a), d), 0);
	CHECK_INT(d->n_peers, 1);
	CHECK_INT(wg_uapi_parse_get(b, strlen(b), d), 0);
	CHECK_INT(d->n_peers, 0);
	CHECK_INT(d->flags, WG_DEVICE_HAS_FWMARK);
	CHECK_STR(d->name, "wg0");
	CHECK_INT(wg_uapi_parse_get(b, strlen(b) - 1, d), -EPROTO);
	CHECK_INT(wg_uapi_parse_get("", 0, d), -EPROTO);
	wg_device_free(d);
}

static void test_set_reply(void)
{
	CHECK_INT(wg_uapi_parse_set_reply("errno=0\n\n", 9), 0);
	CHECK_INT(wg_uapi_parse_set_reply("errno=-22\n\n", 11), -EINVAL);
	CHECK_INT(wg_uapi_parse_set_reply("errno=98\n\n", 10), -EADDRINUSE);
	CHECK_INT(wg_uapi_parse_set_reply("errno=0\n", 8), -EPROTO);
	CHECK_INT(wg_uapi_parse_set_reply("errno=\n\n", 8), -EPROTO);
	CHECK_INT(wg_uapi_parse_set_reply("errno=1x\n\n", 10), -EPROTO);
	CHECK_INT(wg_uapi_parse_set_reply("errno=0\nx\n\n", 11), -EPROTO);
	CHECK_INT(wg_uapi_parse_set_reply("listen_port=1\n\n", 15), -EPROTO);
}

static void test_endpoint(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{"192.0.2.1:51820", "192.0.2.1:51820"},
		{"[2001:db8:0::1]:1", "[2001:db8::1]:1"},
		{"[::ffff:192.0.2.1]:0", "192.0.2.1:0"},
		{"[::1]:65535", "[::1]:65535"},
		{"2001:db8::1:51820", NULL},
		{"[192.0.2.1]:1", NULL},
		{"192.0.2.1", NULL},
		{"192.0.2.1:", NULL},
		{"192.0.2.1:+1", NULL},
		{"192.0.2.1:65536", NULL},
		{"host:1", NULL},
		{"[]:1", NULL},
		{":1", NULL},
		{"", NULL},
	};
	struct ip_addr a;
	char s[ADDR_STRLEN];
	uint16_t port;
	size_t i;
	int r;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		r = wg_uapi_parse_endpoint(v[i].in, strlen(v[i].in), &a, &port);
		if (!v[i].out) {
			if (r != -EINVAL)
				fprintf(stderr, "endpoint '%s' accepted\n", v[i].in);
			CHECK_INT(r, -EINVAL);
			continue;
		}
		CHECK_INT(r, 0);
		if (r == 0)
			CHECK_STR(addr_fmt_endpoint(&a, port, s), v[i].out);
	}
}

static void key_fill(uint8_t *k, uint8_t c)
{
	memset(k, c, WG_KEY_LEN);
}

static struct wg_peer *peer(struct wg_device *d, uint8_t c, unsigned flags)
{
	struct wg_peer *p = NULL;

	CHECK_INT(wg_device_add_peer(d, &p), 0);
	key_fill(p->public_key, c);
	p->flags = flags;
	return p;
}

static void prefix(struct wg_peer *p, const char *s)
{
	struct ip_prefix pfx;

	CHECK_INT(addr_parse_prefix(s, &pfx), 0);
	CHECK_INT(wg_peer_add_allowedip(p, &pfx), 0);
}

static void check_set(const struct wg_device *c, const char *name)
{
	char path[512];
	struct buf got, want;

	buf_init(&got, 1 << 20);
	buf_init(&want, 1 << 20);
	snprintf(path, sizeof(path), FIXTURES "/set/%s/expected", name);
	CHECK_INT(read_file(path, &want), 0);
	CHECK_INT(wg_uapi_build_set(c, &got), 0);
	if (got.len != want.len || memcmp(got.data, want.data, got.len)) {
		fprintf(stderr, "set/%s: got\n%s--- want\n%s---\n", name, got.data,
			want.len ? want.data : "");
		test_failures++;
	}
	buf_free(&got);
	buf_free(&want);
}

static void test_set_full(void)
{
	struct wg_device *c = wg_device_new("wg0");
	struct wg_peer *p;

	c->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	key_fill(c->private_key, 0xab);
	c->listen_port = 51871;
	c->fwmark = 0;
	peer(c, 0x01, WG_PEER_REMOVE);
	/* new peer: everything */
	p = peer(c, 0x02, WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE);
	key_fill(p->preshared_key, 0xcd);
	CHECK_INT(addr_parse("2001:db8:0::7", &p->endpoint.addr), 0);
	p->endpoint.port = 51871;
	p->keepalive = 25;
	prefix(p, "10.15.0.2/32");
	prefix(p, "fd00::2/128");
	/* changed: PSK cleared, keepalive off, allowed IPs replaced by an empty list */
	peer(c, 0x03,
	     WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE | WG_PEER_REPLACE_ALLOWEDIPS);
	/* changed: endpoint only */
	p = peer(c, 0x04, WG_PEER_HAS_ENDPOINT);
	CHECK_INT(addr_parse("192.0.2.4", &p->endpoint.addr), 0);
	p->endpoint.port = 1;
	/* changed: allowed IPs */
	p = peer(c, 0x05, WG_PEER_REPLACE_ALLOWEDIPS);
	prefix(p, "10.15.0.5/32");
	prefix(p, "10.99.0.0/16");
	check_set(c, "full");
	wg_device_free(c);
}

static void test_set_port_zero(void)
{
	struct wg_device *c = wg_device_new("wg0");

	/* never "listen_port=0", never "=false", never replace_peers */
	c->flags = WG_DEVICE_HAS_LISTEN_PORT;
	peer(c, 0x09, WG_PEER_REMOVE | WG_PEER_HAS_ENDPOINT);
	check_set(c, "port-zero");
	wg_device_free(c);
}

/* get fixture -> diff against a desired device -> set request */
static void test_diff_to_set(void)
{
	struct wg_device *live = wg_device_new("wgx"), *want = wg_device_new("wgx"), *c = NULL;
	struct wg_peer *p;
	struct buf in;
	size_t i, j;

	buf_init(&in, 1 << 20);
	CHECK_INT(read_file(FIXTURES "/get/wireguard-go/input", &in), 0);
	CHECK_INT(wg_uapi_parse_get(in.data, in.len, live), 0);
	wg_device_normalize(live);
	/* desired = live with the same (unclamped) private key, no fwmark, 3 peers as they are */
	want->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	memcpy(want->private_key, live->private_key, WG_KEY_LEN);
	want->private_key[0] |= 7;
	want->listen_port = 51999;
	for (i = 0; i < live->n_peers; i++) {
		CHECK_INT(wg_device_add_peer(want, &p), 0);
		memcpy(p->public_key, live->peers[i].public_key, WG_KEY_LEN);
		memcpy(p->preshared_key, live->peers[i].preshared_key, WG_KEY_LEN);
		p->endpoint = live->peers[i].endpoint;
		p->keepalive = live->peers[i].keepalive;
		for (j = 0; j < live->peers[i].n_allowedips; j++)
			CHECK_INT(wg_peer_add_allowedip(p, &live->peers[i].allowedips[j]), 0);
	}
	wg_device_normalize(want);
	CHECK_INT(wg_diff(live, want, &c), 0);
	CHECK(c && wg_device_is_noop(c));
	wg_device_free(c);
	/* now drop the second peer's PSK and the third peer entirely */
	sodium_memzero(want->peers[1].preshared_key, WG_KEY_LEN);
	want->n_peers--;
	free(want->peers[2].allowedips);
	want->peers[2].allowedips = NULL;
	CHECK_INT(wg_diff(live, want, &c), 0);
	check_set(c, "diff");
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
	buf_free(&in);
}

static void test_find_command(void)
{
	char out[256], small[4];

	setenv("PATH", "/nonexistent::/usr/bin:/bin", 1);
	CHECK_INT(wg_uapi_find_command("sh", out, sizeof(out)), 0);
	CHECK_STR(out, "/usr/bin/sh");
	CHECK_INT(wg_uapi_find_command("/bin/sh", out, sizeof(out)), 0);
	CHECK_STR(out, "/bin/sh");
	CHECK_INT(wg_uapi_find_command("no-such-command-here", out, sizeof(out)), -ENOENT);
	CHECK_INT(wg_uapi_find_command("/etc/passwd", out, sizeof(out)), -ENOENT);
	CHECK_INT(wg_uapi_find_command("/usr", out, sizeof(out)), -ENOENT);
	CHECK_INT(wg_uapi_find_command("sh", small, sizeof(small)), -ENAMETOOLONG);
	/* "" = the default, wireguard-go */
	setenv("PATH", "/nonexistent", 1);
	CHECK_INT(wg_uapi_find_command("", out, sizeof(out)), -ENOENT);
}

/* ------------------------------------------------------------------ fake daemon */

struct fake {
	int lfd;
	const char *reply; /* sent after the request's blank line */
	size_t reply_len;
	char request[4096];
	size_t request_len;
	int connections;
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	ssize_t n;
	int fd;

	fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	f->connections++;
	f->request_len = 0;
	while (f->request_len < sizeof(f->request) - 1) {
		n = read(fd, f->request + f->request_len, sizeof(f->request) - 1 - f->request_len);
		if (n <= 0)
			break;
		f->request_len += (size_t)n;
		f->request[f->request_len] = '\0';
		if (strstr(f->request, "\n\n"))
			break;
	}
	/* dribble the reply in small pieces to exercise the read loop */
	for (size_t off = 0; off < f->reply_len; off += 7)
		if (write(fd, f->reply + off, f->reply_len - off < 7 ? f->reply_len - off : 7) < 0)
			break;
	close(fd);
	return NULL;
}

static int fake_listen(const char *ifname, bool do_listen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), WG_UAPI_DIR "/%s.sock", ifname);
	unlink(sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    (do_listen && listen(fd, 4) < 0))
		return -1;
	return fd;
}

static void fake_round(struct fake *f, const char *reply)
{
	f->reply = reply;
	f->reply_len = strlen(reply);
}

static bool private_mount_ns(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0)
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	mkdir("/run/wireguard", 0755);
	return mount("uapitest", WG_UAPI_DIR, "tmpfs", 0, "mode=0755") == 0;
}

static void test_socket_backend(void)
{
	const char *get_reply = "listen_port=51871\npublic_key="
				"0202020202020202020202020202020202020202020202020202020202020202\n"
				"endpoint=192.0.2.2:51871\nallowed_ip=10.15.0.2/32\nerrno=0\n\n";
	struct fake f = {0};
	struct wg_device *d = NULL, *c;
	pthread_t t;
	int fd;

	if (!private_mount_ns()) {
		printf("# skipped: needs root and a private mount namespace\n");
		return;
	}
	/* a socket nobody listens on is stale: owns() says no and removes it */
	fd = fake_listen("stale", false);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(access(WG_UAPI_DIR "/stale.sock", F_OK), 0);
	CHECK_INT(wg_backend_uapi.owns("stale"), 0);
	CHECK_INT(access(WG_UAPI_DIR "/stale.sock", F_OK), -1);
	CHECK_INT(wg_backend_uapi.owns("missing"), 0);
	CHECK_INT(wg_backend_uapi.owns("../etc"), -EINVAL);
	CHECK_INT(wg_backend_uapi.get("missing", &d), -ENODEV);

	f.lfd = fake_listen("wgf", true);
	CHECK(f.lfd >= 0);
	CHECK_INT(wg_backend_uapi.owns("wgf"), 1);
	/* owns() connected once and closed: accept that one */
	fake_round(&f, "");
	pthread_create(&t, NULL, fake_serve, &f);
	pthread_join(t, NULL);

	fake_round(&f, get_reply);
	pthread_create(&t, NULL, fake_serve, &f);
	CHECK_INT(wg_backend_uapi.get("wgf", &d), 0);
	pthread_join(t, NULL);
	CHECK_STR(f.request, "get=1\n\n");
	CHECK(d && d->n_peers == 1 && d->listen_port == 51871);
	CHECK_STR(d ? d->name : "", "wgf");

	/* a no-op change set sends nothing: no connection at all */
	c = wg_device_new("wgf");
	f.connections = 0;
	CHECK_INT(wg_backend_uapi.set(c), 0);
	CHECK_INT(f.connections, 0);

	c->flags = WG_DEVICE_HAS_LISTEN_PORT;
	c->listen_port = 1234;
	fake_round(&f, "errno=-98\n\n");
	pthread_create(&t, NULL, fake_serve, &f);
	CHECK_INT(wg_backend_uapi.set(c), -EADDRINUSE);
	pthread_join(t, NULL);
	CHECK_STR(f.request, "set=1\nlisten_port=1234\n\n");

	/* a daemon that hangs up mid-reply */
	fake_round(&f, "listen_port=1\n");
	pthread_create(&t, NULL, fake_serve, &f);
	CHECK_INT(wg_backend_uapi.get("wgf", &d), -EPROTO);
	pthread_join(t, NULL);

	close(f.lfd);
	wg_device_free(c);
	wg_device_free(d);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_get_fixtures);
	RUN(test_get_replaces);
	RUN(test_set_reply);
	RUN(test_endpoint);
	RUN(test_set_full);
	RUN(test_set_port_zero);
	RUN(test_diff_to_set);
	RUN(test_find_command);
	RUN(test_socket_backend);
	return test_exit();
}

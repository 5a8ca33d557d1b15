/*
 * Userspace backend: the cross-platform UAPI text protocol on /var/run/wireguard/<if>.sock,
 * spoken by wireguard-go and boringtun (shared/reference/wireguard.md 2; www.wireguard.com/xplatform).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <sodium.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "link.h"
#include "log.h"
#include "text.h"
#include "wg-uapi.h"
#include "wg.h"

extern char **environ;

#define UAPI_SET_REPLY_MAX 4096
#define UAPI_SET_MAX (64u << 20)
/* A wedged daemon must not hang the boot (boringtun can stop answering, wireguard.md 2.4). */
#define UAPI_IO_TIMEOUT_SEC 30
/* create(): the daemon's parent exits and the socket appears within this (brief: <= 5 s). */
#define UAPI_START_TIMEOUT_MS 5000
#define UAPI_DEFAULT_COMMAND "wireguard-go"
#define UAPI_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ------------------------------------------------------------------ pure codecs */

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 20)
		return -EPROTO;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EPROTO;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -EPROTO;
	*ret = v;
	return 0;
}

static int parse_key(const char *s, size_t len, uint8_t ret[WG_KEY_LEN])
{
	uint8_t key[WG_KEY_LEN];
	const char *end = NULL;
	size_t n = 0;
	int r = -EPROTO;

	if (len != 2 * WG_KEY_LEN)
		return -EPROTO;
	/* Constant-time hex codec (STYLE.md 7); wireguard-go also accepts upper case (2.3). */
	if (sodium_hex2bin(key, sizeof(key), s, len, NULL, &n, &end) == 0 && n == WG_KEY_LEN &&
	    end == s + len) {
		memcpy(ret, key, WG_KEY_LEN);
		r = 0;
	}
	sodium_memzero(key, sizeof(key));
	return r;
}

/* wireguard-go writes -EINVAL, boringtun EINVAL (wireguard.md 2.2): accept both signs. */
static int parse_errno(const char *s, size_t len, int *ret)
{
	uint64_t v;
	int r;

	if (len && (s[0] == '-' || s[0] == '+')) {
		s++;
		len--;
	}
	r = parse_u64(s, len, 4095, &v);
	if (r < 0)
		return r;
	*ret = (int)v;
	return 0;
}

static int copy_value(const char *s, size_t len, char *out, size_t outlen)
{
	if (len >= outlen)
		return -EPROTO;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

static void addr_unmap(struct ip_addr *a)
{
	struct in_addr v4;

	if (a->family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->v6))
		return;
	memcpy(&v4, &a->v6.s6_addr[12], sizeof(v4));
	a->family = AF_INET;
	a->v4 = v4;
}

int wg_uapi_parse_endpoint(const char *s, size_t len, struct ip_addr *ret_addr, uint16_t *ret_port)
{
	char host[ADDR_STRLEN];
	const char *colon, *h = s;
	struct ip_addr a;
	uint64_t port;
	size_t hlen;
	bool bracketed;

	colon = len ? memrchr(s, ':', len) : NULL;
	if (!colon)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	bracketed = hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']';
	if (bracketed) {
		h++;
		hlen -= 2;
	}
	if (copy_value(h, hlen, host, sizeof(host)) < 0 || addr_parse(host, &a) < 0)
		return -EINVAL;
	if (parse_u64(colon + 1, len - hlen - (bracketed ? 3 : 1), 65535, &port) < 0)
		return -EINVAL;
	/* IPv6 must be bracketed ("::1:51820" is ambiguous), IPv4 must not (netip.AddrPort). */
	if ((a.family == AF_INET6) != bracketed)
		return -EINVAL;
	addr_unmap(&a);
	*ret_addr = a;
	*ret_port = (uint16_t)port;
	return 0;
}

struct uapi_parser {
	struct wg_device *dev;
	struct wg_peer *peer;
	bool have_errno;
	int err;
};

static int parse_device_key(struct uapi_parser *ps, const char *k, const char *v, size_t vlen)
{
	struct wg_device *d = ps->dev;
	uint64_t n;
	int r;

	if (!strcmp(k, "private_key")) {
		r = parse_key(v, vlen, d->private_key);
		if (r < 0)
			return r;
		/* wireguard-go stores it clamped (wireguard.md 4); make sure we compare that form. */
		d->private_key[0] &= 248;
		d->private_key[31] = (d->private_key[31] & 127) | 64;
		crypto_scalarmult_curve25519_base(d->public_key, d->private_key);
		d->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
	} else if (!strcmp(k, "own_public_key")) {
		/* boringtun reports its public key instead of the private key (wireguard.md 2.3). */
		return parse_key(v, vlen, d->public_key);
	} else if (!strcmp(k, "listen_port")) {
		r = parse_u64(v, vlen, UINT16_MAX, &n);
		if (r < 0)
			return r;
		d->listen_port = (uint16_t)n;
		d->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	} else if (!strcmp(k, "fwmark")) {
		r = parse_u64(v, vlen, UINT32_MAX, &n);
		if (r < 0)
			return r;
		d->fwmark = (uint32_t)n;
		d->flags |= WG_DEVICE_HAS_FWMARK;
	}
	return 0;
}

static int parse_allowedip(struct wg_peer *p, const char *v, size_t vlen)
{
	char tmp[ADDR_STRLEN];
	struct ip_prefix pfx;
	int r;

	r = copy_value(v, vlen, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	r = addr_parse_prefix(tmp, &pfx);
	if (r < 0 || !strchr(tmp, '/'))
		return -EPROTO;
	addr_mask(&pfx);
	return wg_peer_add_allowedip(p, &pfx);
}

static int parse_peer_num(struct wg_peer *p, const char *k, const char *v, size_t vlen)
{
	uint64_t n = 0;
	int r;

	if (!strcmp(k, "persistent_keepalive_interval")) {
		r = parse_u64(v, vlen, UINT16_MAX, &n);
		p->keepalive = (uint16_t)n;
		if (r == 0 && n)
			p->flags |= WG_PEER_HAS_KEEPALIVE;
	} else if (!strcmp(k, "last_handshake_time_sec")) {
		r = parse_u64(v, vlen, INT64_MAX, &n);
		p->last_handshake_sec = (int64_t)n;
	} else if (!strcmp(k, "last_handshake_time_nsec")) {
		r = parse_u64(v, vlen, 999999999, &n);
		p->last_handshake_nsec = (int64_t)n;
	} else if (!strcmp(k, "rx_bytes")) {
		r = parse_u64(v, vlen, UINT64_MAX, &n);
		p->rx_bytes = n;
	} else if (!strcmp(k, "tx_bytes")) {
		r = parse_u64(v, vlen, UINT64_MAX, &n);
		p->tx_bytes = n;
	} else if (!strcmp(k, "protocol_version")) {
		r = parse_u64(v, vlen, 1, &n);
		if (r == 0 && n != 1)
			r = -EPROTO;
	} else {
		/* Unknown keys are skipped like wg(8) does, so a newer daemon still works. */
		r = 0;
	}
	return r < 0 ? -EPROTO : 0;
}

static int parse_peer_key(struct uapi_parser *ps, const char *k, const char *v, size_t vlen)
{
	struct wg_peer *p = ps->peer;
	int r;

	if (!strcmp(k, "preshared_key")) {
		r = parse_key(v, vlen, p->preshared_key);
		if (r == 0 && !sodium_is_zero(p->preshared_key, WG_KEY_LEN))
			p->flags |= WG_PEER_HAS_PRESHARED_KEY;
		return r;
	}
	if (!strcmp(k, "endpoint")) {
		/* A scoped link-local endpoint ("[fe80::1%eth0]:51820") has no place in our model:
		 * treat it as unknown, so a named endpoint is re-sent rather than failing the read. */
		if (memchr(v, '%', vlen))
			return 0;
		r = wg_uapi_parse_endpoint(v, vlen, &p->endpoint.addr, &p->endpoint.port);
		if (r < 0)
			return -EPROTO;
		p->flags |= WG_PEER_HAS_ENDPOINT;
		return 0;
	}
	if (!strcmp(k, "allowed_ip"))
		return parse_allowedip(p, v, vlen);
	return parse_peer_num(p, k, v, vlen);
}

static bool is_peer_key(const char *k)
{
	static const char *const keys[] = {
		"preshared_key",
		"endpoint",
		"allowed_ip",
		"persistent_keepalive_interval",
		"last_handshake_time_sec",
		"last_handshake_time_nsec",
		"rx_bytes",
		"tx_bytes",
		"protocol_version",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!strcmp(k, keys[i]))
			return true;
	}
	return false;
}

static bool is_device_key(const char *k)
{
	return !strcmp(k, "private_key") || !strcmp(k, "listen_port") || !strcmp(k, "fwmark") ||
	       !strcmp(k, "own_public_key");
}

static int parse_line(struct uapi_parser *ps, const char *line, size_t len)
{
	const char *eq, *v;
	char key[32];
	size_t klen, vlen;
	int r;

	eq = memchr(line, '=', len);
	if (!eq || eq == line)
		return -EPROTO;
	klen = (size_t)(eq - line);
	v = eq + 1;
	vlen = len - klen - 1;
	if (klen >= sizeof(key))
		return 0; /* unknown by construction: no key we know is that long */
	memcpy(key, line, klen);
	key[klen] = '\0';
	if (!strcmp(key, "errno")) {
		r = parse_errno(v, vlen, &ps->err);
		ps->have_errno = true;
		return r;
	}
	if (!strcmp(key, "public_key")) {
		r = wg_device_add_peer(ps->dev, &ps->peer);
		if (r < 0)
			return r;
		return parse_key(v, vlen, ps->peer->public_key);
	}
	if (is_device_key(key))
		return ps->peer ? -EPROTO : parse_device_key(ps, key, v, vlen);
	if (!ps->peer)
		return is_peer_key(key) ? -EPROTO : 0;
	return parse_peer_key(ps, key, v, vlen);
}

static bool has_control_chars(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	}
	return false;
}

static int parse_lines(struct uapi_parser *ps, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;
	int r;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -EPROTO;
		if (nl == p) /* the blank line ends the reply: it must follow errno= and be last */
			return ps->have_errno && nl + 1 == end ? 0 : -EPROTO;
		if (ps->have_errno || has_control_chars(p, (size_t)(nl - p)))
			return -EPROTO;
		r = parse_line(ps, p, (size_t)(nl - p));
		if (r < 0)
			return r;
		p = nl + 1;
	}
	return -EPROTO;
}

static void device_swap(struct wg_device *a, struct wg_device *b)
{
	struct wg_device t = *a;

	memcpy(t.name, b->name, sizeof(t.name));
	memcpy(b->name, a->name, sizeof(b->name));
	*a = *b;
	*b = t;
	sodium_memzero(&t, sizeof(t));
}

int wg_uapi_parse_get(const char *buf, size_t len, struct wg_device *ret)
{
	struct uapi_parser ps = {0};
	int r;

	ps.dev = wg_device_new(ret->name);
	if (!ps.dev)
		return -ENOMEM;
	r = parse_lines(&ps, buf, len);
	if (r == 0 && ps.err)
		r = -ps.err;
	if (r == 0)
		device_swap(ret, ps.dev);
	wg_device_free(ps.dev);
	return r;
}

int wg_uapi_parse_set_reply(const char *buf, size_t len)
{
	int err, r;

	if (len < 9 || memcmp(buf, "errno=", 6) || buf[len - 2] != '\n' || buf[len - 1] != '\n')
		return -EPROTO;
	r = parse_errno(buf + 6, len - 8, &err);
	if (r < 0)
		return r;
	return -err;
}

static int put_key(struct buf *out, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char hex[2 * WG_KEY_LEN + 1];
	int r;

	sodium_bin2hex(hex, sizeof(hex), key, WG_KEY_LEN);
	r = buf_addf(out, "%s=%s\n", name, hex);
	sodium_memzero(hex, sizeof(hex));
	return r;
}

static int build_device(const struct wg_device *c, struct buf *out)
{
	int r = 0;

	/* Device keys must precede the first public_key (wireguard.md 2.3). */
	if (c->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		r = put_key(out, "private_key", c->private_key);
	/* Never port 0: it rebinds to a random port on every set (wireguard.md 1.3, 2.3). */
	if (r == 0 && c->flags & WG_DEVICE_HAS_LISTEN_PORT && c->listen_port)
		r = buf_addf(out, "listen_port=%u\n", c->listen_port);
	if (r == 0 && c->flags & WG_DEVICE_HAS_FWMARK)
		r = buf_addf(out, "fwmark=%u\n", c->fwmark);
	return r;
}

static int build_peer(const struct wg_peer *p, struct buf *out)
{
	char s[ADDR_STRLEN], a[ADDR_STRLEN];
	size_t i;
	int r;

	r = put_key(out, "public_key", p->public_key);
	if (r == 0 && p->flags & WG_PEER_REMOVE)
		return buf_addf(out, "remove=true\n");
	if (r == 0 && p->flags & WG_PEER_HAS_PRESHARED_KEY)
		r = put_key(out, "preshared_key", p->preshared_key);
	if (r == 0 && p->flags & WG_PEER_HAS_ENDPOINT && p->endpoint.addr.family)
		r = buf_addf(out, "endpoint=%s\n",
			     addr_fmt_endpoint(&p->endpoint.addr, p->endpoint.port, s));
	if (r == 0 && p->flags & WG_PEER_HAS_KEEPALIVE)
		r = buf_addf(out, "persistent_keepalive_interval=%u\n", p->keepalive);
	/* wireguard-go applies lines in order: replace must come before the new list (2.3). */
	if (r == 0 && p->flags & WG_PEER_REPLACE_ALLOWEDIPS)
		r = buf_addf(out, "replace_allowed_ips=true\n");
	for (i = 0; r == 0 && i < p->n_allowedips; i++)
		r = buf_addf(out, "allowed_ip=%s/%u\n", addr_fmt(&p->allowedips[i].addr, a),
			     p->allowedips[i].len);
	return r;
}

int wg_uapi_build_set(const struct wg_device *changes, struct buf *ret_request)
{
	size_t i;
	int r;

	r = buf_addf(ret_request, "set=1\n");
	if (r == 0)
		r = build_device(changes, ret_request);
	for (i = 0; r == 0 && i < changes->n_peers; i++)
		r = build_peer(&changes->peers[i], ret_request);
	if (r == 0)
		r = buf_addc(ret_request, '\n');
	return r;
}

/* ------------------------------------------------------------------ socket */

static int uapi_path(const char *ifname, char *out, size_t outlen)
{
	/* The name becomes a path component: ifname_valid() refuses '/', "." and "..". */
	if (!ifname_valid(ifname))
		return -EINVAL;
	if ((size_t)snprintf(out, outlen, "%s/%s.sock", WG_UAPI_DIR, ifname) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

static int uapi_connect(const char *ifname, int *ret_fd)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = UAPI_IO_TIMEOUT_SEC};
	int fd, r;

	r = uapi_path(ifname, sun.sun_path, sizeof(sun.sun_path));
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		/* MSG_NOSIGNAL: a daemon that died mid-request must be an error, not SIGPIPE. */
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the blank line that follows errno= (wireguard.md 2.2), at most reply->max bytes. */
static int recv_reply(int fd, struct buf *reply)
{
	char chunk[4096];
	size_t from;
	ssize_t n;
	int r;

	for (;;) {
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -EPROTO;
		from = reply->len ? reply->len - 1 : 0;
		r = buf_add(reply, chunk, (size_t)n);
		if (r < 0)
			return r == -EMSGSIZE ? -EPROTO : r;
		if (reply->data[0] == '\n' ||
		    memmem(reply->data + from, reply->len - from, "\n\n", 2))
			return 0;
	}
}

static int uapi_transact(const char *ifname, const struct buf *req, struct buf *reply)
{
	int fd = -1, r;

	r = uapi_connect(ifname, &fd);
	if (r == -ENOENT)
		return -ENODEV;
	if (r < 0)
		return r;
	r = send_all(fd, req->data, req->len);
	if (r == 0)
		r = recv_reply(fd, reply);
	close(fd);
	return r;
}

static int uapi_get(const char *ifname, struct wg_device **ret)
{
	struct buf req, reply;
	struct wg_device *d;
	int r;

	d = wg_device_new(ifname);
	if (!d)
		return -ENOMEM;
	buf_init(&req, 16);
	buf_init(&reply, WG_UAPI_REPLY_MAX);
	r = buf_add(&req, "get=1\n\n", 7);
	if (r < 0)
		goto out;
	r = uapi_transact(ifname, &req, &reply);
	if (r < 0)
		goto out;
	r = wg_uapi_parse_get(reply.data, reply.len, d);
	if (r < 0)
		goto out;
	wg_device_normalize(d);
	*ret = d;
	d = NULL;
out:
	buf_free(&reply); /* wipes the private key line */
	buf_free(&req);
	wg_device_free(d);
	return r;
}

static int uapi_set(const struct wg_device *changes)
{
	struct buf req, reply;
	int r;

	/* DESIGN.md 6: a run with nothing changed sends nothing. */
	if (wg_device_is_noop(changes))
		return 0;
	buf_init(&req, UAPI_SET_MAX);
	buf_init(&reply, UAPI_SET_REPLY_MAX);
	r = wg_uapi_build_set(changes, &req);
	if (r < 0)
		goto out;
	r = uapi_transact(changes->name, &req, &reply);
	if (r < 0)
		goto out;
	r = wg_uapi_parse_set_reply(reply.data, reply.len);
out:
	buf_free(&reply);
	buf_free(&req);
	return r;
}

/*
 * Like wg(8) userspace_has_wireguard_interface() (wireguard.md 2.1): a socket that refuses the
 * connection is stale and may be removed; any other outcome counts as a live daemon. Only
 * connect(): a chmod or touch makes wireguard-go exit (appendix).
 */
static int uapi_probe(const char *ifname, bool unlink_stale)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	r = uapi_path(ifname, sun.sun_path, sizeof(sun.sun_path));
	if (r < 0)
		return r;
	if (stat(sun.sun_path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
	close(fd);
	if (r == -ECONNREFUSED) {
		if (unlink_stale)
			unlink(sun.sun_path);
		return 0;
	}
	return r == -ENOENT ? 0 : 1;
}

static int uapi_owns(const char *ifname)
{
	return uapi_probe(ifname, true);
}

/* ------------------------------------------------------------------ starting the daemon */

static int check_exec(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

int wg_uapi_find_command(const char *cmd, char *ret_path, size_t path_size)
{
	const char *path, *p, *colon;
	char cand[PATH_MAX];
	size_t dlen;
	int n;

	if (!cmd || !*cmd)
		cmd = UAPI_DEFAULT_COMMAND;
	if (strchr(cmd, '/')) {
		if (check_exec(cmd) < 0)
			return -ENOENT;
		n = snprintf(ret_path, path_size, "%s", cmd);
		return n < 0 || (size_t)n >= path_size ? -ENAMETOOLONG : 0;
	}
	path = secure_getenv("PATH");
	if (!path || !*path)
		path = UAPI_DEFAULT_PATH;
	for (p = path;; p = colon + 1) {
		colon = strchrnul(p, ':');
		dlen = (size_t)(colon - p);
		/* An empty PATH element means the current directory: never for a root daemon. */
		n = dlen ? snprintf(cand, sizeof(cand), "%.*s/%s", (int)dlen, p, cmd) : -1;
		if (n > 0 && (size_t)n < sizeof(cand) && check_exec(cand) == 0) {
			n = snprintf(ret_path, path_size, "%s", cand);
			return n < 0 || (size_t)n >= path_size ? -ENAMETOOLONG : 0;
		}
		if (!*colon)
			return -ENOENT;
	}
}

/* The daemon lives on after us: it must not see our secrets, which may be in CLIQUE_* (brief). */
static int child_env(char ***ret)
{
	size_t n = 0, i, j = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], "CLIQUE_", 7))
			env[j++] = environ[i];
	}
	*ret = env;
	return 0;
}

static int spawn_attrs(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at)
{
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawn_file_actions_init(fa);
	if (r)
		return -r;
	r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (!r)
		r = posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
	if (!r)
		r = posix_spawn_file_actions_adddup2(fa, 1, 2);
	if (!r)
		r = posix_spawnattr_init(at);
	if (r) {
		posix_spawn_file_actions_destroy(fa);
		return -r;
	}
	/* A daemon must not inherit a blocked SIGTERM or an ignored SIGCHLD from us. */
	posix_spawnattr_setsigmask(at, &none);
	posix_spawnattr_setsigdefault(at, &all);
	posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	return 0;
}

static int spawn_daemon(const char *path, const char *ifname, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *argv[3], **env;
	pid_t pid;
	int r;

	r = child_env(&env);
	if (r < 0)
		return r;
	r = spawn_attrs(&fa, &at);
	if (r < 0)
		goto out_free_env;
	argv[0] = (char *)(uintptr_t)path;
	argv[1] = (char *)(uintptr_t)ifname;
	argv[2] = NULL;
	r = -posix_spawn(&pid, path, &fa, &at, argv, env);
	if (r == 0)
		*ret_pid = pid;
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
out_free_env:
	free(env);
	return r;
}

/* wireguard-go forks its daemon and the parent exits 0 once TUN and socket exist (main.go). */
static int wait_parent(pid_t pid, uint64_t deadline)
{
	pid_t w;
	int status;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == pid)
			break;
		if (clock_now_ms() >= deadline) {
			kill(pid, SIGTERM);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		clock_sleep_ms(10);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		log_debug("userspace daemon exited with status 0x%x", (unsigned)status);
		return -EIO;
	}
	return 0;
}

static int wait_socket(const char *ifname, uint64_t deadline)
{
	int r;

	for (;;) {
		/* Never unlink here: a socket between bind() and listen() also refuses. */
		r = uapi_probe(ifname, false);
		if (r != 0)
			return r < 0 ? r : 0;
		if (clock_now_ms() >= deadline)
			return -ETIMEDOUT;
		clock_sleep_ms(20);
	}
}

static int uapi_create(const struct config *cfg)
{
	char path[PATH_MAX], sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t deadline;
	pid_t pid = 0;
	int r;

	r = uapi_path(cfg->interface, sock, sizeof(sock));
	if (r < 0)
		return r;
	r = wg_uapi_find_command(cfg->userspace_command, path, sizeof(path));
	if (r < 0)
		return r;
	deadline = clock_now_ms() + UAPI_START_TIMEOUT_MS;
	log_debug("starting '%s %s'", path, cfg->interface);
	r = spawn_daemon(path, cfg->interface, &pid);
	if (r < 0)
		return r;
	r = wait_parent(pid, deadline);
	if (r < 0)
		return r;
	return wait_socket(cfg->interface, deadline);
}

/* wireguard-go exits when its TUN goes away; deleting the socket is not the way (appendix). */
static int uapi_destroy(const char *ifname)
{
	return link_delete(ifname);
}

const struct wg_backend wg_backend_uapi = {
	.name = "userspace",
	.owns = uapi_owns,
	.create = uapi_create,
	.get = uapi_get,
	.set = uapi_set,
	.destroy = uapi_destroy,
};

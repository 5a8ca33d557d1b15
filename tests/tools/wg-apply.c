/*
 * Test tool: applies a wg(8)-style config (subset) to an interface through wg_backend_open(),
 * wg_diff() and the backend's set(), and reports what it sent.
 *
 *   wg-apply [-b auto|kernel|userspace] [-u command] [-a addr/len] [-m mtu] IFNAME CONFIG
 *   wg-apply -D IFNAME                    destroy the device through its backend
 *
 * Output: "backend=<name> created=<0|1>", then "noop" or "added=N removed=N changed=N
 * device=<0|1>", then "link=changed|unchanged". Exit 0 on success, 1 on error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "../../bootstrap/addr.h"
#include "../../bootstrap/config.h"
#include "../../bootstrap/link.h"
#include "../../bootstrap/wg-uapi.h"
#include "../../bootstrap/wg.h"

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_b64_key(const char *v, uint8_t key[WG_KEY_LEN])
{
	size_t n = 0;

	if (sodium_base642bin(key, WG_KEY_LEN, v, strlen(v), NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    n != WG_KEY_LEN)
		return -EINVAL;
	return 0;
}

static int parse_allowedips(struct wg_peer *p, char *v)
{
	struct ip_prefix pfx;
	char *tok, *save = NULL;
	int r;

	for (tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		r = addr_parse_prefix(trim(tok), &pfx);
		if (r < 0)
			return r;
		r = wg_peer_add_allowedip(p, &pfx);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_u16(const char *v, uint16_t *ret)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > 65535)
		return -EINVAL;
	*ret = (uint16_t)n;
	return 0;
}

static int set_interface(struct wg_device *d, const char *k, char *v)
{
	if (!strcasecmp(k, "PrivateKey")) {
		d->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		return parse_b64_key(v, d->private_key);
	}
	if (!strcasecmp(k, "ListenPort")) {
		d->flags |= WG_DEVICE_HAS_LISTEN_PORT;
		return parse_u16(v, &d->listen_port);
	}
	return -EINVAL;
}

static int set_peer(struct wg_peer *p, const char *k, char *v)
{
	if (!strcasecmp(k, "PublicKey"))
		return parse_b64_key(v, p->public_key);
	if (!strcasecmp(k, "PresharedKey")) {
		p->flags |= WG_PEER_HAS_PRESHARED_KEY;
		return parse_b64_key(v, p->preshared_key);
	}
	if (!strcasecmp(k, "Endpoint")) {
		p->flags |= WG_PEER_HAS_ENDPOINT;
		return wg_uapi_parse_endpoint(v, strlen(v), &p->endpoint.addr, &p->endpoint.port);
	}
	if (!strcasecmp(k, "AllowedIPs"))
		return parse_allowedips(p, v);
	if (!strcasecmp(k, "PersistentKeepalive")) {
		p->flags |= WG_PEER_HAS_KEEPALIVE;
		return strcmp(v, "off") ? parse_u16(v, &p->keepalive) : 0;
	}
	return -EINVAL;
}

static int parse_line(struct wg_device *d, struct wg_peer **peer, int *section, char *line)
{
	char *eq;

	line = trim(line);
	if (!*line)
		return 0;
	if (!strcasecmp(line, "[Interface]")) {
		*section = 1;
		return 0;
	}
	if (!strcasecmp(line, "[Peer]")) {
		*section = 2;
		return wg_device_add_peer(d, peer);
	}
	eq = strchr(line, '=');
	if (!eq || !*section)
		return -EINVAL;
	*eq = '\0';
	if (*section == 1)
		return set_interface(d, trim(line), trim(eq + 1));
	return set_peer(*peer, trim(line), trim(eq + 1));
}

static int load(const char *path, struct wg_device *d)
{
	struct wg_peer *peer = NULL;
	char line[1024], *hash;
	int section = 0, lineno = 0, r = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		r = parse_line(d, &peer, &section, line);
		if (r < 0)
			fprintf(stderr, "%s:%d: invalid line\n", path, lineno);
	}
	sodium_memzero(line, sizeof(line));
	fclose(f);
	return r;
}

static void report(const struct wg_device *live, const struct wg_device *c)
{
	unsigned added = 0, removed = 0, changed = 0;
	size_t i;

	if (wg_device_is_noop(c)) {
		printf("noop\n");
		return;
	}
	for (i = 0; i < c->n_peers; i++) {
		if (c->peers[i].flags & WG_PEER_REMOVE)
			removed++;
		else if (wg_device_find_peer(live, c->peers[i].public_key))
			changed++;
		else
			added++;
	}
	printf("added=%u removed=%u changed=%u device=%d\n", added, removed, changed,
	       c->flags ? 1 : 0);
}

static int destroy(const char *ifname)
{
	int r;

	r = wg_backend_uapi.owns(ifname);
	if (r < 0)
		return r;
	return r ? wg_backend_uapi.destroy(ifname) : wg_backend_kernel.destroy(ifname);
}

static int apply(const struct config *cfg, const char *path, const struct ip_prefix *addr)
{
	const struct wg_backend *b;
	struct wg_device *want, *live = NULL, *c = NULL;
	bool created;
	int r, changed = 0;

	want = wg_device_new(cfg->interface);
	if (!want)
		return -ENOMEM;
	r = load(path, want);
	if (r < 0)
		goto out;
	wg_device_normalize(want);
	r = wg_backend_open(cfg, &b, &created);
	if (r < 0)
		goto out;
	printf("backend=%s created=%d\n", b->name, created);
	r = b->get(cfg->interface, &live);
	if (r < 0)
		goto out;
	r = wg_diff(live, want, &c);
	if (r < 0)
		goto out;
	report(live, c);
	r = b->set(c);
	if (r < 0)
		goto out;
	r = link_configure(cfg->interface, cfg->mtu, addr, &changed);
	if (r == 0)
		printf("link=%s\n", changed ? "changed" : "unchanged");
out:
	wg_device_free(c);
	wg_device_free(live);
	wg_device_free(want);
	return r;
}

int main(int argc, char **argv)
{
	struct ip_prefix addr = {0};
	struct config cfg;
	int c, r, do_destroy = 0;

	if (sodium_init() < 0)
		return 1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = CONFIG_BACKEND_AUTO;
	snprintf(cfg.userspace_command, sizeof(cfg.userspace_command), "wireguard-go");
	while ((c = getopt(argc, argv, "a:b:m:u:D")) != -1) {
		switch (c) {
		case 'a':
			if (addr_parse_prefix(optarg, &addr) < 0)
				return 2;
			break;
		case 'b':
			if (!strcmp(optarg, "kernel"))
				cfg.backend = CONFIG_BACKEND_KERNEL;
			else if (!strcmp(optarg, "userspace"))
				cfg.backend = CONFIG_BACKEND_USERSPACE;
			else if (strcmp(optarg, "auto"))
				return 2;
			break;
		case 'm':
			cfg.mtu = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'u':
			snprintf(cfg.userspace_command, sizeof(cfg.userspace_command), "%s",
				 optarg);
			break;
		case 'D':
			do_destroy = 1;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != (do_destroy ? 1 : 2) ||
	    strlen(argv[optind]) >= sizeof(cfg.interface)) {
		fprintf(stderr, "usage: wg-apply [-b backend] [-u cmd] [-a addr] [-m mtu] IFNAME "
				"CONFIG | -D IFNAME\n");
		return 2;
	}
	snprintf(cfg.interface, sizeof(cfg.interface), "%s", argv[optind]);
	if (do_destroy)
		r = destroy(cfg.interface);
	else
		r = apply(&cfg, argv[optind + 1], &addr);
	if (r == -EOPNOTSUPP)
		fprintf(stderr, "wg-apply: kernel has no WireGuard and '%s' is not installed\n",
			cfg.userspace_command);
	else if (r < 0)
		fprintf(stderr, "wg-apply: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}

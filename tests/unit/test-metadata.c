/*
 * Metadata providers: every case directory under tests/fixtures/metadata/<provider> through
 * the pure parsers, then fetch() against the scripted http fake (retry, fallback, errors),
 * detect() against a fake sysfs tree, static, selection and overrides.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../../bootstrap/config.h"
#include "../../metadata/md-internal.h"
#include "../../metadata/provider.h"
#include "../fakes/http-fake.h"
#include "test.h"

#define FIXTURES "tests/fixtures/metadata"

/* Reads a whole fixture file; -ENOENT when absent. *ret is malloc'ed and NUL-terminated. */
static int read_file(const char *path, char **ret, size_t *ret_len)
{
	char *data = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	data = malloc(MD_MAX_BODY + 2);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	while (len < MD_MAX_BODY + 1) {
		n = read(fd, data + len, MD_MAX_BODY + 1 - len);
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (!n)
			break;
		len += n;
	}
	data[len] = '\0';
	*ret = data;
	*ret_len = len;
	data = NULL;
out:
	free(data);
	close(fd);
	return r;
}

static void fmt_instance(const struct md_instance *m, char *out, size_t outlen)
{
	char w4[ADDR_STRLEN] = "", w6[ADDR_STRLEN] = "", l4[ADDR_STRLEN] = "";

	if (m->wan4.family)
		addr_fmt(&m->wan4, w4);
	if (m->wan6.family)
		addr_fmt(&m->wan6, w6);
	if (m->lan4.family)
		addr_fmt(&m->lan4, l4);
	snprintf(out, outlen,
		 "provider=%s\nid=%s\nname=%s\nregion=%s\nprivate_net=%s\nwan4=%s\nwan6=%s\n"
		 "lan4=%s\nfrom.region=%s\nfrom.private_net=%s\nfrom.wan4=%s\nfrom.wan6=%s\n"
		 "from.lan4=%s\nrefused=%s\n",
		 m->provider, m->id, m->name, m->region, m->private_net, w4, w6, l4,
		 m->origin.region, m->origin.private_net, m->origin.wan4, m->origin.wan6,
		 m->origin.lan4, m->origin.refused);
}

static const char *errname(int r)
{
	static char other[16];

	switch (-r) {
	case EINVAL:
		return "EINVAL";
	case EBADMSG:
		return "EBADMSG";
	case EMSGSIZE:
		return "EMSGSIZE";
	}
	snprintf(other, sizeof(other), "E%d", -r);
	return other;
}

typedef int (*parse_fn)(const char *, size_t, struct md_instance *);

/* Runs parse on dir/file when it exists; 0 when absent. */
static int run_parser(const char *dir, const char *file, parse_fn parse, struct md_instance *inst)
{
	struct md_instance before = *inst;
	char path[1024], *data;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	r = read_file(path, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = parse(data, len, inst);
	/* the contract: *ret only on success */
	if (r < 0 && memcmp(&before, inst, sizeof(before)))
		r = -EFAULT;
	free(data);
	return r;
}

static int run_token(const char *dir, char *out, size_t outlen)
{
	char path[1024], token[256] = "untouched", *data;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/token", dir);
	r = read_file(path, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = md_linode_parse_token(data, len, token, sizeof(token));
	if (r < 0 && strcmp(token, "untouched"))
		r = -EFAULT;
	if (!r)
		snprintf(out, outlen, "token=%s\n", token);
	free(data);
	return r;
}

/* Hetzner: one file per document, named as in md_hetzner_docs; a missing file is a 404. */
static int run_hetzner(const char *dir, struct md_instance *inst)
{
	struct md_doc docs[MD_HETZNER_N_DOCS] = {{0}};
	char *data[MD_HETZNER_N_DOCS] = {NULL}, path[1024];
	struct md_instance before = *inst;
	int i, r = 0;

	for (i = 0; !r && i < MD_HETZNER_N_DOCS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, md_hetzner_docs[i]);
		r = read_file(path, &data[i], &docs[i].len);
		docs[i].data = data[i];
		if (r == -ENOENT)
			r = 0;
	}
	if (!r)
		r = md_hetzner_parse(docs, inst, NULL);
	if (r < 0 && memcmp(&before, inst, sizeof(before)))
		r = -EFAULT;
	for (i = 0; i < MD_HETZNER_N_DOCS; i++)
		free(data[i]);
	return r;
}

/* The body AWS IMDS answers for path (under meta-data/) in tree: a string as it is, a list one
 * entry per line; NULL (404) when absent or anything else (cloud-init test_ec2.py's mock). */
static char *imds_body(json_t *tree, const char *path, size_t *ret_len)
{
	char *copy = strdup(path), *part, *save = NULL, *out;
	json_t *node = tree, *v;
	size_t i, len = 0;

	for (part = strtok_r(copy, "/", &save); part && node; part = strtok_r(NULL, "/", &save))
		node = json_is_object(node) ? json_object_get(node, part) : NULL;
	free(copy);
	if (json_is_string(node)) {
		*ret_len = json_string_length(node);
		return memcpy(malloc(*ret_len + 1), json_string_value(node), *ret_len + 1);
	}
	if (!json_is_array(node))
		return NULL;
	out = strdup("");
	json_array_foreach(node, i, v)
	{
		out = realloc(out, len + json_string_length(v) + 2);
		len += sprintf(out + len, "%s%s", i ? "\n" : "", json_string_value(v));
	}
	*ret_len = len;
	return out;
}

/* AWS: token (optional) and meta-data.json, the IMDS tree; a parse error names its item. */
static int run_aws(const char *dir, struct md_instance *inst, char *out, size_t outlen)
{
	struct md_doc items[MD_AWS_N_ITEMS] = {{0}};
	char *bodies[MD_AWS_N_ITEMS] = {NULL}, path[1024], mac[18] = "", sub[128], tok[600];
	enum md_aws_item bad = MD_AWS_N_ITEMS;
	struct md_instance before = *inst;
	json_t *tree;
	size_t i, len;
	int r;

	snprintf(path, sizeof(path), "%s/token", dir);
	r = read_file(path, &bodies[0], &len);
	if (!r)
		r = md_aws_parse_token(bodies[0], len, tok, sizeof(tok));
	free(bodies[0]);
	if (r < 0 && r != -ENOENT)
		return r;
	snprintf(out, outlen, r ? "" : "token=%s\n", tok);
	snprintf(path, sizeof(path), "%s/meta-data.json", dir);
	tree = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (!tree)
		return -EBADMSG;
	for (i = 0; i < MD_AWS_N_ITEMS; i++) {
		snprintf(sub, sizeof(sub), md_aws_paths[i], mac);
		bodies[i] = imds_body(tree, sub, &items[i].len);
		items[i].data = bodies[i];
		if (i == MD_AWS_MAC && bodies[i])
			(void)md_aws_parse_mac(bodies[i], items[i].len, mac, sizeof(mac));
	}
	r = md_aws_parse(items, inst, &bad);
	if (r < 0 && memcmp(&before, inst, sizeof(before)))
		r = -EFAULT;
	len = strlen(out);
	if (r == -EINVAL && bad < MD_AWS_N_ITEMS) {
		snprintf(sub, sizeof(sub), md_aws_paths[bad], mac);
		snprintf(out + len, outlen - len, "error=EINVAL item=%s\n", sub);
		r = 0;
	} else if (!r) {
		fmt_instance(inst, out + len, outlen - len);
	}
	for (i = 0; i < MD_AWS_N_ITEMS; i++)
		free(bodies[i]);
	json_decref(tree);
	return r;
}

static int run_case(const char *area, const char *dir, char *out, size_t outlen)
{
	struct md_instance inst;
	char path[1024];
	size_t used;
	int r;

	memset(&inst, 0x5a, sizeof(inst));
	out[0] = '\0';
	if (!strcmp(area, "aws"))
		return run_aws(dir, &inst, out, outlen);
	if (!strcmp(area, "digitalocean") || !strcmp(area, "hetzner")) {
		r = area[0] == 'h' ? run_hetzner(dir, &inst)
				   : run_parser(dir, "v1.json", md_digitalocean_parse, &inst);
		if (!r)
			fmt_instance(&inst, out, outlen);
		return r;
	}
	if (!strcmp(area, "vultr")) {
		r = run_parser(dir, "v1.json", md_vultr_parse, &inst);
		if (!r)
			fmt_instance(&inst, out, outlen);
		return r;
	}
	r = run_token(dir, out, outlen);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/instance.json", dir);
	if (access(path, F_OK))
		return 0;
	r = run_parser(dir, "instance.json", md_linode_parse_instance, &inst);
	if (!r)
		r = run_parser(dir, "network.json", md_linode_parse_network, &inst);
	if (r < 0)
		return r;
	used = strlen(out);
	fmt_instance(&inst, out + used, outlen - used);
	return 0;
}

static int cmp_dirent(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void run_fixtures(const char *area)
{
	char dir[256], path[800], got[4096], *want;
	struct dirent **ents;
	size_t len;
	int n, i, r;

	snprintf(dir, sizeof(dir), FIXTURES "/%s", area);
	n = scandir(dir, &ents, NULL, cmp_dirent);
	if (n < 3) {
		printf("FAIL fixtures/%s (no cases in %s)\n", area, dir);
		test_failures++;
		return;
	}
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			int before = test_failures;

			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			r = run_case(area, path, got, sizeof(got));
			if (r < 0)
				snprintf(got, sizeof(got), "error=%s\n", errname(r));
			snprintf(path, sizeof(path), "%s/%s/expected", dir, ents[i]->d_name);
			if (read_file(path, &want, &len) < 0) {
				fprintf(stderr, "%s: unreadable\n", path);
				test_failures++;
			} else {
				if (strcmp(got, want)) {
					fprintf(stderr, "%s:\n--- want\n%s--- got\n%s", path, want,
						got);
					test_failures++;
				}
				free(want);
			}
			printf("%s fixtures/%s/%s\n", before == test_failures ? "ok" : "FAIL", area,
			       ents[i]->d_name);
		}
		free(ents[i]);
	}
	free(ents);
}

static void test_oversize(void)
{
	struct md_instance inst;
	char tok[64];
	char *big = malloc(MD_MAX_BODY + 1);

	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, ' ', MD_MAX_BODY + 1);
	big[0] = '{';
	big[MD_MAX_BODY] = '}';
	CHECK_INT(md_vultr_parse(big, MD_MAX_BODY + 1, &inst), -EMSGSIZE);
	CHECK_INT(md_linode_parse_instance(big, MD_MAX_BODY + 1, &inst), -EMSGSIZE);
	CHECK_INT(md_linode_parse_network(big, MD_MAX_BODY + 1, &inst), -EMSGSIZE);
	CHECK_INT(md_linode_parse_token(big, MD_MAX_BODY + 1, tok, sizeof(tok)), -EMSGSIZE);
	/* exactly at the cap is parsed */
	big[MD_MAX_BODY - 1] = '}';
	CHECK_INT(md_linode_parse_network(big, MD_MAX_BODY, &inst), 0);
	CHECK_INT(md_vultr_parse(NULL, 0, &inst), -EBADMSG);
	CHECK_INT(md_linode_parse_token(NULL, 0, tok, sizeof(tok)), -EINVAL);
	free(big);
}

static void test_copy_str(void)
{
	char dst[8] = "keep";

	CHECK_INT(md_copy_str(dst, sizeof(dst), "abcdefgh", 8, MD_CHARSET_ID), -EINVAL);
	CHECK_STR(dst, "keep");
	CHECK_INT(md_copy_str(dst, sizeof(dst), "abc.d-_", 7, MD_CHARSET_ID), 0);
	CHECK_STR(dst, "abc.d-_");
	CHECK_INT(md_copy_str(dst, sizeof(dst), "a b", 3, MD_CHARSET_NAME), -EINVAL);
	CHECK_INT(md_copy_str(dst, sizeof(dst), "a\0b", 3, MD_CHARSET_NAME), -EINVAL);
	CHECK_INT(md_copy_str(dst, sizeof(dst), "web:1", 5, MD_CHARSET_NAME), 0);
	CHECK_INT(md_copy_str(dst, sizeof(dst), "web:1", 5, MD_CHARSET_ID), -EINVAL);
	CHECK_INT(md_copy_str(dst, sizeof(dst), "ab+/=", 5, MD_CHARSET_TOKEN), 0);
	CHECK_INT(md_copy_str(dst, sizeof(dst), "a:b", 3, MD_CHARSET_TOKEN), -EINVAL);
	CHECK_INT(md_copy_str(dst, sizeof(dst), "", 0, MD_CHARSET_NAME), -EINVAL);
}

static void cfg_init(struct config *cfg, const char *url, unsigned timeout)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->metadata_url, sizeof(cfg->metadata_url), "%s", url);
	cfg->metadata_timeout = timeout;
}

static const char linode_instance[] = "{\"id\":42,\"label\":\"web-1\",\"region\":\"us-ord\"}";
static const char linode_network[] =
	"{\"interfaces\":[],\"ipv4\":{\"public\":[\"1.2.3.4/32\"],\"private\":[]},"
	"\"ipv6\":{\"slaac\":\"2001:db8::1/128\"}}";
#define SECRET_TOKEN "0123456789abcdefSECRET"

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void test_linode_fetch(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(0, 200, SECRET_TOKEN "\n");
	http_fake_push(0, 200, linode_instance);
	http_fake_push(0, 200, linode_network);
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 3);
	CHECK_STR(http_fake_request(0), "PUT http://169.254.169.254/v1/token\n"
					"Metadata-Token-Expiry-Seconds: 300\n"
					"Accept: text/plain\n");
	CHECK_STR(http_fake_request(1), "GET http://169.254.169.254/v1/instance\n"
					"Metadata-Token: " SECRET_TOKEN "\n"
					"Accept: application/json\n");
	CHECK_STR(http_fake_request(2), "GET http://169.254.169.254/v1/network\n"
					"Metadata-Token: " SECRET_TOKEN "\n"
					"Accept: application/json\n");
	CHECK_STR(inst.provider, "linode");
	CHECK_STR(inst.id, "42");
	CHECK_STR(inst.name, "web-1");
	CHECK_INT(inst.wan4.family, AF_INET);
	CHECK_INT(inst.wan6.family, AF_INET6);
	CHECK_INT(inst.lan4.family, 0);
}

static void test_linode_ipv6_fallback(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(-EHOSTUNREACH, 0, NULL);
	http_fake_push(0, 200, "[\"" SECRET_TOKEN "\"]");
	http_fake_push(0, 200, linode_instance);
	http_fake_push(0, 200, linode_network);
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 4);
	CHECK(!strncmp(http_fake_request(0), "PUT http://169.254.169.254/v1/token\n", 36));
	CHECK(!strncmp(http_fake_request(1), "PUT http://[fd00:a9fe:a9fe::1]/v1/token\n", 40));
	/* the base that answered is kept for the rest of the dance */
	CHECK(!strncmp(http_fake_request(2), "GET http://[fd00:a9fe:a9fe::1]/v1/instance\n", 43));
	CHECK(!strncmp(http_fake_request(3), "GET http://[fd00:a9fe:a9fe::1]/v1/network\n", 42));
}

static void put_file(const char *root, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A fake /sys/class/net: lo, a NIC whose name is unfit for a URL, eth1 (down) and eth2 (up). */
static void make_net(const char *root)
{
	static const char *const nics[][3] = {
		{"lo", "772\n", "unknown\n"},
		{"bad%nic", "1\n", "up\n"},
		{"eth1", "1\n", "down\n"},
		{"eth2", "1\n", "up\n"},
	};
	char rel[128];
	size_t i;

	snprintf(rel, sizeof(rel), "%s/class", root);
	mkdir(rel, 0755);
	snprintf(rel, sizeof(rel), "%s/class/net", root);
	mkdir(rel, 0755);
	for (i = 0; i < sizeof(nics) / sizeof(nics[0]); i++) {
		snprintf(rel, sizeof(rel), "%s/class/net/%s", root, nics[i][0]);
		mkdir(rel, 0755);
		snprintf(rel, sizeof(rel), "class/net/%s/type", nics[i][0]);
		put_file(root, rel, nics[i][1]);
		snprintf(rel, sizeof(rel), "class/net/%s/operstate", nics[i][0]);
		put_file(root, rel, nics[i][2]);
	}
}

/* The link-local address with the first Ethernet NIC that is up as its zone id, tried last. */
static void test_linode_link_local(void)
{
	char root[] = "/tmp/test-metadata-XXXXXX", cmd[600], err[512] = "";
	struct md_instance inst;
	struct config cfg;

	CHECK(mkdtemp(root) != NULL);
	make_net(root);
	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(-EHOSTUNREACH, 0, NULL);
	http_fake_push(-ENETUNREACH, 0, NULL);
	http_fake_push(0, 200, SECRET_TOKEN);
	http_fake_push(0, 200, linode_instance);
	http_fake_push(0, 200, linode_network);
	CHECK_INT(md_linode_fetch_at(&cfg, root, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 5);
	CHECK(!strncmp(http_fake_request(0), "PUT http://169.254.169.254/v1/token\n", 36));
	CHECK(!strncmp(http_fake_request(1), "PUT http://[fd00:a9fe:a9fe::1]/v1/token\n", 40));
	CHECK(!strncmp(http_fake_request(2), "PUT http://[fe80::a9fe:a9fe%25eth2]/v1/token\n", 45));
	CHECK(!strncmp(http_fake_request(4), "GET http://[fe80::a9fe:a9fe%25eth2]/v1/network\n",
		       47));

	/* nothing answers: all three in the one-line error */
	http_fake_reset();
	cfg_init(&cfg, "", 0);
	CHECK_INT(md_linode_fetch_at(&cfg, root, &inst, err, sizeof(err)), -ETIMEDOUT);
	CHECK_STR(err, "http://169.254.169.254/v1/token: fake: Connection refused; "
		       "http://[fd00:a9fe:a9fe::1]/v1/token: fake: Connection refused; "
		       "http://[fe80::a9fe:a9fe%25eth2]/v1/token: fake: Connection refused "
		       "(gave up after 0 s)");

	/* metadata_url set: no fallback at all */
	http_fake_reset();
	cfg_init(&cfg, "http://md", 0);
	CHECK_INT(md_linode_fetch_at(&cfg, root, &inst, err, sizeof(err)), -ETIMEDOUT);
	CHECK_INT(http_fake_count(), 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_INT(system(cmd), 0);
}

static void test_linode_url_override(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	/* an explicit URL: no IPv6 fallback, trailing slash ignored */
	cfg_init(&cfg, "http://127.0.0.1:8080/", 0);
	http_fake_reset();
	http_fake_push(-ECONNREFUSED, 0, NULL);
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -ETIMEDOUT);
	CHECK_INT(http_fake_count(), 1);
	CHECK(!strncmp(http_fake_request(0), "PUT http://127.0.0.1:8080/v1/token\n", 35));
	CHECK(strstr(err, "http://127.0.0.1:8080/v1/token") != NULL);
}

static void test_linode_errors(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	memset(&inst, 0x5a, sizeof(inst));
	cfg_init(&cfg, "http://md", 5);
	http_fake_reset();
	http_fake_push(0, 200, SECRET_TOKEN);
	http_fake_push(0, 401, "{\"errors\":[{\"reason\":\"Invalid\\ntoken\"}]}");
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -EACCES);
	CHECK_INT(http_fake_count(), 2);
	CHECK_STR(err, "http://md/v1/instance: HTTP 401 'Invalid\\x0atoken'");
	CHECK(inst.id[0] == 0x5a);

	http_fake_reset();
	http_fake_push(0, 404, NULL);
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -ENOENT);
	CHECK_STR(err, "http://md/v1/token: HTTP 404");

	http_fake_reset();
	http_fake_push(0, 200, SECRET_TOKEN);
	http_fake_push(0, 200, "<html>");
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "http://md/v1/instance: malformed response") == err);
	CHECK(!strstr(err, "SECRET"));

	http_fake_reset();
	http_fake_push(0, 200, "tok\"en");
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "http://md/v1/token: malformed token") == err);

	http_fake_reset();
	http_fake_push(-EMSGSIZE, 0, NULL);
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -EMSGSIZE);
	CHECK_INT(http_fake_count(), 1);
	CHECK(inst.id[0] == 0x5a);
}

/* 503 and 429 are retried with backoff (0.5 s, then 1 s): about 1.5 s. */
static void test_retry_5xx(void)
{
	struct md_instance inst;
	struct timespec t0;
	struct config cfg;
	char err[512] = "";
	long ms;

	cfg_init(&cfg, "", 10);
	http_fake_reset();
	http_fake_push(0, 503, "busy");
	http_fake_push(0, 429, NULL);
	http_fake_push(0, 200, SECRET_TOKEN);
	http_fake_push(0, 500, NULL);
	http_fake_push(0, 200, linode_instance);
	http_fake_push(0, 200, linode_network);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), 0);
	ms = elapsed_ms(&t0);
	CHECK_INT(http_fake_count(), 6);
	/* an HTTP answer is not a transport error: no switch to IPv6 */
	CHECK(!strncmp(http_fake_request(2), "PUT http://169.254.169.254/", 27));
	/* 0.5 + 1 + 2 s of backoff (the delay keeps growing across the session) */
	CHECK(ms >= 3400 && ms < 15000); /* upper bound only catches a runaway wait */
}

/* Nobody listening: retries until metadata_timeout, then one line with the URL. */
static void test_never_up(void)
{
	struct md_instance inst;
	struct timespec t0;
	struct config cfg;
	char err[512] = "";
	long ms;

	memset(&inst, 0x5a, sizeof(inst));
	cfg_init(&cfg, "http://10.9.9.9:81", 2);
	http_fake_reset();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(md_vultr.fetch(&cfg, &inst, err, sizeof(err)), -ETIMEDOUT);
	ms = elapsed_ms(&t0);
	CHECK(ms >= 1900 && ms < 12000);
	/* 0 s, 0.5 s, 1.5 s, 2 s */
	CHECK_INT(http_fake_count(), 4);
	CHECK_STR(err, "http://10.9.9.9:81/v1.json: fake: Connection refused (gave up after 2 s)");
	CHECK(inst.id[0] == 0x5a);
	CHECK(!strchr(err, '\n'));
}

static void test_linode_never_up_default(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	cfg_init(&cfg, "", 0);
	http_fake_reset();
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -ETIMEDOUT);
	CHECK_INT(http_fake_count(), 2);
	CHECK_STR(err, "http://169.254.169.254/v1/token: fake: Connection refused; "
		       "http://[fd00:a9fe:a9fe::1]/v1/token: fake: Connection refused "
		       "(gave up after 0 s)");
}

static void test_vultr_fetch(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "", *body;
	size_t len;

	CHECK_INT(read_file(FIXTURES "/vultr/reference-sample/v1.json", &body, &len), 0);
	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(0, 200, body);
	CHECK_INT(md_vultr.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 1);
	CHECK_STR(http_fake_request(0), "GET http://169.254.169.254/v1.json\n"
					"Accept: application/json\n");
	CHECK_STR(inst.region, "ewr");
	CHECK_STR(inst.private_net, "fbbe2b5b-b986-4396-87f5-7246660ccb64");
	free(body);

	http_fake_reset();
	http_fake_push(0, 200, "{\"hostname\":\"x\"}");
	CHECK_INT(md_vultr.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "http://169.254.169.254/v1.json: malformed response (Invalid argument)");
}

static const char *field_origin(const struct md_instance *inst, enum md_field field)
{
	return field == MD_WAN6	  ? inst->origin.wan6
	       : field == MD_WAN4 ? inst->origin.wan4
				  : inst->origin.lan4;
}

/* addr_host_problem through md_take_addr: what an address field accepts, and why not. */
static void test_host_check(void)
{
	static const struct {
		const char *in;
		enum md_field field;
		const char *why; /* NULL: taken */
	} cases[] = {
		{"192.0.2.1", MD_WAN4, NULL},
		{"192.0.2.1/32", MD_WAN4, NULL},
		{"10.0.0.1/24", MD_LAN4, NULL},
		{"192.0.2.0/31", MD_WAN4, NULL},
		{"192.0.2.1/31", MD_WAN4, NULL},
		{"10.0.0.0/24", MD_LAN4, "a network address, not a host"},
		{"10.0.0.255/24", MD_LAN4, "a broadcast address"},
		{"169.254.169.254", MD_WAN4, "link-local"},
		{"127.0.0.1/8", MD_LAN4, "loopback"},
		{"0.0.0.0", MD_WAN4, "in 0.0.0.0/8 (this network)"},
		{"224.0.0.1", MD_WAN4, "multicast"},
		{"255.255.255.255", MD_WAN4, "reserved (240.0.0.0/4)"},
		{"2001:db8::1", MD_WAN6, NULL},
		{"2001:db8::1/64", MD_WAN6, NULL},
		{"2001:db8::/127", MD_WAN6, NULL},
		{"2001:db8::", MD_WAN6, NULL}, /* no length given: judged as a /128 */
		{"2001:db8::/64", MD_WAN6, "a network prefix, not a host"},
		{"fe80::1/128", MD_WAN6, "link-local"},
		{"::1", MD_WAN6, "loopback"},
		{"::", MD_WAN6, "unspecified"},
		{"ff02::1", MD_WAN6, "multicast"},
		{"::ffff:192.0.2.1", MD_WAN6, "IPv4-mapped"},
	};
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct md_instance inst = {0};
		json_t *v = json_string(cases[i].in);
		int r = md_take_addr(&inst, cases[i].field, v, "/doc", "k[%zu]", i);

		json_decref(v);
		CHECK_INT(r, cases[i].why ? 0 : 1);
		snprintf(want, sizeof(want), "/doc k[%zu]", i);
		CHECK_STR(field_origin(&inst, cases[i].field), cases[i].why ? "" : want);
		if (cases[i].why)
			CHECK(strstr(inst.origin.refused, cases[i].why) &&
			      !strncmp(inst.origin.refused, want, strlen(want)));
		else
			CHECK_STR(inst.origin.refused, "");
	}
}

/* md_take_addr: wrong family or garbage is malformed; a set field is never overwritten. */
static void test_take_addr(void)
{
	struct md_instance inst = {0};
	json_t *v4 = json_string("192.0.2.1"), *v6 = json_string("2001:db8::1"),
	       *n = json_integer(1);
	json_t *e = json_string("");
	char a[ADDR_STRLEN];

	CHECK_INT(md_take_addr(&inst, MD_WAN4, v6, "/d", "x"), -EINVAL);
	CHECK_INT(md_take_addr(&inst, MD_WAN4, n, "/d", "x"), -EINVAL);
	CHECK_INT(md_take_addr(&inst, MD_WAN4, e, "/d", "x"), 0);
	CHECK_INT(md_take_addr(&inst, MD_WAN4, NULL, "/d", "x"), 0);
	CHECK_INT(md_take_addr(&inst, MD_WAN4, v4, "/d", "first"), 1);
	CHECK_INT(md_take_addr(&inst, MD_WAN4, v4, "/d", "second"), 0);
	CHECK_STR(inst.origin.wan4, "/d first");
	CHECK_STR(addr_fmt(&inst.wan4, a), "192.0.2.1");
	json_decref(v4);
	json_decref(v6);
	json_decref(n);
	json_decref(e);
}

/* md_json_prefix: Vultr's netmask and prefix fields give the length. */
static void test_json_prefix(void)
{
	static const struct {
		const char *json;
		int family;
		int want; /* length, or -errno */
	} cases[] = {
		{"{\"a\":\"10.1.112.3\",\"m\":\"255.255.240.0\"}", AF_INET, 20},
		{"{\"a\":\"10.1.112.3\",\"m\":\"\"}", AF_INET, 32},
		{"{\"a\":\"10.1.112.3\"}", AF_INET, 32},
		{"{\"a\":\"10.1.112.3/20\"}", AF_INET, 20},
		{"{\"a\":\"10.1.112.3/20\",\"m\":\"255.255.240.0\"}", AF_INET, 20},
		{"{\"a\":\"10.1.112.3/24\",\"m\":\"255.255.240.0\"}", AF_INET, -EINVAL},
		{"{\"a\":\"10.1.112.3\",\"m\":\"255.0.255.0\"}", AF_INET, -EINVAL},
		{"{\"a\":\"10.1.112.3\",\"m\":\"20\"}", AF_INET, -EINVAL},
		{"{\"a\":\"2001:db8::1\",\"m\":\"64\"}", AF_INET6, 64},
		{"{\"a\":\"2001:db8::1\",\"m\":64}", AF_INET6, 64},
		{"{\"a\":\"2001:db8::1\",\"m\":\"129\"}", AF_INET6, -EINVAL},
		{"{\"a\":\"2001:db8::1\",\"m\":\"-1\"}", AF_INET6, -EINVAL},
		{"{\"a\":\"2001:db8::1\",\"m\":\"6 4\"}", AF_INET6, -EINVAL},
		{"{\"a\":\"2001:db8::1\",\"m\":[]}", AF_INET6, -EINVAL},
		{"{\"a\":\"10.0.0.1\"}", AF_INET6, -EINVAL},
		{"{\"a\":\"\"}", AF_INET, -ENOENT},
		{"{\"a\":null}", AF_INET, -ENOENT},
		{"{}", AF_INET, -ENOENT},
	};
	struct ip_prefix p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = json_loads(cases[i].json, 0, NULL);
		int r = md_json_prefix(o, "a", "m", cases[i].family, &p);

		CHECK_INT(r < 0 ? r : p.len, cases[i].want);
		json_decref(o);
	}
}

static const char vultr_empty[] =
	"{\"instanceid\":\"a747bfz6385e\",\"region\":{\"regioncode\":\"EWR\"},"
	"\"interfaces\":[{\"ipv4\":{\"address\":\"\"},\"ipv6\":{\"address\":\"2001:db8::\","
	"\"prefix\":\"64\"}}]}";
static const char vultr_ok[] = "{\"instanceid\":\"a747bfz6385e\",\"region\":{\"regioncode\":"
			       "\"EWR\"},\"interfaces\":[{\"ipv4\":{\"address\":\"192.0.2.9\"}}]}";

/* DESIGN.md 7: a document without a usable address is fetched again (metadata may be late). */
static void test_no_address_retried(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "", a[ADDR_STRLEN];

	cfg_init(&cfg, "", 10);
	http_fake_reset();
	http_fake_push(0, 200, vultr_empty);
	http_fake_push(0, 200, vultr_ok);
	CHECK_INT(md_vultr.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 2);
	CHECK_STR(addr_fmt(&inst.wan4, a), "192.0.2.9");
	CHECK_STR(inst.origin.wan4, "/v1.json interfaces[0].ipv4.address");
}

/* ... until metadata_timeout, then one line naming what is missing and what was refused. */
static void test_no_address_gives_up(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";
	int i;

	memset(&inst, 0x5a, sizeof(inst));
	cfg_init(&cfg, "http://md", 0);
	http_fake_reset();
	for (i = 0; i < 3; i++) {
		http_fake_push(0, 200, SECRET_TOKEN);
		http_fake_push(0, 200, linode_instance);
		http_fake_push(0, 200,
			       "{\"ipv4\":{\"public\":[\"203.0.113.0/24\"]},\"ipv6\":{\"slaac\":"
			       "\"2001:db8::/64\"}}");
	}
	CHECK_INT(md_linode_fetch_at(&cfg, "/nonexistent", &inst, err, sizeof(err)), -ENODATA);
	CHECK_INT(http_fake_count(), 3);
	CHECK_STR(err, "http://md/v1/network: no usable address after 0 s: no address in "
		       "ipv4.public, a VPC interface (instance_address, nat_1_1), a VLAN "
		       "ipam_address, ipv4.private or ipv6.slaac; refused /v1/network "
		       "ipv4.public[0] 203.0.113.0/24: a network address, not a host");
	CHECK(inst.id[0] == 0x5a);

	/* an address from the config is enough: no retry */
	addr_parse("198.51.100.7", &cfg.wan_ipv4);
	http_fake_reset();
	http_fake_push(0, 200, vultr_empty);
	CHECK_INT(md_vultr.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 1);
	CHECK_INT(inst.wan4.family, 0);
}

/* A fake /sys: <root>/class/dmi/id/{sys_vendor,board_serial}. */
static void make_dmi(const char *root, const char *vendor, const char *serial)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/class", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/class/dmi", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/class/dmi/id", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/class/dmi/id/sys_vendor", root);
	unlink(path);
	if (vendor) {
		f = fopen(path, "w");
		fputs(vendor, f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/class/dmi/id/board_serial", root);
	unlink(path);
	if (serial) {
		f = fopen(path, "w");
		fputs(serial, f);
		fclose(f);
	}
}

static void rm_dmi(const char *root)
{
	char path[512];

	make_dmi(root, NULL, NULL);
	snprintf(path, sizeof(path), "%s/class/dmi/id", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/class/dmi", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/class", root);
	rmdir(path);
	rmdir(root);
}

static void test_detect_select(void)
{
	char root[] = "/tmp/test-metadata-XXXXXX";
	struct config cfg;
	size_t n;

	CHECK(mkdtemp(root) != NULL);
	cfg_init(&cfg, "", 1);
	CHECK(md_provider_select(&cfg, root) == NULL);
	make_dmi(root, "Linode\n", NULL);
	CHECK(md_linode.detect(root));
	CHECK(!md_vultr.detect(root));
	CHECK(md_provider_select(&cfg, root) == &md_linode);
	make_dmi(root, "Akamai\n", NULL);
	CHECK(md_provider_select(&cfg, root) == &md_linode);
	make_dmi(root, "  Vultr \n", NULL);
	CHECK(md_provider_select(&cfg, root) == &md_vultr);
	/* cloud-init DataSourceDigitalOcean and DataSourceHetzner: system-manufacturer */
	make_dmi(root, "DigitalOcean\n", NULL);
	CHECK(md_provider_select(&cfg, root) == &md_digitalocean);
	make_dmi(root, "Hetzner\n", NULL);
	CHECK(md_provider_select(&cfg, root) == &md_hetzner);
	make_dmi(root, "Hetzner Online GmbH\n", NULL);
	CHECK(md_provider_select(&cfg, root) == NULL);
	make_dmi(root, "QEMU\n", NULL);
	CHECK(md_provider_select(&cfg, root) == NULL);
	make_dmi(root, "Linode Extra\n", NULL);
	CHECK(md_provider_select(&cfg, root) == NULL);
	CHECK(!md_static.detect(root));
	snprintf(cfg.provider, sizeof(cfg.provider), "vultr");
	CHECK(md_provider_select(&cfg, root) == &md_vultr);
	snprintf(cfg.provider, sizeof(cfg.provider), "linode");
	CHECK(md_provider_select(&cfg, root) == &md_linode);
	snprintf(cfg.provider, sizeof(cfg.provider), "static");
	CHECK(md_provider_select(&cfg, root) == &md_static);
	CHECK(md_providers[0] == &md_linode && md_providers[1] == &md_vultr);
	/* every entry is found by its name; static (never detected) is last */
	for (n = 0; md_providers[n]; n++)
		CHECK(md_provider_find(md_providers[n]->name) == md_providers[n]);
	CHECK(n >= 5 && md_providers[n - 1] == &md_static);
	CHECK(md_provider_find("vultr") == &md_vultr);
	CHECK(md_provider_find("Vultr") == NULL && md_provider_find("auto") == NULL);
	snprintf(cfg.provider, sizeof(cfg.provider), "auto");
	CHECK(md_provider_select(&cfg, root) == NULL);
	rm_dmi(root);
}

static void test_linode_dmi_no_metadata(void)
{
	char root[] = "/tmp/test-metadata-XXXXXX", err[512] = "";
	struct md_instance inst;
	struct config cfg;

	CHECK(mkdtemp(root) != NULL);
	cfg_init(&cfg, "", 5);
	make_dmi(root, "Linode\n", "als=0;ais=0;dhcp=1\n");
	http_fake_reset();
	CHECK_INT(md_linode_fetch_at(&cfg, root, &inst, err, sizeof(err)), -EOPNOTSUPP);
	CHECK_INT(http_fake_count(), 0);
	CHECK_STR(err, "Linode reports no metadata service in this region (DMI baseboard serial)");

	/* only one stage disabled: the service exists */
	make_dmi(root, "Linode\n", "als=1;ais=0\n");
	http_fake_reset();
	http_fake_push(0, 200, SECRET_TOKEN);
	http_fake_push(0, 200, linode_instance);
	http_fake_push(0, 200, linode_network);
	CHECK_INT(md_linode_fetch_at(&cfg, root, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 3);
	rm_dmi(root);
}

static void test_static(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[256] = "";

	cfg_init(&cfg, "", 0);
	memset(&inst, 0x5a, sizeof(inst));
	CHECK_INT(md_static.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "provider static needs instance_id and region");
	CHECK(inst.id[0] == 0x5a);
	snprintf(cfg.instance_id, sizeof(cfg.instance_id), "node-7");
	snprintf(cfg.region, sizeof(cfg.region), "Lab");
	addr_parse("192.0.2.7", &cfg.wan_ipv4);
	http_fake_reset();
	CHECK_INT(md_static.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 0);
	CHECK_STR(inst.provider, "static");
	CHECK_STR(inst.id, "node-7");
	CHECK_STR(inst.name, "node-7");
	CHECK_STR(inst.region, "lab");
	CHECK_STR(inst.private_net, "");
	CHECK_INT(inst.wan4.family, AF_INET);
	CHECK_INT(inst.wan6.family, 0);
	snprintf(cfg.name, sizeof(cfg.name), "a=b");
	CHECK_INT(md_static.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
}

static void test_overrides(void)
{
	struct md_instance inst = {0};
	struct config cfg;
	char a[ADDR_STRLEN];

	cfg_init(&cfg, "", 0);
	snprintf(inst.id, sizeof(inst.id), "42");
	snprintf(inst.name, sizeof(inst.name), "web-1");
	snprintf(inst.region, sizeof(inst.region), "us-ord");
	addr_parse("1.2.3.4", &inst.wan4);
	addr_parse("10.0.0.1", &inst.lan4);
	md_apply_overrides(&cfg, &inst);
	CHECK_STR(inst.name, "web-1");
	CHECK_STR(addr_fmt(&inst.wan4, a), "1.2.3.4");

	snprintf(cfg.name, sizeof(cfg.name), "renamed");
	snprintf(cfg.region, sizeof(cfg.region), "EU-West");
	addr_parse("198.51.100.1", &cfg.wan_ipv4);
	addr_parse("2001:db8::5", &cfg.wan_ipv6);
	md_apply_overrides(&cfg, &inst);
	CHECK_STR(inst.id, "42");
	CHECK_STR(inst.name, "renamed");
	CHECK_STR(inst.region, "eu-west");
	CHECK_STR(addr_fmt(&inst.wan4, a), "198.51.100.1");
	CHECK_STR(addr_fmt(&inst.wan6, a), "2001:db8::5");
	CHECK_STR(addr_fmt(&inst.lan4, a), "10.0.0.1");
	CHECK_STR(inst.origin.wan4, "config wan_ipv4");
	CHECK_STR(inst.origin.wan6, "config wan_ipv6");
	CHECK_STR(inst.origin.region, "config region");
	CHECK_STR(inst.origin.lan4, "");

	/* a value that fails validation keeps the fetched one */
	snprintf(cfg.instance_id, sizeof(cfg.instance_id), "a/b");
	md_apply_overrides(&cfg, &inst);
	CHECK_STR(inst.id, "42");
}

int main(void)
{
	run_fixtures("linode");
	run_fixtures("vultr");
	run_fixtures("digitalocean");
	run_fixtures("hetzner");
	run_fixtures("aws");
	RUN(test_oversize);
	RUN(test_copy_str);
	RUN(test_linode_fetch);
	RUN(test_linode_ipv6_fallback);
	RUN(test_linode_url_override);
	RUN(test_linode_link_local);
	RUN(test_linode_errors);
	RUN(test_retry_5xx);
	RUN(test_never_up);
	RUN(test_linode_never_up_default);
	RUN(test_vultr_fetch);
	RUN(test_host_check);
	RUN(test_take_addr);
	RUN(test_json_prefix);
	RUN(test_no_address_retried);
	RUN(test_no_address_gives_up);
	RUN(test_detect_select);
	RUN(test_linode_dmi_no_metadata);
	RUN(test_static);
	RUN(test_overrides);
	return test_exit();
}

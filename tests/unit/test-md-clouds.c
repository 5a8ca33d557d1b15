/*
 * The YAML subset reader (metadata/yaml.c) case by case, and the DigitalOcean and Hetzner
 * fetch() paths against the scripted http fake: requests made, 404s, retries, error lines.
 * Their document fixtures run in test-metadata.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../bootstrap/config.h"
#include "../../metadata/provider.h"
#include "../../metadata/yaml.h"
#include "../fakes/http-fake.h"
#include "test.h"

static int collect(void *userdata, const char *path, const char *value, size_t len)
{
	char *out = userdata;
	size_t used = strlen(out);

	if (strlen(value) != len)
		return -EFAULT;
	snprintf(out + used, 1024 - used, "%s=%s\n", path, value);
	return 0;
}

static void test_yaml(void)
{
	static const struct {
		const char *in;
		const char *want; /* the scalars as path=value lines, or "error" */
	} cases[] = {
		{"", ""},
		{"a: 1\nb: x y\n", "a=1\nb=x y\n"},
		{"a: 1\r\nb: 2\r\n", "a=1\nb=2\n"},
		{"---\na: 1\n", "a=1\n"},
		{"# c\n\na: 1 # trailing\n  \n", "a=1\n"},
		/* a sequence at its key's indentation (PyYAML) and one indented under it */
		{"l:\n- 1\n- 2\nk: v\n", "l[0]=1\nl[1]=2\nk=v\n"},
		{"l:\n  - 1\n  - 2\nk: v\n", "l[0]=1\nl[1]=2\nk=v\n"},
		{"- ip: 10.0.0.2\n  id: 7\n- ip: 10.0.0.3\n",
		 "[0].ip=10.0.0.2\n[0].id=7\n[1].ip=10.0.0.3\n"},
		{"-\n  a: 1\n", "[0].a=1\n"},
		{"c:\n- s:\n  - a: 1\n    b: 2\n  t: p\n",
		 "c[0].s[0].a=1\nc[0].s[0].b=2\nc[0].t=p\n"},
		{"a:\nb: 2\n", "a=\nb=2\n"},
		{"a:", "a=\n"},
		{"a: []\nb: {}\nc: [x, y ,z]\n", "c[0]=x\nc[1]=y\nc[2]=z\n"},
		{"[]\n", ""},
		{"a: 'it''s # no comment'\nb: \"q: x\"\n", "a=it's # no comment\nb=q: x\n"},
		{"a: 2a01:4f8::1/64\nb: 86:00:00:aa:5d:f8\nc: ::1\n",
		 "a=2a01:4f8::1/64\nb=86:00:00:aa:5d:f8\nc=::1\n"},
		{"a: |\n  x: 1\n  - y\nb: 2\n", "b=2\n"},
		{"a: >-\n  text\n\n  more\nb: 2\n", "b=2\n"},
		{"- |\n  text\n- 2\n", "[1]=2\n"},
		{"\xc3\xa9: 1\n", "error"},
		{"a: caf\xc3\xa9\n", "a=caf\xc3\xa9\n"},
		{"a:\tb\n", "error"},
		{"\ta: 1\n", "error"},
		{"a: 1\n b: 2\n", "error"},
		{"a:\n  b: 1\n c: 2\n", "error"},
		{"a: b: c\n", "error"},
		{"a: &x 1\n", "error"},
		{"a: *x\n", "error"},
		{"a: !!str 1\n", "error"},
		{"a: {b: 1}\n", "error"},
		{"a: [b, [c]]\n", "error"},
		{"a: [b,]\n", "error"},
		{"a: \"x\\ny\"\n", "error"},
		{"a: 'x\n", "error"},
		{"a: 'x' y\n", "error"},
		{"a: x\n  y\n", "error"},
		{"- - 1\n", "error"},
		{"- 1\na: 2\n", "error"},
		{"a: 1\n- 2\n", "error"},
		{" a: 1\n", "error"},
		{"\"a\": 1\n", "error"},
		{"? a\n", "error"},
		{"a: 1\n...\n", "error"},
		{"[]\na: 1\n", "error"},
		{"a: x\x01\n", "error"},
		{"a: x\ry\n", "error"},
	};
	char out[1024];
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out[0] = '\0';
		r = yaml_walk(cases[i].in, strlen(cases[i].in), collect, out);
		if (r < 0)
			snprintf(out, sizeof(out), "error");
		if (strcmp(out, cases[i].want))
			fprintf(stderr, "case %zu: %s\n", i, cases[i].in);
		CHECK_STR(out, cases[i].want);
	}
}

/* Bounds: nesting, path length, value length, document size. */
static void test_yaml_bounds(void)
{
	char buf[4096], out[1024] = "";
	size_t n = 0;
	int i;

	/* 8 levels are read, the 9th is refused */
	for (i = 0; i < YAML_DEPTH_MAX; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%*sk%d:\n", 2 * i, "", i);
	snprintf(buf + n, sizeof(buf) - n, "%*sv: 1\n", 2 * i, "");
	CHECK_INT(yaml_walk(buf, strlen(buf), collect, out), -EINVAL);
	n = 0;
	for (i = 0; i < YAML_DEPTH_MAX - 1; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%*sk%d:\n", 2 * i, "", i);
	snprintf(buf + n, sizeof(buf) - n, "%*sv: 1\n", 2 * i, "");
	CHECK_INT(yaml_walk(buf, strlen(buf), collect, out), 0);
	CHECK_STR(out, "k0.k1.k2.k3.k4.k5.k6.v=1\n");

	snprintf(buf, sizeof(buf), "%0*d: 1\n", YAML_PATH_MAX, 0);
	CHECK_INT(yaml_walk(buf, strlen(buf), collect, out), -EINVAL);
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "a: ", 3);
	CHECK_INT(yaml_walk(buf, 600, collect, out), -EINVAL);
	CHECK_INT(yaml_walk(buf, 256 * 1024 + 1, collect, out), -EMSGSIZE);
}

/* The callback's verdict stops the walk and is returned. */
static int refuse(void *userdata, const char *path, const char *value, size_t len)
{
	(void)userdata;
	(void)value;
	(void)len;
	return strcmp(path, "b") ? 0 : -ERANGE;
}

static void test_yaml_stop(void)
{
	CHECK_INT(yaml_walk("a: 1\nb: 2\nc: [\n", 15, refuse, NULL), -ERANGE);
}

static void cfg_init(struct config *cfg, const char *url, unsigned timeout)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->metadata_url, sizeof(cfg->metadata_url), "%s", url);
	cfg->metadata_timeout = timeout;
}

static const char do_doc[] =
	"{\"droplet_id\":2756294,\"hostname\":\"sample-droplet\",\"region\":\"nyc3\","
	"\"interfaces\":{\"public\":[{\"ipv4\":{\"ip_address\":\"104.131.20.105\","
	"\"netmask\":\"255.255.192.0\"},\"anchor_ipv4\":{\"ip_address\":\"10.17.0.160\"}}]}}";
static const char do_anchor_only[] =
	"{\"droplet_id\":2756294,\"region\":\"nyc3\",\"interfaces\":{\"public\":[{"
	"\"anchor_ipv4\":{\"ip_address\":\"10.17.0.160\"}}]}}";

static void test_digitalocean_fetch(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "", a[ADDR_STRLEN];

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(0, 200, do_doc);
	CHECK_INT(md_digitalocean.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 1);
	CHECK_STR(http_fake_request(0), "GET http://169.254.169.254/metadata/v1.json\n"
					"Accept: application/json\n");
	CHECK_STR(inst.provider, "digitalocean");
	CHECK_STR(addr_fmt(&inst.wan4, a), "104.131.20.105");

	/* the anchor address alone is no endpoint: fetched again until a usable one */
	http_fake_reset();
	http_fake_push(0, 200, do_anchor_only);
	http_fake_push(-ECONNREFUSED, 0, NULL);
	http_fake_push(0, 200, do_doc);
	CHECK_INT(md_digitalocean.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 3);

	cfg_init(&cfg, "http://md", 0);
	http_fake_reset();
	http_fake_push(0, 200, do_anchor_only);
	CHECK_INT(md_digitalocean.fetch(&cfg, &inst, err, sizeof(err)), -ENODATA);
	CHECK_STR(err, "http://md/metadata/v1.json: no usable address after 0 s: no "
		       "interfaces.public[0] ipv4/ipv6 or interfaces.private[0] ipv4 address");

	http_fake_reset();
	http_fake_push(0, 200, "{\"droplet_id\":\"x\"}");
	CHECK_INT(md_digitalocean.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "http://md/metadata/v1.json: malformed response (Invalid argument)");
}

/* Queues one Hetzner round: each of md_hetzner_docs answered with body, or 404 when NULL. */
static void hz_push(const char *const body[MD_HETZNER_N_DOCS])
{
	int i;

	for (i = 0; i < MD_HETZNER_N_DOCS; i++)
		http_fake_push(0, body[i] ? 200 : 404, body[i] ? body[i] : "not found");
}

static void test_hetzner_fetch(void)
{
	const char *docs[MD_HETZNER_N_DOCS] = {
		"4711\n",
		"hz-1",
		"eu-central",
		NULL,
		"config:\n- type: physical\n  subnets:\n  - address: 2a01:4f8:1:2::1/64\n",
		"- ip: 10.0.0.2\n  network_id: 4124728\n",
	};
	struct md_instance inst;
	struct config cfg;
	char err[512] = "", a[ADDR_STRLEN];
	int i;

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	hz_push(docs);
	CHECK_INT(md_hetzner.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), MD_HETZNER_N_DOCS);
	for (i = 0; i < MD_HETZNER_N_DOCS; i++) {
		char want[128];

		snprintf(want, sizeof(want), "GET http://169.254.169.254/hetzner/v1/metadata/%s\n",
			 md_hetzner_docs[i]);
		CHECK_STR(http_fake_request(i), want);
	}
	CHECK_STR(inst.id, "4711");
	CHECK_INT(inst.wan4.family, 0);
	CHECK_STR(addr_fmt(&inst.wan6, a), "2a01:4f8:1:2::1");
	CHECK_STR(addr_fmt(&inst.lan4, a), "10.0.0.2");
	CHECK_STR(inst.private_net, "4124728");

	/* instance-id is required: its 404 ends the fetch with the URL */
	cfg_init(&cfg, "http://md", 0);
	docs[MD_HETZNER_INSTANCE_ID] = NULL;
	http_fake_reset();
	hz_push(docs);
	CHECK_INT(md_hetzner.fetch(&cfg, &inst, err, sizeof(err)), -ENOENT);
	CHECK_INT(http_fake_count(), 1);
	CHECK(strstr(err, "http://md/hetzner/v1/metadata/instance-id: HTTP 404") == err);

	/* a malformed document is named */
	docs[MD_HETZNER_INSTANCE_ID] = "4711";
	docs[MD_HETZNER_PRIVATE_NETWORKS] = "ip: 10.0.0.2\n";
	http_fake_reset();
	hz_push(docs);
	CHECK_INT(md_hetzner.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "http://md/hetzner/v1/metadata/private-networks: malformed response "
		       "(Invalid argument)");

	/* nothing usable: retried until metadata_timeout, then what is missing */
	docs[MD_HETZNER_NETWORK_CONFIG] = NULL;
	docs[MD_HETZNER_PRIVATE_NETWORKS] = "[]";
	http_fake_reset();
	hz_push(docs);
	CHECK_INT(md_hetzner.fetch(&cfg, &inst, err, sizeof(err)), -ENODATA);
	CHECK_STR(err, "http://md/hetzner/v1/metadata: no usable address after 0 s: no "
		       "public-ipv4, IPv6 address in network-config or private-networks ip");
}

int main(void)
{
	RUN(test_yaml);
	RUN(test_yaml_bounds);
	RUN(test_yaml_stop);
	RUN(test_digitalocean_fetch);
	RUN(test_hetzner_fetch);
	return test_exit();
}

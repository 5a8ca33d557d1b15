/*
 * The aws provider's fetch() against the scripted http fake (token dance, 404 as "none", a 401
 * that needs a fresh token, the IPv6 base, no usable address) and detect() against a fake sysfs
 * tree; its fixtures (tests/fixtures/metadata/aws/) run in test-metadata.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../../bootstrap/config.h"
#include "../../metadata/md-internal.h"
#include "../../metadata/provider.h"
#include "../fakes/http-fake.h"
#include "test.h"

static void cfg_init(struct config *cfg, const char *url, unsigned timeout)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->metadata_url, sizeof(cfg->metadata_url), "%s", url);
	cfg->metadata_timeout = timeout;
}

#define TOKEN "AQAEAHMy-secret-token_Xw=="
#define MAC "0e:49:61:0f:c3:11"
#define MD "http://169.254.169.254/latest/meta-data/"

/* Queues the answers of a whole instance after the token: 404 where value is NULL. */
static void push_instance(const char *public4, const char *vpc)
{
	const char *answers[MD_AWS_N_ITEMS] = {
		[MD_AWS_INSTANCE_ID] = "i-0af01c0123456789a",
		[MD_AWS_MAC] = MAC,
		[MD_AWS_LOCAL_IPV4] = "172.31.5.10",
		[MD_AWS_PUBLIC_IPV4] = public4,
		[MD_AWS_REGION] = "eu-central-1",
		[MD_AWS_AZ] = "eu-central-1b",
		[MD_AWS_VPC_ID] = vpc,
		[MD_AWS_IPV6S] = NULL,
		[MD_AWS_NAME_TAG] = NULL,
	};
	size_t i;

	for (i = 0; i < MD_AWS_N_ITEMS; i++) {
		if (i != MD_AWS_AZ) /* not asked for: the region is there */
			http_fake_push(0, answers[i] ? 200 : 404, answers[i]);
	}
}

static void test_fetch(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "", a[ADDR_STRLEN];

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	push_instance("3.120.0.7\n", "vpc-0123456789abcdef0");
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), MD_AWS_N_ITEMS);
	CHECK_STR(http_fake_request(0), "PUT http://169.254.169.254/latest/api/token\n"
					"X-aws-ec2-metadata-token-ttl-seconds: 300\n");
	CHECK_STR(http_fake_request(1), "GET " MD "instance-id\n"
					"X-aws-ec2-metadata-token: " TOKEN "\n");
	CHECK_STR(http_fake_request(2), "GET " MD "mac\nX-aws-ec2-metadata-token: " TOKEN "\n");
	CHECK_STR(http_fake_request(6), "GET " MD "network/interfaces/macs/" MAC "/vpc-id\n"
					"X-aws-ec2-metadata-token: " TOKEN "\n");
	CHECK_STR(http_fake_request(7), "GET " MD "network/interfaces/macs/" MAC "/ipv6s\n"
					"X-aws-ec2-metadata-token: " TOKEN "\n");
	CHECK_STR(http_fake_request(8), "GET " MD "tags/instance/Name\n"
					"X-aws-ec2-metadata-token: " TOKEN "\n");
	CHECK_STR(inst.provider, "aws");
	CHECK_STR(inst.id, "i-0af01c0123456789a");
	CHECK_STR(inst.name, "i-0af01c0123456789a");
	CHECK_STR(inst.region, "eu-central-1");
	CHECK_STR(inst.private_net, "vpc-0123456789abcdef0");
	CHECK_STR(addr_fmt(&inst.wan4, a), "3.120.0.7");
	CHECK_STR(addr_fmt(&inst.lan4, a), "172.31.5.10");
	CHECK_INT(inst.wan6.family, 0);
	CHECK_STR(inst.origin.lan4, "IMDS /latest/meta-data/local-ipv4");
	CHECK_STR(inst.origin.private_net,
		  "IMDS /latest/meta-data/network/interfaces/macs/" MAC "/vpc-id");
	CHECK_STR(inst.origin.wan6, "");
}

/* A token that expires mid-fetch: the GET gets 401, a new PUT, the same GET again. */
static void test_token_expired(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	http_fake_push(0, 200, "i-0af01c0123456789a");
	http_fake_push(0, 401, NULL);
	http_fake_push(0, 200, "AQAEAFresh==\n");
	http_fake_push(0, 200, MAC);
	http_fake_push(0, 200, "172.31.5.10");
	http_fake_push(0, 404, NULL); /* public-ipv4 */
	http_fake_push(0, 200, "eu-central-1");
	http_fake_push(0, 200, "vpc-1");
	http_fake_push(0, 404, NULL);
	http_fake_push(0, 200, "web-1");
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 11);
	CHECK_STR(http_fake_request(3), "PUT http://169.254.169.254/latest/api/token\n"
					"X-aws-ec2-metadata-token-ttl-seconds: 300\n");
	CHECK_STR(http_fake_request(4), "GET " MD "mac\nX-aws-ec2-metadata-token: AQAEAFresh==\n");
	CHECK_STR(inst.name, "web-1");
	CHECK_INT(inst.wan4.family, 0);

	/* a second 401 right after a fresh token is an error, not a loop */
	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	http_fake_push(0, 401, NULL);
	http_fake_push(0, 200, TOKEN);
	http_fake_push(0, 401, NULL);
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -EACCES);
	CHECK_INT(http_fake_count(), 4);
	CHECK_STR(err, MD "instance-id: HTTP 401");
	CHECK(!strstr(err, "secret"));
}

static void test_errors(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	memset(&inst, 0x5a, sizeof(inst));
	cfg_init(&cfg, "http://md/", 5);
	/* IMDS turned off (HttpEndpoint disabled) answers the PUT with 403 */
	http_fake_reset();
	http_fake_push(0, 403, NULL);
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -EACCES);
	CHECK_STR(err, "http://md/latest/api/token: HTTP 403");

	http_fake_reset();
	http_fake_push(0, 200, "tok en");
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "http://md/latest/api/token: malformed token (Invalid argument)");

	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	http_fake_push(0, 200, "i-1");
	http_fake_push(0, 200, "0E:49:61:0F:C3:11");
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "http://md/latest/meta-data/mac: malformed MAC (Invalid argument)");

	/* a bad value is named with its URL and quoted */
	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	push_instance("<html>\n<body>", "vpc-1");
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "http://md/latest/meta-data/public-ipv4: malformed value "
		       "'<html>\\x0a<body>'");

	/* no answer to the PUT at all: the hop limit is the usual suspect */
	cfg_init(&cfg, "http://md/", 0);
	http_fake_reset();
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -ETIMEDOUT);
	CHECK_STR(err, "http://md/latest/api/token: fake: Connection refused (gave up after 0 s); "
		       "no IMDSv2 token: behind a bridge or in a container the PUT answer needs "
		       "HttpPutResponseHopLimit 2 or more");
	cfg_init(&cfg, "http://md/", 5);

	/* instance-id is never 404 on EC2 */
	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	http_fake_push(0, 404, NULL);
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -ENOENT);
	CHECK_STR(err, "http://md/latest/meta-data/instance-id: HTTP 404");
	CHECK(inst.id[0] == 0x5a);
}

/* The IPv4 address silent (hop limit, firewall): the IPv6 endpoint answers and is kept. */
static void test_ipv6_fallback(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(-ETIMEDOUT, 0, NULL);
	http_fake_push(0, 200, TOKEN);
	push_instance("3.120.0.7", NULL);
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK(!strncmp(http_fake_request(0), "PUT http://169.254.169.254/latest/api/token\n", 44));
	CHECK(!strncmp(http_fake_request(1), "PUT http://[fd00:ec2::254]/latest/api/token\n", 44));
	CHECK(!strncmp(http_fake_request(2), "GET http://[fd00:ec2::254]/latest/meta-data/", 44));
	/* no VPC: the private address is no LAN */
	CHECK_INT(inst.lan4.family, 0);
	CHECK_STR(inst.private_net, "");
}

/* No address to publish yet (a public IP is attached after boot): read again with the same token
 * until there is one; at the deadline, one line naming what was sought. */
static void test_no_usable_address(void)
{
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";

	cfg_init(&cfg, "", 5);
	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	push_instance(NULL, NULL);
	push_instance("3.120.0.7", NULL);
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), 0);
	CHECK_INT(http_fake_count(), 1 + 2 * (MD_AWS_N_ITEMS - 1));
	CHECK(!strncmp(http_fake_request(MD_AWS_N_ITEMS), "GET " MD "instance-id\n", 48));
	CHECK_STR(inst.origin.wan4, "IMDS /latest/meta-data/public-ipv4");

	cfg_init(&cfg, "", 0);
	memset(&inst, 0x5a, sizeof(inst));
	http_fake_reset();
	http_fake_push(0, 200, TOKEN);
	push_instance("169.254.7.7", NULL);
	CHECK_INT(md_aws.fetch(&cfg, &inst, err, sizeof(err)), -ENODATA);
	CHECK_STR(err, MD ": no usable address after 0 s: no public-ipv4, no address in ipv6s, "
			  "no local-ipv4 in a VPC; refused IMDS /latest/meta-data/public-ipv4 "
			  "169.254.7.7/32: link-local");
	CHECK(inst.id[0] == 0x5a);
}

static void test_oversize(void)
{
	struct md_doc items[MD_AWS_N_ITEMS] = {{0}};
	struct md_instance inst;
	char tok[64], *big = malloc(MD_MAX_BODY + 1);

	CHECK(big != NULL);
	if (!big)
		return;
	memset(big, 'a', MD_MAX_BODY + 1);
	CHECK_INT(md_aws_parse_token(big, MD_MAX_BODY + 1, tok, sizeof(tok)), -EMSGSIZE);
	items[MD_AWS_INSTANCE_ID] = (struct md_doc){big, MD_MAX_BODY + 1};
	items[MD_AWS_MAC] = (struct md_doc){MAC, 17};
	CHECK_INT(md_aws_parse(items, &inst, NULL), -EMSGSIZE);
	CHECK_INT(md_aws_parse_token("", 0, tok, sizeof(tok)), -EINVAL);
	CHECK_INT(md_aws_parse_token("\n", 1, tok, sizeof(tok)), -EINVAL);
	free(big);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	if (!text)
		return;
	f = fopen(path, "we");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* <root>/class/dmi/id/{sys_vendor,board_asset_tag,product_uuid} */
static void make_dmi(const char *root, const char *vendor, const char *tag, const char *uuid)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/class/dmi/id", root);
	if (access(path, F_OK)) {
		snprintf(path, sizeof(path), "%s/class", root);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/class/dmi", root);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/class/dmi/id", root);
		mkdir(path, 0755);
	}
	write_file(path, "sys_vendor", vendor);
	write_file(path, "board_asset_tag", tag);
	write_file(path, "product_uuid", uuid);
}

static void test_detect(void)
{
	char root[] = "/tmp/test-metadata-aws-XXXXXX", path[512];
	struct config cfg;

	CHECK(mkdtemp(root) != NULL);
	CHECK(!md_aws.detect(root));
	make_dmi(root, "Amazon EC2\n", NULL, NULL);
	CHECK(md_aws.detect(root));
	CHECK(!md_linode.detect(root) && !md_vultr.detect(root));
	cfg_init(&cfg, "", 1);
	CHECK(md_provider_select(&cfg, root) == &md_aws);
	snprintf(cfg.provider, sizeof(cfg.provider), "aws");
	CHECK(md_provider_select(&cfg, "/nonexistent") == &md_aws);
	/* Nitro asset tag = instance id */
	make_dmi(root, "Other\n", "i-0af01c0123456789a\n", NULL);
	CHECK(md_aws.detect(root));
	make_dmi(root, "Other\n", "i-\n", NULL);
	CHECK(!md_aws.detect(root));
	make_dmi(root, "Other\n", "i-0af01c01\n", NULL);
	CHECK(md_aws.detect(root));
	make_dmi(root, "Other\n", "i-0AF01C0123456789A\n", NULL);
	CHECK(!md_aws.detect(root));
	make_dmi(root, "Other\n", "i-inventory\n", NULL);
	CHECK(!md_aws.detect(root));
	/* Xen HVM: "Xen" vendor, the UUID in either byte order (AWS identify_ec2_instances) */
	make_dmi(root, "Xen\n", NULL, "ec2e1916-9099-7caf-fd21-012345abcdef\n");
	CHECK(md_aws.detect(root));
	make_dmi(root, "Xen\n", NULL, "EC2E1916-9099-7CAF-FD21-012345ABCDEF\n");
	CHECK(md_aws.detect(root));
	make_dmi(root, "Xen\n", NULL, "45E12AEC-DCD1-B213-94ED-012345ABCDEF\n");
	CHECK(md_aws.detect(root));
	make_dmi(root, "Xen\n", NULL, "45E12AED-DCD1-B213-94ED-012345ABCDEF\n");
	CHECK(!md_aws.detect(root));
	make_dmi(root, "QEMU\n", NULL, "3f2c9b1e-0d7a-4c55-9a61-0b1e2d3c4f5a\n");
	CHECK(!md_aws.detect(root));
	make_dmi(root, NULL, NULL, NULL);
	snprintf(path, sizeof(path), "%s/class/dmi/id", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/class/dmi", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/class", root);
	rmdir(path);
	rmdir(root);
}

int main(void)
{
	RUN(test_fetch);
	RUN(test_token_expired);
	RUN(test_errors);
	RUN(test_ipv6_fallback);
	RUN(test_no_usable_address);
	RUN(test_oversize);
	RUN(test_detect);
	return test_exit();
}

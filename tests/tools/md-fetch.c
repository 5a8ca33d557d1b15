/*
 * md-fetch: runs one metadata provider and prints the md_instance as key=value lines, for
 * tests/e2e/test-metadata-fetch.sh. The config is filled from argv by hand (not config.c) so
 * the test exercises only the providers.
 *
 *   md-fetch [--provider auto|NAME] [--url URL] [--timeout S] [--sysfs DIR]
 *            [--instance-id ID] [--name N] [--region R] [--wan4 A] [--wan6 A] [--lan4 A]
 *            [--debug]
 * Exit: 0 ok, 64 usage, 69 fetch failed (the one-line reason on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bootstrap/config.h"
#include "../../bootstrap/http.h"
#include "../../bootstrap/log.h"
#include "../../metadata/provider.h"

static int set_str(char *dst, size_t len, const char *v)
{
	if (strlen(v) >= len)
		return -EINVAL;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_provider(struct config *cfg, const char *v)
{
	if (strcmp(v, "auto") && !md_provider_find(v))
		return -EINVAL;
	return set_str(cfg->provider, sizeof(cfg->provider), v);
}

static int set_timeout(struct config *cfg, const char *v)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || !*v || *end || n > 86400)
		return -EINVAL;
	cfg->metadata_timeout = n;
	return 0;
}

static int parse_args(int argc, char **argv, struct config *cfg, const char **sysfs)
{
	static const struct option opts[] = {
		{"provider", required_argument, NULL, 'p'},
		{"url", required_argument, NULL, 'u'},
		{"timeout", required_argument, NULL, 't'},
		{"sysfs", required_argument, NULL, 's'},
		{"instance-id", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"region", required_argument, NULL, 'r'},
		{"wan4", required_argument, NULL, '4'},
		{"wan6", required_argument, NULL, '6'},
		{"lan4", required_argument, NULL, 'l'},
		{"debug", no_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	int c, r = 0;

	while (!r && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			r = set_provider(cfg, optarg);
			break;
		case 'u':
			r = set_str(cfg->metadata_url, sizeof(cfg->metadata_url), optarg);
			break;
		case 't':
			r = set_timeout(cfg, optarg);
			break;
		case 's':
			*sysfs = optarg;
			break;
		case 'i':
			r = set_str(cfg->instance_id, sizeof(cfg->instance_id), optarg);
			break;
		case 'n':
			r = set_str(cfg->name, sizeof(cfg->name), optarg);
			break;
		case 'r':
			r = set_str(cfg->region, sizeof(cfg->region), optarg);
			break;
		case '4':
			r = addr_parse(optarg, &cfg->wan_ipv4);
			break;
		case '6':
			r = addr_parse(optarg, &cfg->wan_ipv6);
			break;
		case 'l':
			r = addr_parse(optarg, &cfg->lan_ipv4);
			break;
		case 'd':
			log_init(LOG_LEVEL_DEBUG);
			break;
		default:
			r = -EINVAL;
		}
	}
	if (!r && optind != argc)
		r = -EINVAL;
	return r;
}

static void print_instance(const struct md_instance *m)
{
	char w4[ADDR_STRLEN] = "", w6[ADDR_STRLEN] = "", l4[ADDR_STRLEN] = "";

	if (m->wan4.family)
		addr_fmt(&m->wan4, w4);
	if (m->wan6.family)
		addr_fmt(&m->wan6, w6);
	if (m->lan4.family)
		addr_fmt(&m->lan4, l4);
	printf("provider=%s\nid=%s\nname=%s\nregion=%s\nprivate_net=%s\nwan4=%s\nwan6=%s\n"
	       "lan4=%s\n",
	       m->provider, m->id, m->name, m->region, m->private_net, w4, w6, l4);
}

int main(int argc, char **argv)
{
	const struct md_provider *p;
	const char *sysfs = "/sys";
	struct md_instance inst;
	struct config cfg;
	char err[512] = "";
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.metadata_timeout = 10;
	log_init(LOG_LEVEL_QUIET);
	if (parse_args(argc, argv, &cfg, &sysfs) < 0) {
		fprintf(stderr, "usage: md-fetch [--provider P] [--url URL] [--timeout S] "
				"[--sysfs DIR] [--instance-id ID] [--name N] [--region R] "
				"[--wan4 A] [--wan6 A] [--lan4 A] [--debug]\n");
		return 64;
	}
	p = md_provider_select(&cfg, sysfs);
	if (!p) {
		fprintf(stderr, "error: no provider detected under %s\n", sysfs);
		return 69;
	}
	r = http_global_init();
	if (r < 0) {
		fprintf(stderr, "error: http_global_init: %s\n", strerror(-r));
		return 69;
	}
	r = p->fetch(&cfg, &inst, err, sizeof(err));
	http_global_cleanup();
	if (r < 0) {
		fprintf(stderr, "error: %s: %s (%s)\n", p->name, err, strerror(-r));
		return 69;
	}
	md_apply_overrides(&cfg, &inst);
	print_instance(&inst);
	return 0;
}

/*
 * Cloud instance metadata: one provider per file, each a cheap offline detect(), a fetch() that
 * does the HTTP dance, and pure parse functions (shared/DESIGN.md 2; STYLE.md 4, 12).
 */
#ifndef CLIQUE_PROVIDER_H
#define CLIQUE_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include "../bootstrap/addr.h"

struct config;

/* Where a field of md_instance came from, for `--dry-run --json` and error messages: the
 * document and the JSON path in it ("/v1/network ipv4.vpc[0].address"), or "config wan_ipv4"
 * for an override; "" when the field is empty. Printable ASCII built from our own format
 * strings, indexes and inet_ntop output only: no text from the document. */
#define MD_ORIGIN_MAX 112
struct md_origin {
	char region[MD_ORIGIN_MAX];
	char private_net[MD_ORIGIN_MAX];
	char wan4[MD_ORIGIN_MAX];
	char wan6[MD_ORIGIN_MAX];
	char lan4[MD_ORIGIN_MAX];
	/* the first address the document offered and we refused, and why ("/v1/network
	 * ipv6.slaac 2001:db8::/64: a network prefix, not a host"): for the error when nothing
	 * usable is left */
	char refused[2 * MD_ORIGIN_MAX];
};

/* Validated, fixed-size, no pointers into JSON. Every string is printable ASCII without
 * newlines, '[', ']', '=', '"' or '\\' (it may end up in logs, records and unit files). */
struct md_instance {
	char provider[16];    /* the md_providers[] name: "linode", "vultr", ... */
	char id[64];	      /* Linode numeric id / Vultr instance-v2-id / config instance_id */
	char name[256];	      /* label / hostname: Linode labels are 64, Vultr FQDNs longer */
	char region[64];      /* lower case: "ap-south", "sgp" */
	char private_net[64]; /* VLAN label, VPC id, network_id, "subnet-<net>-<len>"; "" = none */
	struct ip_addr wan4;  /* family 0 = none */
	struct ip_addr wan6;
	struct ip_addr lan4;
	struct md_origin origin;
};

struct md_provider {
	const char *name;
	/* Offline: DMI sys_vendor under sysfs_root ("/sys" normally). */
	bool (*detect)(const char *sysfs_root);
	/*
	 * Fetches and parses, retrying with backoff until cfg->metadata_timeout. base_url is
	 * cfg->metadata_url or the provider default. On failure ret_err (may be NULL) gets a one-line
	 * reason with the URL and the last error.
	 */
	int (*fetch)(const struct config *cfg, struct md_instance *ret, char *ret_err,
		     size_t errlen);
};

extern const struct md_provider md_linode, md_vultr, md_digitalocean, md_hetzner, md_aws, md_static;
/* NULL-terminated, in detection order; md_static is last and never auto-detected. */
extern const struct md_provider *const md_providers[];

/* The entry of md_providers[] with this name (exact, lower case); NULL when none. */
const struct md_provider *md_provider_find(const char *name);
/* "linode, vultr, ..., static": the table's names for messages; truncated to len. */
const char *md_provider_names(char *buf, size_t len);
/* The provider named by cfg->provider, else ("auto") the first whose detect() matches; NULL
 * when nothing matches. */
const struct md_provider *md_provider_select(const struct config *cfg, const char *sysfs_root);
/* Applies the config overrides (instance_id, name, region, wan_ipv4, wan_ipv6, lan_ipv4). */
void md_apply_overrides(const struct config *cfg, struct md_instance *inst);

/* Pure parsers: -EINVAL (or -EBADMSG for non-JSON) on anything malformed; *ret only on success. */
int md_linode_parse_token(const char *buf, size_t len, char *ret_token, size_t tokenlen);
int md_linode_parse_instance(const char *buf, size_t len, struct md_instance *ret);
/* Fills the address fields and private_net of an instance already holding parse_instance's. */
int md_linode_parse_network(const char *buf, size_t len, struct md_instance *inout);
int md_vultr_parse(const char *buf, size_t len, struct md_instance *ret);
/* DigitalOcean /metadata/v1.json. */
int md_digitalocean_parse(const char *buf, size_t len, struct md_instance *ret);

/* Hetzner Cloud: the documents GET /hetzner/v1/metadata/<md_hetzner_docs[i]>, in this order. */
enum md_hetzner_doc {
	MD_HETZNER_INSTANCE_ID,
	MD_HETZNER_HOSTNAME,
	MD_HETZNER_REGION,
	MD_HETZNER_PUBLIC_IPV4,
	MD_HETZNER_NETWORK_CONFIG,   /* YAML, cloud-init network config v1 */
	MD_HETZNER_PRIVATE_NETWORKS, /* YAML list */
	MD_HETZNER_N_DOCS,
};
extern const char *const md_hetzner_docs[MD_HETZNER_N_DOCS];
/* A document as served; data NULL when the service answered 404 (absent). */
struct md_doc {
	const char *data;
	size_t len;
};
/* Pure; on failure *ret_bad (may be NULL) names the malformed document. */
int md_hetzner_parse(const struct md_doc docs[MD_HETZNER_N_DOCS], struct md_instance *ret,
		     enum md_hetzner_doc *ret_bad);

/* The IMDS values the aws provider reads, each one GET under /latest/meta-data/. */
enum md_aws_item {
	MD_AWS_INSTANCE_ID,
	MD_AWS_MAC,
	MD_AWS_LOCAL_IPV4,
	MD_AWS_PUBLIC_IPV4,
	MD_AWS_REGION,
	MD_AWS_AZ,
	MD_AWS_VPC_ID,
	MD_AWS_IPV6S,
	MD_AWS_NAME_TAG,
	MD_AWS_N_ITEMS,
};
/* Paths relative to /latest/meta-data/; "%s" stands for the MAC (md_aws_parse_mac). */
extern const char *const md_aws_paths[MD_AWS_N_ITEMS];
int md_aws_parse_token(const char *buf, size_t len, char *ret_token, size_t tokenlen);
int md_aws_parse_mac(const char *buf, size_t len, char *ret_mac, size_t maclen);
/* instance-id, mac and a region (placement/region, else derived from a plain AZ) are required;
 * a 404 elsewhere means "none". On failure *ret_bad (may be NULL) names the item at fault. */
int md_aws_parse(const struct md_doc items[MD_AWS_N_ITEMS], struct md_instance *ret,
		 enum md_aws_item *ret_bad);

#endif

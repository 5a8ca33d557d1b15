/*
 * /etc/clique/clique.conf: "key = value" lines, '#' comments, CLIQUE_<KEY> environment overrides
 * (env wins), "<key>_file" variants for secrets. Key names are a contract (shared/DESIGN.md 3).
 */
#ifndef CLIQUE_CONFIG_H
#define CLIQUE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define CONFIG_DEFAULT_PATH "/etc/clique/clique.conf"
#define CONFIG_PATH_MAX 256
/* Where ca-certificates keeps the bundle on Debian 11-13 and Ubuntu 20.04-24.04 alike
 * (update-ca-certificates(8)): the default of ca_file for https endpoints. */
#define CONFIG_CA_FILE_DEFAULT "/etc/ssl/certs/ca-certificates.crt"

enum config_backend {
	CONFIG_BACKEND_AUTO,
	CONFIG_BACKEND_KERNEL,
	CONFIG_BACKEND_USERSPACE,
};

struct config {
	/* bucket */
	char bucket_endpoint
		[256]; /* "http://127.0.0.1:7480" or "https://us-east-1.linodeobjects.com" */
	char bucket[64];
	char bucket_region[32];	  /* SigV4 scope region; default "us-east-1" */
	uint32_t bucket_parallel; /* GETs in flight (curl multi); default 16 */
	uint32_t bucket_timeout;  /* seconds for all bucket requests of a run; 0 = no limit */
	char access_key[128];
	char secret_key[128];	       /* secret: wiped by config_wipe() */
	char ca_file[CONFIG_PATH_MAX]; /* PEM CA bundle for https; "" = none needed (http) */
	char prefix[128]; /* object name prefix, "" or ending in '/'; default "clique/" */
	/* mesh */
	uint8_t mesh_key[32]; /* secret */
	bool has_mesh_key;
	struct ip_prefix network; /* default 10.15.0.0/16 */
	bool address_auto;
	struct ip_addr address;		     /* explicit address (family 0 when auto) */
	struct ip_addr pool_start, pool_end; /* default: the network minus network/broadcast */
	bool has_pool;			     /* pool set explicitly (else follows network) */
	char interface[16];		     /* default "wg0"; validated as an ifname */
	uint16_t listen_port;		     /* default 51871 */
	uint32_t mtu;			     /* 0 = kernel default (1420) */
	uint16_t keepalive;		     /* seconds, 0 = off; default 25 */
	char provider[16]; /* "auto" or the name of an entry of md_providers[] (provider.h) */
	char zone[128];	   /* "" = derived from provider/region[/private-net] */
	enum config_backend backend;
	char userspace_command[CONFIG_PATH_MAX]; /* default "wireguard-go" */
	char networkd_dir[CONFIG_PATH_MAX];	 /* default /etc/systemd/network */
	char state_dir[CONFIG_PATH_MAX];	 /* default /var/lib/clique-boot */
	char metadata_url[256];			 /* "" = provider default */
	uint32_t metadata_timeout;		 /* seconds; default 120 */
	uint32_t expire_after;			 /* seconds; 0 = never */
	/* provider = static, or overrides for any provider ("" / family 0 = unset) */
	char instance_id[64];
	char name[256];
	char region[64];
	struct ip_addr wan_ipv4, wan_ipv6, lan_ipv4;
	/* "<key>_file" paths, read by config_load() */
	char access_key_file[CONFIG_PATH_MAX];
	char secret_key_file[CONFIG_PATH_MAX];
	char mesh_key_file[CONFIG_PATH_MAX];
	/* CONFIG_INSECURE_* bits: files holding secrets that others can read (main.c warns) */
	unsigned insecure_files;
	/* first CLIQUE_* variable that names no key, "" if none (ignored; main.c warns) */
	char env_unknown[64];
	/* command line only */
	char root[CONFIG_PATH_MAX]; /* --root: prefix of every path written */
};

/* Files holding secrets with any "other" permission bit (networkd's own rule, S_IRWXO). */
enum config_insecure {
	CONFIG_INSECURE_CONFIG = 1 << 0, /* the config file, when it holds a secret inline */
	CONFIG_INSECURE_ACCESS_KEY_FILE = 1 << 1,
	CONFIG_INSECURE_SECRET_KEY_FILE = 1 << 2,
	CONFIG_INSECURE_MESH_KEY_FILE = 1 << 3,
};

/* First error wins; line is 0 for errors not tied to a line (env, missing key). */
struct config_error {
	unsigned line;
	char text[256]; /* never contains a secret value */
};

void config_init(struct config *cfg);
/*
 * Pure: applies the lines of buf to cfg. Accepts CRLF. Unknown key, bad value or a duplicate
 * key is -EINVAL with err filled ("line 7: unknown key 'foo'").
 * "<key>_file" keys for secret_key, access_key and mesh_key are recorded as paths and read by
 * config_load_secrets().
 */
int config_parse(struct config *cfg, const char *buf, size_t len, const char *source,
		 struct config_error *err);
/* Sets one key from a string value (used by config_parse and the environment). */
int config_set(struct config *cfg, const char *key, const char *value, struct config_error *err);
/* Applies CLIQUE_<KEY> variables from envp (NULL-terminated); unknown ones are skipped and
 * the first is named in cfg->env_unknown. */
int config_apply_env(struct config *cfg, char *const *envp, struct config_error *err);
/* Reads the "<key>_file" paths into their keys (one trailing newline trimmed); sets
 * cfg->insecure_files for files others can read. */
int config_load_secrets(struct config *cfg, struct config_error *err);
/* Reads the file (missing file: -ENOENT, err->text left empty), then env, then *_file
 * secrets, then config_check(), then checks that ca_file is a readable file. cfg must have been set up with config_init() (and root). */
int config_load(struct config *cfg, const char *path, char *const *envp, struct config_error *err);
/* Cross-field checks after everything is applied (required keys, address inside network ...).
 * An https endpoint without ca_file gets CONFIG_CA_FILE_DEFAULT. */
int config_check(struct config *cfg, struct config_error *err);
/* Path under --root: out = root + path. With a root, path must be absolute and free of ".."
 * components (-EINVAL); -ENAMETOOLONG when out is too small. */
int config_path(const struct config *cfg, const char *path, char *out, size_t outlen);
void config_wipe(struct config *cfg);

#endif

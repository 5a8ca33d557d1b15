#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../../bootstrap/config.h"
#include "test.h"

#define MESH_KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define FIX "tests/fixtures/config/"

struct kv {
	const char *key, *value;
};

static const struct kv good[] = {
	{"bucket_endpoint", "https://us-east-1.linodeobjects.com"},
	{"bucket_endpoint", "http://127.0.0.1:7480"},
	{"bucket_endpoint", "http://[::1]:7480/"},
	{"bucket", "clique-mesh.v1"},
	{"bucket_region", "us-east-1"},
	{"access_key", "AKIA0123"},
	{"secret_key", "abc/def+ghi="},
	{"prefix", ""},
	{"prefix", "clique/"},
	{"prefix", "a/b"},
	{"mesh_key", MESH_KEY_B64},
	{"network", "10.15.0.0/16"},
	{"network", "192.168.7.0/24"},
	{"network", "10.0.0.0/30"},
	{"address", "auto"},
	{"address", "10.15.0.3"},
	{"pool", "10.15.2.1-10.15.2.254"},
	{"pool", "10.15.0.9-10.15.0.9"},
	{"interface", "wg0"},
	{"interface", "clique_mesh.1-"},
	{"interface", "abcdefghijklmno"},
	{"listen_port", "1"},
	{"listen_port", "65535"},
	{"bucket_parallel", "1"},
	{"bucket_parallel", "64"},
	{"mtu", "0"},
	{"mtu", "1280"},
	{"mtu", "9000"},
	{"keepalive", "0"},
	{"keepalive", "65535"},
	{"provider", "auto"},
	{"provider", "linode"},
	{"provider", "vultr"},
	{"provider", "static"},
	{"zone", ""},
	{"zone", "linode/ap-south/vlan 1"},
	{"backend", "auto"},
	{"backend", "kernel"},
	{"backend", "userspace"},
	{"userspace_command", "wireguard-go"},
	{"userspace_command", "/usr/local/bin/boringtun-cli"},
	{"networkd_dir", "/run/systemd/network"},
	{"state_dir", "/var/lib/clique-boot"},
	{"metadata_url", ""},
	{"metadata_url", "http://169.254.169.254"},
	{"metadata_url", "http://127.0.0.1:8080/v1/"},
	{"metadata_timeout", "0"},
	{"metadata_timeout", "1d"},
	{"expire_after", "0"},
	{"expire_after", "3600"},
	{"expire_after", "90m"},
	{"expire_after", "49710d"},
	{"instance_id", "12345"},
	{"instance_id", ""},
	{"name", "vultr-node-1"},
	{"region", "sgp"},
	{"wan_ipv4", "203.0.113.7"},
	{"wan_ipv4", ""},
	{"wan_ipv6", "2001:db8::7"},
	{"lan_ipv4", "192.168.128.7"},
	{"access_key_file", "/etc/clique/access_key"},
	{"secret_key_file", "/etc/clique/secret_key"},
	{"mesh_key_file", "/etc/clique/mesh_key"},
	{"ca_file", "/etc/pki/tls/certs/ca-bundle.crt"},
};

static const struct kv bad[] = {
	{"ca_file", ""},
	{"ca_file", "certs/ca.pem"},
	{"ca_file", "/etc/../ca.pem"},
	{"bucket_endpoint", ""},
	{"bucket_endpoint", "ftp://host"},
	{"bucket_endpoint", "https://"},
	{"bucket_endpoint", "https://host/path"},
	{"bucket_endpoint", "https://user@host"},
	{"bucket_endpoint", "https://host:0"},
	{"bucket_endpoint", "https://host:65536"},
	{"bucket_endpoint", "https://[::1"},
	{"bucket_endpoint", "https://ho st"},
	{"bucket", ""},
	{"bucket", "a/b"},
	{"bucket", "a b"},
	{"bucket", "0123456789012345678901234567890123456789012345678901234567890123"},
	{"bucket_region", "us east"},
	{"access_key", ""},
	{"access_key", "with space"},
	{"secret_key", "back\\slash"},
	{"prefix", "/abs/"},
	{"prefix", "a//b"},
	{"prefix", "../x"},
	{"prefix", "a/../b"},
	{"prefix", "a/./b"},
	{"prefix", "a?b"},
	{"mesh_key", ""},
	{"mesh_key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh=="},
	{"mesh_key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"},
	{"mesh_key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9="},
	{"mesh_key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8AAQ=="},
	{"network", "10.15.0.0"},
	{"network", "10.15.0.3/16"},
	{"network", "10.15.0.0/31"},
	{"network", "10.15.0.0/0"},
	{"network", "fd00::/64"},
	{"network", "10.15.0.0/33"},
	{"network", "auto"},
	{"address", "fd00::1"},
	{"address", "10.15.0.3/16"},
	{"address", "AUTO"},
	{"address", ""},
	{"pool", "10.15.2.9"},
	{"pool", "10.15.2.9-10.15.2.1"},
	{"pool", "10.15.2.1-fd00::1"},
	{"pool", "10.15.2.1 - 10.15.2.9"},
	{"interface", ""},
	{"interface", "abcdefghijklmnop"},
	{"interface", "wg/0"},
	{"interface", "wg 0"},
	{"interface", "wg:0"},
	{"interface", ".."},
	{"listen_port", "0"},
	{"listen_port", "65536"},
	{"bucket_parallel", "0"},
	{"bucket_parallel", "65"},
	{"listen_port", "abc"},
	{"listen_port", "-1"},
	{"listen_port", "+5"},
	{"listen_port", "51871x"},
	{"listen_port", "99999999999999999999"},
	{"mtu", "1279"},
	{"mtu", "9001"},
	{"mtu", "1"},
	{"keepalive", "65536"},
	{"keepalive", "25s"},
	{"provider", "gce"},
	{"provider", ""},
	{"provider", "Linode"},
	{"zone", "a\\b"},
	{"zone", "a=b"},
	{"zone", "[zone]"},
	{"zone", "a#b"},
	{"zone", "caf\xc3\xa9"},
	{"backend", "wireguard-go"},
	{"userspace_command", "wireguard-go -f"},
	{"userspace_command", "a;b"},
	{"userspace_command", ""},
	{"networkd_dir", "etc/systemd/network"},
	{"networkd_dir", "/etc/../tmp"},
	{"state_dir", ""},
	{"metadata_url", "169.254.169.254"},
	{"metadata_url", "http://host/a b"},
	{"metadata_timeout", "2d"},
	{"metadata_timeout", "10x"},
	{"metadata_timeout", "s"},
	{"expire_after", "-1"},
	{"expire_after", "49711d"},
	{"expire_after", "1w"},
	{"expire_after", "4294967296"},
	{"instance_id", "a;b"},
	{"name", "host]name"},
	{"region", "ap south;"},
	{"wan_ipv4", "2001:db8::1"},
	{"wan_ipv4", "203.0.113.300"},
	{"wan_ipv6", "203.0.113.7"},
	{"lan_ipv4", "192.168.0.1/24"},
	{"access_key_file", "relative/path"},
	{"secret_key_file", "relative/secret"},
	{"secret_key_file", ""},
	{"mesh_key_file", ""},
	{"zone", "quoted \"zone\""},
	{"name", "tab\there"},
};

static void test_good_values(void)
{
	struct config_error err;
	struct config cfg;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		config_init(&cfg);
		memset(&err, 0, sizeof(err));
		if (config_set(&cfg, good[i].key, good[i].value, &err) != 0) {
			fprintf(stderr, "  %s = '%s': %s\n", good[i].key, good[i].value, err.text);
			test_failures++;
		}
	}
}

static bool is_secret(const char *key)
{
	return !strcmp(key, "mesh_key") || !strcmp(key, "secret_key") || !strcmp(key, "access_key");
}

static void test_bad_values(void)
{
	struct config_error err;
	struct config cfg;
	char want[64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init(&cfg);
		memset(&err, 0, sizeof(err));
		if (config_set(&cfg, bad[i].key, bad[i].value, &err) != -EINVAL) {
			fprintf(stderr, "  accepted %s = '%s'\n", bad[i].key, bad[i].value);
			test_failures++;
			continue;
		}
		snprintf(want, sizeof(want), "bad value for %s", bad[i].key);
		CHECK(strstr(err.text, want) != NULL);
		if (is_secret(bad[i].key) && strlen(bad[i].value) > 3)
			CHECK(strstr(err.text, bad[i].value) == NULL);
	}
}

static void test_defaults(void)
{
	struct config cfg;
	char a[ADDR_STRLEN];

	config_init(&cfg);
	CHECK_STR(addr_fmt(&cfg.network.addr, a), "10.15.0.0");
	CHECK_INT(cfg.network.len, 16);
	CHECK_STR(addr_fmt(&cfg.pool_start, a), "10.15.0.1");
	CHECK_STR(addr_fmt(&cfg.pool_end, a), "10.15.255.254");
	CHECK(cfg.address_auto);
	CHECK_STR(cfg.interface, "wg0");
	CHECK_INT(cfg.listen_port, 51871);
	CHECK_INT(cfg.bucket_parallel, 16);
	CHECK_INT(cfg.keepalive, 25);
	CHECK_INT(cfg.mtu, 0);
	CHECK_STR(cfg.prefix, "clique/");
	CHECK_STR(cfg.bucket_region, "us-east-1");
	CHECK_STR(cfg.userspace_command, "wireguard-go");
	CHECK_STR(cfg.networkd_dir, "/etc/systemd/network");
	CHECK_STR(cfg.state_dir, "/var/lib/clique-boot");
	CHECK_INT(cfg.metadata_timeout, 120);
	CHECK_INT(cfg.expire_after, 0);
	CHECK_STR(cfg.provider, "auto");
	CHECK_INT(cfg.backend, CONFIG_BACKEND_AUTO);
}

static int read_fixture(const char *path, char *buf, size_t size, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (!f)
		return -errno;
	*len = fread(buf, 1, size, f);
	fclose(f);
	return 0;
}

static void check_full(const struct config *cfg)
{
	char a[ADDR_STRLEN], b[ADDR_STRLEN];
	int i;

	CHECK_STR(cfg->bucket_endpoint, "https://ap-south-1.linodeobjects.com");
	CHECK_STR(cfg->bucket, "clique-mesh");
	CHECK_STR(cfg->bucket_region, "ap-south-1");
	CHECK_STR(cfg->access_key, "AKIAEXAMPLEACCESS");
	CHECK_STR(cfg->secret_key, "s3cr3t/Example+Key");
	CHECK_STR(cfg->prefix, "fleet/a/");
	CHECK(cfg->has_mesh_key);
	for (i = 0; i < 32; i++)
		CHECK_INT(cfg->mesh_key[i], i);
	CHECK(!cfg->address_auto);
	CHECK_STR(addr_fmt(&cfg->address, a), "10.15.0.3");
	CHECK_STR(addr_fmt(&cfg->pool_start, a), "10.15.2.1");
	CHECK_STR(addr_fmt(&cfg->pool_end, b), "10.15.2.254");
	CHECK_STR(cfg->interface, "wg-mesh");
	CHECK_INT(cfg->listen_port, 51820);
	CHECK_INT(cfg->mtu, 1380);
	CHECK_INT(cfg->keepalive, 0);
	CHECK_STR(cfg->provider, "static");
	CHECK_STR(cfg->zone, "linode/ap-south/vlan1");
	CHECK_INT(cfg->backend, CONFIG_BACKEND_USERSPACE);
	CHECK_STR(cfg->userspace_command, "/usr/bin/wireguard-go");
	CHECK_STR(cfg->networkd_dir, "/etc/systemd/network");
	CHECK_STR(cfg->metadata_url, "http://169.254.169.254/v1");
	CHECK_INT(cfg->metadata_timeout, 120);
	CHECK_INT(cfg->expire_after, 7 * 86400);
	CHECK_STR(cfg->instance_id, "12345678");
	CHECK_STR(cfg->name, "linode-node-1");
	CHECK_STR(cfg->region, "ap-south");
	CHECK_STR(addr_fmt(&cfg->wan_ipv4, a), "203.0.113.10");
	CHECK_STR(addr_fmt(&cfg->wan_ipv6, a), "2001:db8::10");
	CHECK_STR(addr_fmt(&cfg->lan_ipv4, a), "192.168.128.10");
}

static void test_full_file(void)
{
	struct config_error err = {0};
	struct config cfg;
	char buf[4096], crlf[8192];
	size_t len = 0, i, n = 0;

	CHECK_INT(read_fixture(FIX "full/clique.conf", buf, sizeof(buf), &len), 0);
	config_init(&cfg);
	CHECK_INT(config_parse(&cfg, buf, len, "full", &err), 0);
	CHECK_INT(config_check(&cfg, &err), 0);
	check_full(&cfg);

	/* The same file with CRLF line ends, as Windows-edited Terraform templates produce. */
	for (i = 0; i < len; i++) {
		if (buf[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = buf[i];
	}
	config_init(&cfg);
	CHECK_INT(config_parse(&cfg, crlf, n, "full", &err), 0);
	check_full(&cfg);
	config_wipe(&cfg);
	CHECK(!cfg.has_mesh_key && !cfg.secret_key[0] && sodium_is_zero(cfg.mesh_key, 32));
}

/* The smallest valid config: the five required keys, defaults for the rest. */
static void test_minimal_file(void)
{
	struct config_error err = {0};
	struct config cfg;

	config_init(&cfg);
	CHECK_INT(config_load(&cfg, FIX "minimal/clique.conf", NULL, &err), 0);
	CHECK_STR(cfg.bucket_endpoint, "http://127.0.0.1:7480");
	CHECK(cfg.has_mesh_key && cfg.address_auto);
	CHECK_INT(cfg.listen_port, 51871);
	config_wipe(&cfg);
}

static int parse_text(const char *text, struct config_error *err)
{
	struct config cfg;

	config_init(&cfg);
	memset(err, 0, sizeof(*err));
	return config_parse(&cfg, text, strlen(text), "t", err);
}

static void test_line_errors(void)
{
	struct config_error err;

	CHECK_INT(parse_text("# c\n\nbucket = b\n  # indented comment\nfoo = 1\n", &err), -EINVAL);
	CHECK_INT(err.line, 5);
	CHECK_STR(err.text, "line 5: unknown key 'foo'");

	CHECK_INT(parse_text("bucket = b\n\n\n\n\n\nlisten_port = abc\n", &err), -EINVAL);
	CHECK_INT(err.line, 7);
	CHECK(!strncmp(err.text, "line 7: bad value for listen_port: 'abc'", 40));

	/* the expected values come from the provider table (metadata/providers.c) */
	CHECK_INT(parse_text("provider = gce\n", &err), -EINVAL);
	CHECK_STR(err.text, "line 1: bad value for provider: 'gce' (expected auto or one of "
			    "linode, vultr, digitalocean, hetzner, aws, static)");

	CHECK_INT(parse_text("bucket = b\r\nbucket = c\r\n", &err), -EINVAL);
	CHECK_INT(err.line, 2);
	CHECK(strstr(err.text, "duplicate key bucket") != NULL);

	/* A key and its _file twin are one setting. */
	CHECK_INT(parse_text("mesh_key = " MESH_KEY_B64 "\nmesh_key_file = /k\n", &err), -EINVAL);
	CHECK_INT(err.line, 2);
	CHECK(strstr(err.text, "already set on line 1") != NULL);

	CHECK_INT(parse_text("bucket\n", &err), -EINVAL);
	CHECK_STR(err.text, "line 1: expected 'key = value'");
	CHECK_INT(parse_text("zone = \"x\"\n", &err), -EINVAL);
	CHECK_INT(parse_text("zone = a\x01 b\n", &err), -EINVAL);
	CHECK(strstr(err.text, "\\x01") != NULL); /* escaped, not raw */
	CHECK_INT(parse_text("bucket = b # trailing comment\n", &err), -EINVAL);
	CHECK_INT(parse_text("= value\n", &err), -EINVAL);
	CHECK_INT(parse_text("\xff\xfe = 1\n", &err), -EINVAL);
	CHECK(strstr(err.text, "\\xff") != NULL);

	CHECK_INT(parse_text("", &err), 0);
	CHECK_INT(parse_text("\n\n# only comments\r\n", &err), 0);
	CHECK_INT(parse_text("bucket=b", &err), 0); /* no final newline, no spaces */

	{
		char big[2048];

		memset(big, 'a', sizeof(big));
		memcpy(big, "name = ", 7);
		big[sizeof(big) - 1] = '\0';
		CHECK_INT(parse_text(big, &err), -EINVAL);
		CHECK(strstr(err.text, "too long") != NULL);
	}
	{
		const char nul[] = "bucket = b\nzone = a\0b\n";
		struct config cfg;

		config_init(&cfg);
		CHECK_INT(config_parse(&cfg, nul, sizeof(nul) - 1, "t", &err), -EINVAL);
		CHECK_INT(err.line, 2);
	}
}

static void test_secret_never_echoed(void)
{
	static const char *const secrets[] = {
		"mesh_key = SECRETSECRETSECRET",
		"secret_key = SECRET\\SECRET",
		"access_key = SECRET SECRET",
		"mesh_key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
	};
	struct config_error err;
	size_t i;

	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		CHECK_INT(parse_text(secrets[i], &err), -EINVAL);
		CHECK(strstr(err.text, "SECRET") == NULL);
		CHECK(strstr(err.text, "AAECAwQF") == NULL);
		CHECK(strstr(err.text, "bad value for") != NULL);
	}
	CHECK_INT(parse_text("mesh_key = x", &err), -EINVAL);
	CHECK_STR(err.text, "line 1: bad value for mesh_key (expected base64 of 32 bytes)");
}

static void test_env_override(void)
{
	char *envp[] = {
		"PATH=/bin",
		"CLIQUE_LISTEN_PORT=4000",
		"CLIQUE_ZONE= envzone ",
		"CLIQUE_LISTEN_PORT=5000", /* getenv(): the first one wins */
		NULL,
	};
	const char *text = "listen_port = 51820\nzone = filezone\nbucket = b\n";
	struct config_error err = {0};
	struct config cfg;

	config_init(&cfg);
	CHECK_INT(config_parse(&cfg, text, strlen(text), "t", &err), 0);
	CHECK_INT(config_apply_env(&cfg, envp, &err), 0);
	CHECK_INT(cfg.listen_port, 4000);
	CHECK_STR(cfg.zone, "envzone");
	CHECK_STR(cfg.bucket, "b");
	CHECK_INT(config_apply_env(&cfg, NULL, &err), 0);

	{
		char *e[] = {"CLIQUE_LISTEN_PORT=0", NULL};

		CHECK_INT(config_apply_env(&cfg, e, &err), -EINVAL);
		CHECK_INT(err.line, 0);
		CHECK(strstr(err.text, "CLIQUE_LISTEN_PORT") != NULL);
		CHECK(strstr(err.text, "bad value for listen_port: '0'") != NULL);
	}
	{
		char *e[] = {"CLIQUE_NO_SUCH_KEY=1", NULL};

		CHECK_INT(config_apply_env(&cfg, e, &err), 0);
		CHECK_STR(cfg.env_unknown, "CLIQUE_NO_SUCH_KEY");
	}
	{
		char *e[] = {"CLIQUE_MESH_KEY=SECRETSECRET", NULL};

		CHECK_INT(config_apply_env(&cfg, e, &err), -EINVAL);
		CHECK(strstr(err.text, "SECRET") == NULL);
	}
	{
		char *e[] = {"CLIQUE_MESH_KEY=" MESH_KEY_B64, "CLIQUE_MESH_KEY_FILE=/k", NULL};

		CHECK_INT(config_apply_env(&cfg, e, &err), -EINVAL);
		CHECK(strstr(err.text, "both") != NULL);
	}
	{
		/* env _file replaces an inline file value, and the reverse */
		char *e[] = {"CLIQUE_MESH_KEY_FILE=/run/k", NULL};

		config_init(&cfg);
		CHECK_INT(config_set(&cfg, "mesh_key", MESH_KEY_B64, &err), 0);
		CHECK_INT(config_apply_env(&cfg, e, &err), 0);
		CHECK(!cfg.has_mesh_key);
		CHECK(sodium_is_zero(cfg.mesh_key, 32));
		CHECK_STR(cfg.mesh_key_file, "/run/k");
		CHECK_INT(config_set(&cfg, "mesh_key", MESH_KEY_B64, &err), 0);
		CHECK_STR(cfg.mesh_key_file, "");
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		test_failures++;
		return;
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_load_and_files(void)
{
	char dir[] = "/tmp/test-config.XXXXXX", conf[128], mk[128], sk[128], ak[128], text[1024];
	struct config_error err = {0};
	struct config cfg;
	char *envp[3] = {NULL, NULL, NULL};
	char envbuf[200];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(conf, sizeof(conf), "%s/clique.conf", dir);
	snprintf(mk, sizeof(mk), "%s/mesh_key", dir);
	snprintf(sk, sizeof(sk), "%s/secret_key", dir);
	snprintf(ak, sizeof(ak), "%s/access_key", dir);
	write_file(mk, MESH_KEY_B64 "\n", 0600);
	write_file(sk, "sk-from-file", 0644);
	write_file(ak, "ak-from-file\r\n", 0640);
	snprintf(text, sizeof(text),
		 "bucket_endpoint = http://127.0.0.1:7480\nbucket = b\naccess_key_file = %s\n"
		 "secret_key_file = %s\nmesh_key_file = %s\n",
		 ak, sk, mk);
	write_file(conf, text, 0644);

	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, envp, &err), 0);
	CHECK_STR(cfg.access_key, "ak-from-file");
	CHECK_STR(cfg.secret_key, "sk-from-file");
	CHECK(cfg.has_mesh_key && cfg.mesh_key[31] == 31);
	CHECK_INT(cfg.insecure_files, CONFIG_INSECURE_SECRET_KEY_FILE);

	/* env beats the file: inline secret via env replaces the file path */
	envp[0] = "CLIQUE_SECRET_KEY=sk-from-env";
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, envp, &err), 0);
	CHECK_STR(cfg.secret_key, "sk-from-env");
	CHECK_INT(cfg.insecure_files, 0);

	/* a bad secret in a file: names the file, never the content */
	write_file(mk, "SECRETSECRET\n", 0600);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, NULL, &err), -EINVAL);
	CHECK(strstr(err.text, "mesh_key_file") != NULL);
	CHECK(strstr(err.text, "SECRET") == NULL);
	/* two trailing newlines: only one is trimmed */
	write_file(mk, MESH_KEY_B64 "\n\n", 0600);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, NULL, &err), -EINVAL);
	unlink(mk);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, NULL, &err), -ENOENT);
	CHECK(strstr(err.text, "cannot read mesh_key_file") != NULL);

	/* inline secrets in a world-readable config are flagged */
	snprintf(envbuf, sizeof(envbuf), "CLIQUE_MESH_KEY_FILE=%s", mk);
	write_file(conf,
		   "bucket_endpoint = http://h\nbucket = b\naccess_key = a\nsecret_key = s\n"
		   "mesh_key = " MESH_KEY_B64 "\n",
		   0644);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, NULL, &err), 0);
	CHECK_INT(cfg.insecure_files, CONFIG_INSECURE_CONFIG);
	chmod(conf, 0600);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, NULL, &err), 0);
	CHECK_INT(cfg.insecure_files, 0);

	/* a ca_file that cannot be read is named with its key (curl would only fail later) */
	snprintf(envbuf, sizeof(envbuf), "CLIQUE_CA_FILE=%s/none.pem", dir);
	envp[0] = envbuf;
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, envp, &err), -ENOENT);
	CHECK(strstr(err.text, "cannot read ca_file '") != NULL);
	CHECK(strstr(err.text, "/none.pem': No such file or directory") != NULL);
	snprintf(envbuf, sizeof(envbuf), "CLIQUE_CA_FILE=%s", dir);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, envp, &err), -EINVAL);
	CHECK(strstr(err.text, "': not a regular file") != NULL);
	snprintf(envbuf, sizeof(envbuf), "CLIQUE_CA_FILE=%s", conf);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, envp, &err), 0);
	envp[0] = NULL;

	unlink(conf);
	config_init(&cfg);
	CHECK_INT(config_load(&cfg, conf, NULL, &err), -ENOENT);
	unlink(sk);
	unlink(ak);
	rmdir(dir);
}

static int check_text(const char *text, struct config_error *err)
{
	struct config cfg;
	int r;

	config_init(&cfg);
	memset(err, 0, sizeof(*err));
	r = config_parse(&cfg, text, strlen(text), "t", err);
	if (r < 0)
		return 1000 + r;
	return config_check(&cfg, err);
}

#define BASE                                                                                \
	"bucket_endpoint = http://h\nbucket = b\naccess_key = a\nsecret_key = s\nmesh_key " \
	"= " MESH_KEY_B64 "\n"

static void test_check(void)
{
	struct config_error err;
	struct config cfg;
	char a[ADDR_STRLEN];

	CHECK_INT(check_text(BASE, &err), 0);
	CHECK_INT(check_text("bucket = b\n", &err), -EINVAL);
	CHECK_STR(err.text, "missing required key bucket_endpoint");
	CHECK_INT(check_text("bucket_endpoint = http://h\n", &err), -EINVAL);
	CHECK_STR(err.text, "missing required key bucket");
	CHECK_INT(check_text("bucket_endpoint = http://h\nbucket = b\n", &err), -EINVAL);
	CHECK(strstr(err.text, "access_key") != NULL);
	CHECK_INT(check_text("bucket_endpoint = http://h\nbucket = b\naccess_key = a\n", &err),
		  -EINVAL);
	CHECK(strstr(err.text, "secret_key") != NULL);
	CHECK_INT(check_text("bucket_endpoint = http://h\nbucket = b\naccess_key = a\nsecret_key "
			     "= s\n",
			     &err),
		  -EINVAL);
	CHECK_STR(err.text, "missing required key mesh_key (or mesh_key_file)");
	CHECK_INT(err.line, 0);

	CHECK_INT(check_text(BASE "address = 10.15.0.3\n", &err), 0);
	CHECK_INT(check_text(BASE "address = 10.16.0.3\n", &err), -EINVAL);
	CHECK(strstr(err.text, "10.16.0.3") != NULL);
	CHECK_INT(check_text(BASE "address = 10.15.0.0\n", &err), -EINVAL);
	CHECK_INT(check_text(BASE "address = 10.15.255.255\n", &err), -EINVAL);
	/* order-independent: network after address */
	CHECK_INT(check_text(BASE "address = 10.20.0.3\nnetwork = 10.20.0.0/24\n", &err), 0);
	CHECK_INT(check_text(BASE "pool = 10.15.0.0-10.15.0.9\n", &err), -EINVAL);
	CHECK_INT(check_text(BASE "pool = 10.15.0.1-10.16.0.9\n", &err), -EINVAL);
	CHECK_INT(check_text(BASE "pool = 10.15.9.1-10.15.9.9\n", &err), 0);
	CHECK_INT(check_text(BASE "network = 10.99.0.0/24\npool = 10.15.9.1-10.15.9.9\n", &err),
		  -EINVAL);
	CHECK_INT(check_text(BASE "provider = static\n", &err), -EINVAL);
	CHECK(strstr(err.text, "instance_id") != NULL);
	CHECK_INT(check_text(BASE "provider = static\ninstance_id = x\n", &err), -EINVAL);
	CHECK_INT(check_text(BASE "provider = static\ninstance_id = x\nregion = r\n", &err), 0);

	/* ca_file: the ca-certificates bundle for https, nothing needed for http, or as set */
	config_init(&cfg);
	CHECK_INT(config_parse(&cfg, BASE, strlen(BASE), "t", &err), 0);
	CHECK_INT(config_check(&cfg, &err), 0);
	CHECK_STR(cfg.ca_file, "");
	CHECK_INT(config_set(&cfg, "bucket_endpoint", "https://h", &err), 0);
	CHECK_INT(config_check(&cfg, &err), 0);
	CHECK_STR(cfg.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	CHECK_INT(config_set(&cfg, "ca_file", "/srv/ca.pem", &err), 0);
	CHECK_INT(config_check(&cfg, &err), 0);
	CHECK_STR(cfg.ca_file, "/srv/ca.pem");

	/* The default pool follows the network. */
	config_init(&cfg);
	CHECK_INT(config_set(&cfg, "network", "192.168.50.0/24", &err), 0);
	CHECK_STR(addr_fmt(&cfg.pool_start, a), "192.168.50.1");
	CHECK_STR(addr_fmt(&cfg.pool_end, a), "192.168.50.254");
}

static void test_path(void)
{
	struct config cfg;
	char out[64];

	config_init(&cfg);
	CHECK_INT(config_path(&cfg, "/etc/systemd/network", out, sizeof(out)), 0);
	CHECK_STR(out, "/etc/systemd/network");
	CHECK_INT(config_path(&cfg, "relative", out, sizeof(out)), 0);
	CHECK_STR(out, "relative");
	strcpy(cfg.root, "/tmp/root/");
	CHECK_INT(config_path(&cfg, "/etc/x", out, sizeof(out)), 0);
	CHECK_STR(out, "/tmp/root/etc/x");
	strcpy(cfg.root, "/tmp/root");
	CHECK_INT(config_path(&cfg, "/etc/x", out, sizeof(out)), 0);
	CHECK_STR(out, "/tmp/root/etc/x");
	CHECK_INT(config_path(&cfg, "etc/x", out, sizeof(out)), -EINVAL);
	CHECK_INT(config_path(&cfg, "/etc/../../x", out, sizeof(out)), -EINVAL);
	CHECK_INT(config_path(&cfg, "/etc/..x", out, sizeof(out)), 0);
	CHECK_INT(config_path(&cfg, "", out, sizeof(out)), -EINVAL);
	CHECK_INT(config_path(&cfg, "/0123456789012345678901234567890123456789012345678901234567",
			      out, sizeof(out)),
		  -ENAMETOOLONG);
	strcpy(cfg.root, "/");
	CHECK_INT(config_path(&cfg, "/etc/x", out, sizeof(out)), 0);
	CHECK_STR(out, "/etc/x");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_defaults);
	RUN(test_good_values);
	RUN(test_bad_values);
	RUN(test_full_file);
	RUN(test_minimal_file);
	RUN(test_line_errors);
	RUN(test_secret_never_echoed);
	RUN(test_env_override);
	RUN(test_load_and_files);
	RUN(test_check);
	RUN(test_path);
	return test_exit();
}

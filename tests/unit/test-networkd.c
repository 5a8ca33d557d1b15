#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../../bootstrap/config.h"
#include "../../bootstrap/networkd.h"
#include "mesh-seed.h"
#include "test.h"

#define FIX "tests/fixtures/networkd/"

static struct keys_mesh mk;

/* UPDATE_GOLDEN=1 rewrites the expected files instead of comparing (review the diff!). */
static void golden(const char *path, const struct buf *b)
{
	char want[16384];
	size_t n;
	FILE *f;

	if (getenv("UPDATE_GOLDEN")) {
		f = fopen(path, "w");
		CHECK(f != NULL);
		if (f) {
			fwrite(b->data, 1, b->len, f);
			fclose(f);
		}
		return;
	}
	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	n = fread(want, 1, sizeof(want) - 1, f);
	fclose(f);
	want[n] = '\0';
	if (n != b->len || memcmp(want, b->data, n)) {
		fprintf(stderr, "%s differs; got:\n%s\n", path, b->data);
		test_failures++;
	}
}

static int build(int self_i, size_t n_in, const struct config *cfg, struct mesh *m)
{
	struct mesh_input in[SEED_NODES];
	struct record self;
	uint8_t priv[32];
	size_t n;

	n = seed_inputs(self_i, in);
	if (n_in < n)
		n = n_in;
	seed_record(self_i, &self);
	seed_private(self_i, priv);
	return mesh_build(cfg, &self, priv, mk.psk, in, n, 1700000000, m);
}

/* linode-node-1's view of the seed's six nodes: LAN to the Linodes, WAN to the Vultrs. */
static void test_golden_seed(void)
{
	struct buf netdev, network;
	struct config cfg;
	struct mesh m;

	config_init(&cfg);
	buf_init(&netdev, 65536);
	buf_init(&network, 4096);
	CHECK_INT(build(0, SEED_NODES, &cfg, &m), 0);
	CHECK_INT(nd_render(&cfg, &m, &netdev, &network), 0);
	golden(FIX "seed-linode/expected.netdev", &netdev);
	golden(FIX "seed-linode/expected.network", &network);
	/* deterministic: a second render is byte-identical */
	{
		struct buf n2, w2;

		buf_init(&n2, 65536);
		buf_init(&w2, 4096);
		CHECK_INT(nd_render(&cfg, &m, &n2, &w2), 0);
		CHECK(n2.len == netdev.len && !memcmp(n2.data, netdev.data, n2.len));
		buf_free(&n2);
		buf_free(&w2);
	}
	buf_free(&netdev);
	buf_free(&network);
	mesh_free(&m);
}

/* The first node of a fleet: no peers yet, custom interface, MTU and no keepalive. */
static void test_golden_no_peers(void)
{
	struct buf netdev, network;
	struct config cfg;
	struct mesh m;

	config_init(&cfg);
	strcpy(cfg.interface, "clique0");
	cfg.mtu = 1380;
	cfg.keepalive = 0;
	cfg.listen_port = 51820;
	buf_init(&netdev, 65536);
	buf_init(&network, 4096);
	CHECK_INT(build(3, 0, &cfg, &m), 0);
	CHECK_INT(nd_render(&cfg, &m, &netdev, &network), 0);
	golden(FIX "no-peers/expected.netdev", &netdev);
	golden(FIX "no-peers/expected.network", &network);
	CHECK(strstr(netdev.data, "[WireGuardPeer]") == NULL);
	CHECK(strstr(netdev.data, "ListenPort=51820\n") != NULL);
	buf_free(&netdev);
	buf_free(&network);
	mesh_free(&m);
}

static void test_render_rejects(void)
{
	struct buf netdev, network;
	struct config cfg;
	struct mesh m;

	config_init(&cfg);
	buf_init(&netdev, 65536);
	buf_init(&network, 4096);
	CHECK_INT(build(0, SEED_NODES, &cfg, &m), 0);
	strcpy(m.peers[2].rec.name, "evil\n[WireGuardPeer]");
	CHECK_INT(nd_render(&cfg, &m, &netdev, &network), -EINVAL);
	CHECK(netdev.data == NULL && network.data == NULL); /* untouched on failure */
	strcpy(m.peers[2].rec.name, "ok");
	strcpy(cfg.interface, "wg/0");
	CHECK_INT(nd_render(&cfg, &m, &netdev, &network), -EINVAL);
	strcpy(cfg.interface, "wg0");
	netdev.max = 100; /* too small for the output */
	CHECK_INT(nd_render(&cfg, &m, &netdev, &network), -EMSGSIZE);
	mesh_free(&m);
}

static void test_unit_path(void)
{
	char out[64];

	CHECK_INT(nd_unit_path("/etc/systemd/network", "wg0", "netdev", out, sizeof(out)), 0);
	CHECK_STR(out, "/etc/systemd/network/90-clique-wg0.netdev");
	CHECK_INT(nd_unit_path("/etc/systemd/network", "../x", "netdev", out, sizeof(out)),
		  -EINVAL);
	CHECK_INT(nd_unit_path("/etc/systemd/network/very/long/path", "wg0", "network", out, 40),
		  -ENAMETOOLONG);
}

static bool no_temp_files(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ls -a %s | grep -q '\\.tmp\\.'", dir);
	return system(cmd) != 0;
}

static void test_write_if_changed(void)
{
	char dir[] = "/tmp/test-networkd.XXXXXX", path[128], bad[160];
	const char *a = "[NetDev]\nName=wg0\n", *b = "[NetDev]\nName=wg1\n";
	struct stat st1, st2;
	struct group *gr;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/90-clique-wg0.netdev", dir);
	umask(077); /* the mode must not depend on the caller's umask */

	CHECK_INT(nd_write_if_changed(path, a, strlen(a)), 1);
	CHECK_INT(stat(path, &st1), 0);
	CHECK_INT(st1.st_mode & 07777, 0640);
	gr = getgrnam("systemd-network");
	if (gr && geteuid() == 0)
		CHECK_INT(st1.st_gid, gr->gr_gid);

	/* unchanged: same inode, same mtime, nothing written */
	usleep(20000);
	CHECK_INT(nd_write_if_changed(path, a, strlen(a)), 0);
	CHECK_INT(stat(path, &st2), 0);
	CHECK_INT(st2.st_ino, st1.st_ino);
	CHECK(st2.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
	      st2.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);

	/* a chmod'ed but identical file is repaired without a rewrite */
	chmod(path, 0644);
	CHECK_INT(nd_write_if_changed(path, a, strlen(a)), 0);
	CHECK_INT(stat(path, &st2), 0);
	CHECK_INT(st2.st_mode & 07777, 0640);
	CHECK_INT(st2.st_ino, st1.st_ino);
	CHECK(st2.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);

	/* changed: replaced atomically (new inode), mode kept */
	CHECK_INT(nd_write_if_changed(path, b, strlen(b)), 1);
	CHECK_INT(stat(path, &st2), 0);
	CHECK(st2.st_ino != st1.st_ino);
	CHECK_INT(st2.st_mode & 07777, 0640);
	/* same length, other bytes */
	CHECK_INT(nd_write_if_changed(path, a, strlen(a)), 1);
	CHECK_INT(nd_write_if_changed(path, "", 0), 1);
	CHECK_INT(nd_write_if_changed(path, "", 0), 0);
	CHECK(no_temp_files(dir));

	/* errors leave nothing behind */
	snprintf(bad, sizeof(bad), "%s/missing/x.netdev", dir);
	CHECK_INT(nd_write_if_changed(bad, a, strlen(a)), -ENOENT);
	snprintf(bad, sizeof(bad), "%s/sub", dir);
	mkdir(bad, 0755);
	snprintf(bad, sizeof(bad), "%s/sub/x.netdev", dir);
	mkdir(bad, 0755); /* a directory where the file should go: rename fails */
	CHECK(nd_write_if_changed(bad, a, strlen(a)) < 0);
	snprintf(bad, sizeof(bad), "%s/sub", dir);
	CHECK(no_temp_files(bad));

	CHECK_INT(nd_remove(path), 1);
	CHECK(access(path, F_OK) < 0);
	CHECK_INT(nd_remove(path), 0);
	snprintf(bad, sizeof(bad), "rm -rf %s", dir);
	CHECK_INT(system(bad), 0);
	umask(022);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	keys_derive_mesh(seed_mesh_key, &mk);
	RUN(test_golden_seed);
	RUN(test_golden_no_peers);
	RUN(test_render_rejects);
	RUN(test_unit_path);
	RUN(test_write_if_changed);
	keys_mesh_wipe(&mk);
	return test_exit();
}

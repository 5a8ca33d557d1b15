/*
 * Fills a bucket with N valid sealed peer records, for the refresh-cost measurement at 1,000
 * records (issue 4; DESIGN.md 9): each has a fresh key pair, a distinct address counted up from
 * FIRST and a WAN endpoint, under the object name a "static" node "<name>-<i>" would use.
 * Env: as s3tool (S3_ENDPOINT S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY) plus MESH_KEY_FILE.
 * Usage: mkrecords PREFIX N FIRST [NAME]   (PREFIX as the config's, e.g. "big/")
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <sodium.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/config.h"
#include "../../bootstrap/http.h"
#include "../../bootstrap/keys.h"
#include "../../bootstrap/record.h"
#include "../../bootstrap/s3.h"

static int env_copy(char *dst, size_t len, const char *name)
{
	const char *v = secure_getenv(name);

	if (!v || strlen(v) >= len) {
		fprintf(stderr, "mkrecords: %s is %s\n", name, v ? "too long" : "not set");
		return -EINVAL;
	}
	strcpy(dst, v);
	return 0;
}

static int load_mesh_key(uint8_t key[32])
{
	char text[128] = "", path[512];
	size_t n = 0;
	FILE *f;
	int r;

	r = env_copy(path, sizeof(path), "MESH_KEY_FILE");
	if (r < 0)
		return r;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	text[strcspn(text, "\r\n")] = '\0';
	if (sodium_base642bin(key, 32, text, strlen(text), NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0 ||
	    n != 32)
		return -EINVAL;
	return 0;
}

static int client_init(struct s3_client *c)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	int r;

	if (!cfg)
		return -ENOMEM;
	r = env_copy(cfg->bucket_endpoint, sizeof(cfg->bucket_endpoint), "S3_ENDPOINT");
	if (!r)
		r = env_copy(cfg->bucket, sizeof(cfg->bucket), "S3_BUCKET");
	if (!r)
		r = env_copy(cfg->access_key, sizeof(cfg->access_key), "S3_ACCESS_KEY");
	if (!r)
		r = env_copy(cfg->secret_key, sizeof(cfg->secret_key), "S3_SECRET_KEY");
	if (!r)
		r = s3_client_init(c, cfg);
	sodium_memzero(cfg, sizeof(*cfg));
	free(cfg);
	return r;
}

static int put_one(struct s3_client *c, const struct keys_mesh *mk, const char *prefix,
		   const char *name, unsigned long i, uint32_t addr)
{
	char id[64], object[RECORD_OBJECT_MAX];
	uint8_t priv[32];
	struct record rec = {0};
	struct buf sealed;
	time_t now = time(NULL);
	int r;

	snprintf(id, sizeof(id), "%s-%lu", name, i);
	snprintf(rec.name, sizeof(rec.name), "%s", id);
	strcpy(rec.provider, "static");
	strcpy(rec.region, "bulk");
	strcpy(rec.zone, "static/bulk");
	randombytes_buf(priv, sizeof(priv));
	keys_clamp(priv);
	keys_public(priv, rec.public_key);
	sodium_memzero(priv, sizeof(priv));
	rec.address.family = AF_INET;
	rec.address.v4.s_addr = htonl(addr);
	rec.port = 51871;
	/* TEST-NET-3, never routed from the test namespaces */
	rec.wan.family = AF_INET;
	rec.wan.v4.s_addr = htonl(0xcb007100u | (uint32_t)(i % 254 + 1));
	rec.created = rec.updated = rec.seq = (uint64_t)now;
	r = record_object_name(mk->name, prefix, rec.provider, id, object, sizeof(object));
	if (r < 0)
		return r;
	buf_init(&sealed, RECORD_MAX_SIZE);
	r = record_seal(mk->record, object, &rec, &sealed);
	if (!r)
		r = s3_put(c, object, sealed.data, sealed.len, 0, NULL);
	buf_free(&sealed);
	return r;
}

int main(int argc, char **argv)
{
	struct s3_client c = {0};
	struct keys_mesh mk;
	struct in_addr first;
	uint8_t mesh_key[32];
	unsigned long n, i;
	char *end;
	int r;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: mkrecords PREFIX N FIRST-ADDRESS [NAME]\n");
		return 64;
	}
	n = strtoul(argv[2], &end, 10);
	if (*end || !*argv[2] || n > 60000 || inet_pton(AF_INET, argv[3], &first) != 1) {
		fprintf(stderr, "mkrecords: bad N or address\n");
		return 64;
	}
	if (sodium_init() < 0 || http_global_init() < 0)
		return 1;
	r = load_mesh_key(mesh_key);
	if (!r)
		r = client_init(&c);
	if (r < 0) {
		fprintf(stderr, "mkrecords: %s\n", strerror(-r));
		return 1;
	}
	keys_derive_mesh(mesh_key, &mk);
	sodium_memzero(mesh_key, sizeof(mesh_key));
	for (i = 0, r = 0; i < n && r >= 0; i++)
		r = put_one(&c, &mk, argv[1], argc == 5 ? argv[4] : "bulk", i,
			    ntohl(first.s_addr) + (uint32_t)i);
	if (r < 0)
		fprintf(stderr, "mkrecords: record %lu: %s (%s)\n", i - 1, strerror(-r),
			c.last_error);
	keys_mesh_wipe(&mk);
	s3_client_wipe(&c);
	http_global_cleanup();
	printf("%lu records, %u PUTs\n", r < 0 ? i - 1 : i, c.stats.put);
	return r < 0 ? 1 : 0;
}

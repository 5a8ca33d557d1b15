/*
 * Test tool of tests/e2e/test-hostile.sh: makes records the way a node holding the mesh key (or
 * an attacker who does not) would, to put hostile ones into the bucket.
 *   record-forge MESH_KEY_FILE name PROVIDER INSTANCE_ID   object name under "clique/"
 *   record-forge MESH_KEY_FILE seal OBJECT < payload       envelope for OBJECT on stdout
 *   record-forge MESH_KEY_FILE open OBJECT < envelope      payload JSON on stdout
 * The key file holds base64 of 32 bytes, as mesh_key_file does. Exit 0, 1 error, 64 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../bootstrap/buf.h"
#include "../../bootstrap/keys.h"
#include "../../bootstrap/record.h"

static int read_key(const char *path, uint8_t key[KEYS_LEN])
{
	char text[128];
	size_t n, len = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	text[strcspn(text, "\r\n")] = '\0';
	if (sodium_base642bin(key, KEYS_LEN, text, strlen(text), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != KEYS_LEN)
		return -EINVAL;
	return 0;
}

static int read_stdin(struct buf *in)
{
	char chunk[4096];
	size_t n;
	int r = 0;

	while (!r && (n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		r = buf_add(in, chunk, n);
	return r;
}

int main(int argc, char **argv)
{
	uint8_t mesh_key[KEYS_LEN];
	struct keys_mesh mk;
	struct record rec;
	struct buf in, out;
	char name[RECORD_OBJECT_MAX], plain[RECORD_MAX_SIZE];
	size_t len = 0;
	int r;

	if (argc < 4 || sodium_init() < 0)
		return 64;
	r = read_key(argv[1], mesh_key);
	if (r < 0) {
		fprintf(stderr, "record-forge: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	keys_derive_mesh(mesh_key, &mk);
	sodium_memzero(mesh_key, sizeof(mesh_key));
	buf_init(&in, 1 << 20);
	buf_init(&out, 1 << 20);
	if (!strcmp(argv[2], "name") && argc == 5) {
		r = record_object_name(mk.name, "clique/", argv[3], argv[4], name, sizeof(name));
		if (!r)
			printf("%s\n", name);
	} else if (!strcmp(argv[2], "seal") && argc == 4) {
		r = read_stdin(&in);
		if (!r)
			r = record_seal_payload(mk.record, argv[3], in.data ? in.data : "", in.len,
						&out);
		if (!r)
			fwrite(out.data, 1, out.len, stdout);
	} else if (!strcmp(argv[2], "open") && argc == 4) {
		r = read_stdin(&in);
		if (!r)
			r = record_open_payload(mk.record, argv[3], in.data ? in.data : "", in.len,
						plain, sizeof(plain), &len);
		/* the payload must also be one clique-boot accepts */
		if (!r)
			r = record_payload_parse(plain, len, &rec);
		if (!r)
			fwrite(plain, 1, len, stdout);
	} else {
		r = -EINVAL;
	}
	keys_mesh_wipe(&mk);
	buf_free(&in);
	buf_free(&out);
	if (r < 0)
		fprintf(stderr, "record-forge %s: %s\n", argv[2], strerror(-r));
	return r < 0 ? 1 : 0;
}

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../../bootstrap/keys.h"
#include "test.h"

static void fill(uint8_t *k, uint8_t start)
{
	int i;

	for (i = 0; i < KEYS_LEN; i++)
		k[i] = start + i;
}

static const char *b64(const uint8_t *k, char *out)
{
	keys_to_base64(k, out);
	return out;
}

/* Computed once; a change here changes every deployed mesh's record keys, PSKs and names. */
static void test_kdf_vectors(void)
{
	uint8_t mk[KEYS_LEN], a[KEYS_LEN], b[KEYS_LEN], psk[KEYS_LEN];
	struct keys_mesh k;
	char s[KEYS_BASE64_LEN];
	int i;

	for (i = 0; i < KEYS_LEN; i++)
		mk[i] = i;
	keys_derive_mesh(mk, &k);
	CHECK_STR(b64(k.record, s), "7LS4BNa7FCkN7tAA3OtXymTf06TH0jyjFuDqRRrOyd4=");
	CHECK_STR(b64(k.psk, s), "y7GbtxNW48VM4tqQQpl729BoyI+NuSFfnnA2NJevz8g=");
	CHECK_STR(b64(k.name, s), "nZPLsVAFkm6bbyXV7wuaeaD9I99dbcRjbJghpD/cQZ8=");
	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	keys_pair_psk(k.psk, a, b, psk);
	CHECK_STR(b64(psk, s), "yYp9lTEYF/KFcKHygEQoFhtersIlrxZW6uRD0wTV4BE=");
	keys_mesh_wipe(&k);
	CHECK(sodium_is_zero(k.record, KEYS_LEN) && sodium_is_zero(k.psk, KEYS_LEN) &&
	      sodium_is_zero(k.name, KEYS_LEN));
}

/* Same answer as `wg pubkey` for the unclamped secret 0x40..0x5f. */
static void test_public_matches_wg(void)
{
	uint8_t priv[KEYS_LEN], pub[KEYS_LEN], pub2[KEYS_LEN];
	char s[KEYS_BASE64_LEN];

	fill(priv, 0x40);
	keys_public(priv, pub);
	CHECK_STR(b64(pub, s), "eaYx7t4b+cmPEgMs3q3Q56B5OY/HhriMyEbsia+FpRo=");
	CHECK(priv[0] == 0x40); /* the caller's key is not modified */
	keys_clamp(priv);
	keys_public(priv, pub2);
	CHECK(!memcmp(pub, pub2, KEYS_LEN));
}

static void test_clamp(void)
{
	uint8_t k[KEYS_LEN];

	memset(k, 0xff, sizeof(k));
	keys_clamp(k);
	CHECK_INT(k[0], 248);
	CHECK_INT(k[31], 127);
	CHECK_INT(k[15], 0xff);
	memset(k, 0, sizeof(k));
	keys_clamp(k);
	CHECK_INT(k[0], 0);
	CHECK_INT(k[31], 64);
}

static void test_psk_symmetry(void)
{
	uint8_t key[KEYS_LEN], a[KEYS_LEN], b[KEYS_LEN], c[KEYS_LEN];
	uint8_t ab[KEYS_LEN], ba[KEYS_LEN], ac[KEYS_LEN], bc[KEYS_LEN], other[KEYS_LEN];

	fill(key, 7);
	fill(a, 10);
	fill(b, 20);
	fill(c, 30);
	keys_pair_psk(key, a, b, ab);
	keys_pair_psk(key, b, a, ba);
	keys_pair_psk(key, a, c, ac);
	keys_pair_psk(key, b, c, bc);
	CHECK(!memcmp(ab, ba, KEYS_LEN));
	CHECK(memcmp(ab, ac, KEYS_LEN));
	CHECK(memcmp(ab, bc, KEYS_LEN));
	CHECK(memcmp(ac, bc, KEYS_LEN));
	key[0] ^= 1;
	keys_pair_psk(key, a, b, other);
	CHECK(memcmp(ab, other, KEYS_LEN));
}

static void test_base64(void)
{
	uint8_t k[KEYS_LEN], back[KEYS_LEN];
	char s[KEYS_BASE64_LEN], bad[KEYS_BASE64_LEN + 2];

	fill(k, 0x40);
	keys_to_base64(k, s);
	CHECK_INT(strlen(s), 44);
	CHECK(s[43] == '=');
	CHECK_INT(keys_from_base64(s, back), 0);
	CHECK(!memcmp(k, back, KEYS_LEN));

	/* The 43rd char ('8') carries 2 unused low bits: '9' sets one, which wg(8) rejects too. */
	CHECK_STR(s, "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=");
	strcpy(bad, s);
	bad[42] = '9';
	CHECK_INT(keys_from_base64(bad, back), -EINVAL);
	CHECK(!memcmp(k, back, KEYS_LEN)); /* untouched on failure */

	CHECK_INT(keys_from_base64("", back), -EINVAL);
	CHECK_INT(keys_from_base64(NULL, back), -EINVAL);
	snprintf(bad, sizeof(bad), "%s\n", s);
	CHECK_INT(keys_from_base64(bad, back), -EINVAL);
	snprintf(bad, sizeof(bad), "%.43s", s); /* no padding */
	CHECK_INT(keys_from_base64(bad, back), -EINVAL);
	strcpy(bad, s);
	bad[5] = '-'; /* URL-safe alphabet */
	CHECK_INT(keys_from_base64(bad, back), -EINVAL);
	/* 33 bytes' worth of base64 */
	CHECK_INT(keys_from_base64("QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9g", back), -EINVAL);
}

static char *tmpdir(void)
{
	static char dir[] = "/tmp/test-keys.XXXXXX";

	return mkdtemp(dir);
}

static void test_load_or_create(void)
{
	uint8_t priv[KEYS_LEN], pub[KEYS_LEN], priv2[KEYS_LEN], pub2[KEYS_LEN], check[KEYS_LEN];
	char path[256], tmp[300], text[128];
	const char *dir = tmpdir();
	struct stat st;
	FILE *f;
	int fd;

	CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/private.key", dir);
	umask(022);
	CHECK_INT(keys_load_or_create(path, priv, pub), 1);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(st.st_size, 45);
	keys_public(priv, check);
	CHECK(!memcmp(pub, check, KEYS_LEN));
	memcpy(check, priv, KEYS_LEN);
	keys_clamp(check);
	CHECK(!memcmp(priv, check, KEYS_LEN));

	CHECK_INT(keys_load_or_create(path, priv2, pub2), 0);
	CHECK(!memcmp(priv, priv2, KEYS_LEN));
	CHECK(!memcmp(pub, pub2, KEYS_LEN));

	/* No temp files left behind. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	CHECK(access(tmp, F_OK) < 0);

	/* A key written by `wg genkey` (with newline) and one without newline both load. */
	f = fopen(path, "w");
	fputs("QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=\n", f);
	fclose(f);
	CHECK_INT(keys_load_or_create(path, priv2, pub2), 0);
	fill(check, 0x40);
	keys_clamp(check);
	CHECK(!memcmp(priv2, check, KEYS_LEN));

	/* Malformed files are -EINVAL and never replaced. */
	f = fopen(path, "w");
	fputs("not a key\n", f);
	fclose(f);
	CHECK_INT(keys_load_or_create(path, priv2, pub2), -EINVAL);
	f = fopen(path, "w");
	fputs("QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=\n\n", f);
	fclose(f);
	CHECK_INT(keys_load_or_create(path, priv2, pub2), -EINVAL);
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	CHECK_INT(keys_load_or_create(path, priv2, pub2), -EINVAL);
	f = fopen(path, "r");
	CHECK(fgets(text, sizeof(text), f) == NULL);
	fclose(f);
	unlink(path);

	/* Missing directory: the caller creates the state dir. */
	snprintf(path, sizeof(path), "%s/nodir/private.key", dir);
	CHECK_INT(keys_load_or_create(path, priv2, pub2), -ENOENT);
	rmdir(dir);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_kdf_vectors);
	RUN(test_public_matches_wg);
	RUN(test_clamp);
	RUN(test_psk_symmetry);
	RUN(test_base64);
	RUN(test_load_or_create);
	return test_exit();
}

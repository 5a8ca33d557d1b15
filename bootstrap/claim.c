#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <jansson.h>
#include <sodium.h>

#include "claim.h"
#include "clock.h"
#include "log.h"
#include "s3.h"

#define CLAIM_HASH_LEN 16
#define CLAIM_SETTLE_MS 2500

int claim_object_name(const uint8_t name_key[32], const char *prefix, const struct ip_addr *a,
		      char *ret_name, size_t name_size)
{
	uint8_t hash[CLAIM_HASH_LEN];
	char in[ADDR_STRLEN + 8], s[ADDR_STRLEN], hex[2 * CLAIM_HASH_LEN + 1];
	int n;

	if (a->family != AF_INET)
		return -EINVAL;
	/* "addr:" keeps this input space apart from the "provider:id" of record names */
	n = snprintf(in, sizeof(in), "addr:%s", addr_fmt(a, s));
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)in, n, name_key, 32);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	n = snprintf(ret_name, name_size, "%saddrs/%s", prefix, hex);
	if (n < 0 || (size_t)n >= name_size)
		return -ENAMETOOLONG;
	return 0;
}

uint32_t claim_pool_size(const struct ip_addr *start, const struct ip_addr *end)
{
	uint32_t s, e;

	if (start->family != AF_INET || end->family != AF_INET)
		return 0;
	s = ntohl(start->v4.s_addr);
	e = ntohl(end->v4.s_addr);
	if (e < s || e - s == UINT32_MAX)
		return 0;
	return e - s + 1;
}

int claim_candidate(const uint8_t name_key[32], const char *node, const struct ip_addr *start,
		    const struct ip_addr *end, uint32_t i, struct ip_addr *ret)
{
	uint32_t size = claim_pool_size(start, end), h;
	uint8_t hash[8];
	char in[RECORD_OBJECT_MAX + 8];
	struct ip_addr a = {.family = AF_INET};
	int n;

	if (!size)
		return -ERANGE;
	n = snprintf(in, sizeof(in), "pool:%s", node);
	if (n < 0 || (size_t)n >= sizeof(in))
		return -EINVAL;
	crypto_generichash(hash, sizeof(hash), (const uint8_t *)in, n, name_key, 32);
	h = (uint32_t)hash[0] | (uint32_t)hash[1] << 8 | (uint32_t)hash[2] << 16 |
	    (uint32_t)hash[3] << 24;
	a.v4.s_addr = htonl(ntohl(start->v4.s_addr) + (uint32_t)(((uint64_t)h + i) % size));
	*ret = a;
	return 0;
}

int claim_seal(const uint8_t record_key[32], const char *object, const struct claim *c,
	       struct buf *ret_envelope)
{
	char a[ADDR_STRLEN];
	json_t *root;

	root = json_pack("{s:s, s:s, s:I}", "node", c->node, "address", addr_fmt(&c->address, a),
			 "claimed", (json_int_t)c->claimed);
	return record_seal_json(record_key, object, root, ret_envelope);
}

int claim_open(const uint8_t record_key[32], const char *object, const char *buf, size_t len,
	       struct claim *ret)
{
	char plain[RECORD_MAX_SIZE];
	const char *node, *address;
	struct claim c = {0};
	json_error_t jerr;
	json_int_t claimed;
	json_t *root;
	size_t n = 0;
	int r;

	r = record_open_payload(record_key, object, buf, len, plain, sizeof(plain), &n);
	if (r < 0)
		return r;
	root = json_loadb(plain, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return -EBADMSG;
	r = -EINVAL;
	if (json_unpack(root, "{s:s, s:s, s:I}", "node", &node, "address", &address, "claimed",
			&claimed) < 0)
		goto out;
	if (strlen(node) >= sizeof(c.node) || addr_parse(address, &c.address) < 0 ||
	    c.address.family != AF_INET || claimed < 0)
		goto out;
	strcpy(c.node, node);
	c.claimed = claimed;
	*ret = c;
	r = 0;
out:
	json_decref(root);
	return r;
}

int claim_probe(struct s3_client *s3, const char *prefix)
{
	uint8_t rnd[16];
	char key[RECORD_OBJECT_MAX], hex[sizeof(rnd) * 2 + 1];
	int r;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	if (snprintf(key, sizeof(key), "%sprobe/%s", prefix, hex) >= (int)sizeof(key))
		return -ENAMETOOLONG;
	r = s3_put(s3, key, "probe", 5, S3_PUT_IF_NONE_MATCH, NULL);
	if (r == -EEXIST)
		r = -EIO; /* a fresh random key cannot exist */
	if (r < 0)
		return r;
	r = s3_put(s3, key, "probe", 5, S3_PUT_IF_NONE_MATCH, NULL);
	r = r == -EEXIST ? 1 : r == 0 ? 0 : r;
	/* a leftover scratch key harms nobody: no need to fail on it */
	s3_delete(s3, key);
	return r;
}

static int claim_put(struct claim_ctx *ctx, const struct ip_addr *a, const char *object,
		     unsigned flags)
{
	struct claim c = {.address = *a, .claimed = (uint64_t)time(NULL)};
	struct buf sealed;
	int r;

	snprintf(c.node, sizeof(c.node), "%s", ctx->node);
	buf_init(&sealed, RECORD_MAX_SIZE);
	r = claim_seal(ctx->record_key, object, &c, &sealed);
	if (!r)
		r = s3_put(ctx->s3, object, sealed.data, sealed.len, flags, NULL);
	buf_free(&sealed);
	return r;
}

/* 1 when object is an authentic claim of ours for a, 0 when it is anything else, -errno. */
static int claim_owned(struct claim_ctx *ctx, const struct ip_addr *a, const char *object)
{
	struct claim c;
	struct buf body;
	int r;

	buf_init(&body, RECORD_MAX_SIZE);
	r = s3_get(ctx->s3, object, RECORD_MAX_SIZE, &body, NULL);
	if (!r) {
		/* a forged or foreign object still holds the address: we never overwrite it */
		r = claim_open(ctx->record_key, object, body.data ? body.data : "", body.len, &c);
		r = !r && !strcmp(c.node, ctx->node) && addr_equal(&c.address, a);
	}
	buf_free(&body);
	return r;
}

static int claim_try_conditional(struct claim_ctx *ctx, const struct ip_addr *a, const char *object)
{
	int r;

	r = claim_put(ctx, a, object, S3_PUT_IF_NONE_MATCH);
	if (!r)
		return 1;
	if (r == -EEXIST) {
		ctx->lost++;
		r = claim_owned(ctx, a, object);
		return r == -ENOENT ? 0 : r; /* released meanwhile: the next candidate */
	}
	if (r == -EIO) {
		/* a conditional PUT of unknown fate (s3.c): it may have been ours */
		r = claim_owned(ctx, a, object);
		return r == 1 ? 1 : -EIO;
	}
	return r;
}

/* Earliest intent by the server's LastModified, ties by name; NULL on an empty listing. */
static const struct s3_object *claim_winner(const struct s3_listing *l)
{
	const struct s3_object *w = NULL;
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct s3_object *o = &l->objects[i];

		if (!w || o->last_modified < w->last_modified ||
		    (o->last_modified == w->last_modified && strcmp(o->key, w->key) < 0))
			w = o;
	}
	return w;
}

static bool claim_listed(const struct s3_listing *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->objects[i].key, key))
			return true;
	return false;
}

/*
 * Write-then-verify for stores that ignore If-None-Match: every contender writes its own
 * intent under "<claim>/", waits, then lists: the earliest intent wins. An intent written after
 * the winner's listing carries a later LastModified second (the wait exceeds the 1 s
 * resolution), so no later contender can overturn a decision already taken.
 */
static int claim_try_verify(struct claim_ctx *ctx, const struct ip_addr *a, const char *object,
			    char *intent, size_t intentlen)
{
	const char *node_hash = strrchr(ctx->node, '/');
	const struct s3_object *w;
	struct s3_listing l = {0};
	char dir[RECORD_OBJECT_MAX];
	int r;

	if (snprintf(dir, sizeof(dir), "%s/", object) >= (int)sizeof(dir) ||
	    snprintf(intent, intentlen, "%s%s", dir, node_hash ? node_hash + 1 : ctx->node) >=
		    (int)intentlen)
		return -ENAMETOOLONG;
	r = s3_list(ctx->s3, dir, &l);
	if (r < 0)
		return r;
	w = claim_winner(&l);
	if (w) {
		r = !strcmp(w->key, intent);
		if (!r && claim_listed(&l, intent))
			r = s3_delete(ctx->s3, intent);
		goto out;
	}
	r = claim_put(ctx, a, intent, 0);
	if (r < 0)
		goto out;
	clock_sleep_ms(ctx->settle_ms ? ctx->settle_ms : CLAIM_SETTLE_MS);
	s3_listing_free(&l);
	r = s3_list(ctx->s3, dir, &l);
	if (r < 0)
		goto out;
	w = claim_winner(&l);
	if (!w || !claim_listed(&l, intent)) {
		r = -EIO; /* our own write is not listed: the store is not what we think */
		goto out;
	}
	r = !strcmp(w->key, intent);
	if (!r) {
		ctx->lost++;
		r = s3_delete(ctx->s3, intent);
	}
out:
	s3_listing_free(&l);
	return r;
}

int claim_try(struct claim_ctx *ctx, const struct ip_addr *a, char *ret_object)
{
	char object[RECORD_OBJECT_MAX], intent[RECORD_OBJECT_MAX];
	int r;

	r = claim_object_name(ctx->name_key, ctx->prefix, a, object, sizeof(object));
	if (r < 0)
		return r;
	if (ctx->honoured)
		r = claim_try_conditional(ctx, a, object);
	else
		r = claim_try_verify(ctx, a, object, intent, sizeof(intent));
	if (r == 1)
		snprintf(ret_object, RECORD_OBJECT_MAX, "%s", ctx->honoured ? object : intent);
	return r;
}

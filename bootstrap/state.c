#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <sodium.h>

#include "fsutil.h"
#include "state.h"

static int copy_str(json_t *obj, const char *key, char *out, size_t outlen, bool required)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t len;

	if (!v)
		return required ? -EINVAL : 0;
	if (!json_is_string(v))
		return -EINVAL;
	s = json_string_value(v);
	len = json_string_length(v);
	if (len >= outlen || strlen(s) != len)
		return -EINVAL;
	memcpy(out, s, len + 1);
	return 0;
}

static int get_uint(json_t *obj, const char *key, uint64_t *ret)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*ret = json_integer_value(v);
	return 0;
}

static int parse_ip(json_t *obj, const char *key, struct ip_addr *ret)
{
	char s[ADDR_STRLEN] = "";
	int r;

	r = copy_str(obj, key, s, sizeof(s), false);
	if (r < 0 || !s[0])
		return r;
	return addr_parse(s, ret);
}

static int parse_metadata(json_t *m, struct md_instance *ret)
{
	struct md_instance md = {0};
	int r;

	if (!json_is_object(m))
		return -EINVAL;
	r = copy_str(m, "provider", md.provider, sizeof(md.provider), true);
	if (!r)
		r = copy_str(m, "id", md.id, sizeof(md.id), true);
	if (!r)
		r = copy_str(m, "name", md.name, sizeof(md.name), false);
	if (!r)
		r = copy_str(m, "region", md.region, sizeof(md.region), true);
	if (!r)
		r = copy_str(m, "private_net", md.private_net, sizeof(md.private_net), false);
	if (!r)
		r = parse_ip(m, "wan4", &md.wan4);
	if (!r)
		r = parse_ip(m, "wan6", &md.wan6);
	if (!r)
		r = parse_ip(m, "lan4", &md.lan4);
	if (r < 0)
		return r;
	*ret = md;
	return 0;
}

static int parse_self(json_t *self, struct state *st)
{
	char digest[65] = "";
	size_t bin_len;
	int r;

	if (!json_is_object(self))
		return -EINVAL;
	r = copy_str(self, "object", st->self_object, sizeof(st->self_object), true);
	if (!r)
		r = copy_str(self, "etag", st->self_etag, sizeof(st->self_etag), false);
	if (!r)
		r = get_uint(self, "seq", &st->self_seq);
	if (!r)
		r = get_uint(self, "created", &st->self_created);
	if (!r)
		r = copy_str(self, "digest", digest, sizeof(digest), true);
	if (r < 0)
		return r;
	if (sodium_hex2bin(st->self_digest, sizeof(st->self_digest), digest, strlen(digest), NULL,
			   &bin_len, NULL) < 0 ||
	    bin_len != sizeof(st->self_digest))
		return -EINVAL;
	return 0;
}

static int parse_claim(json_t *c, struct state *st)
{
	struct ip_addr a = {0};
	int r;

	if (!json_is_object(c))
		return -EINVAL;
	r = parse_ip(c, "address", &a);
	if (!r)
		r = copy_str(c, "object", st->claim_object, sizeof(st->claim_object), true);
	if (!r && a.family != AF_INET)
		r = -EINVAL;
	if (!r)
		st->claim_address = a;
	return r;
}

static int parse_cond_put(json_t *c, struct state *st)
{
	json_t *h = json_object_get(c, "honoured");
	int r;

	if (!json_is_object(c) || !json_is_boolean(h))
		return -EINVAL;
	r = copy_str(c, "bucket", st->cond_put_bucket, sizeof(st->cond_put_bucket), true);
	if (!r)
		st->cond_put = json_is_true(h) ? STATE_COND_PUT_HONOURED : STATE_COND_PUT_IGNORED;
	return r;
}

static int parse_clock(json_t *c, struct state *st)
{
	json_t *s = json_object_get(c, "seconds");
	json_int_t v;

	if (!json_is_object(c) || !json_is_integer(s))
		return -EINVAL;
	v = json_integer_value(s);
	if (v < -STATE_CLOCK_OFFSET_MAX || v > STATE_CLOCK_OFFSET_MAX)
		return -EINVAL;
	st->clock_offset = (long)v;
	return copy_str(c, "endpoint", st->clock_endpoint, sizeof(st->clock_endpoint), true);
}

static int parse_peer(json_t *p, struct state *st)
{
	char object[RECORD_OBJECT_MAX], etag[S3_ETAG_MAX] = "";
	uint64_t last_modified = 0;
	json_t *body;
	int r;

	if (!json_is_object(p))
		return -EINVAL;
	r = copy_str(p, "object", object, sizeof(object), true);
	if (!r)
		r = copy_str(p, "etag", etag, sizeof(etag), false);
	if (!r)
		r = get_uint(p, "last_modified", &last_modified);
	if (r < 0)
		return r;
	body = json_object_get(p, "body");
	if (!json_is_string(body) || json_string_length(body) > RECORD_MAX_SIZE)
		return -EINVAL;
	return state_put_peer(st, object, etag, (time_t)last_modified, json_string_value(body),
			      json_string_length(body));
}

int state_parse(const char *buf, size_t len, struct state *ret)
{
	struct state st = {0};
	json_error_t jerr;
	json_t *root, *v;
	size_t i;
	int r = 0;

	if (!len) {
		*ret = st;
		return 0;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return -EBADMSG;
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1) {
		r = -EINVAL;
		goto out;
	}
	v = json_object_get(root, "self");
	if (v)
		r = parse_self(v, &st);
	v = json_object_get(root, "metadata");
	if (!r && v) {
		r = parse_metadata(v, &st.metadata);
		st.has_metadata = r == 0;
	}
	v = json_object_get(root, "claim");
	if (!r && v)
		r = parse_claim(v, &st);
	v = json_object_get(root, "conditional_put");
	if (!r && v)
		r = parse_cond_put(v, &st);
	v = json_object_get(root, "clock_offset");
	if (!r && v)
		r = parse_clock(v, &st);
	v = json_object_get(root, "left");
	if (!r && v && !json_is_boolean(v))
		r = -EINVAL;
	st.left = json_is_true(v);
	v = json_object_get(root, "peers");
	if (!r && v && !json_is_array(v))
		r = -EINVAL;
	for (i = 0; !r && v && i < json_array_size(v); i++)
		r = parse_peer(json_array_get(v, i), &st);
out:
	json_decref(root);
	if (r < 0) {
		state_free(&st);
		return r;
	}
	*ret = st;
	return 0;
}

static int set_str(json_t *obj, const char *key, const char *s)
{
	return json_object_set_new(obj, key, json_string(s)) < 0 ? -ENOMEM : 0;
}

static int set_ip(json_t *obj, const char *key, const struct ip_addr *a)
{
	char s[ADDR_STRLEN];

	if (!a->family)
		return 0;
	return set_str(obj, key, addr_fmt(a, s));
}

static json_t *metadata_json(const struct md_instance *md)
{
	json_t *m = json_object();
	int r;

	if (!m)
		return NULL;
	r = set_str(m, "provider", md->provider);
	r = r ?: set_str(m, "id", md->id);
	r = r ?: set_str(m, "name", md->name);
	r = r ?: set_str(m, "region", md->region);
	r = r ?: set_str(m, "private_net", md->private_net);
	r = r ?: set_ip(m, "wan4", &md->wan4);
	r = r ?: set_ip(m, "wan6", &md->wan6);
	r = r ?: set_ip(m, "lan4", &md->lan4);
	if (r < 0) {
		json_decref(m);
		return NULL;
	}
	return m;
}

static json_t *self_json(const struct state *st)
{
	char digest[65];
	json_t *s;

	sodium_bin2hex(digest, sizeof(digest), st->self_digest, sizeof(st->self_digest));
	s = json_pack("{s:s, s:s, s:I, s:I, s:s}", "object", st->self_object, "etag", st->self_etag,
		      "seq", (json_int_t)st->self_seq, "created", (json_int_t)st->self_created,
		      "digest", digest);
	sodium_memzero(digest, sizeof(digest));
	return s;
}

static int extras_json(const struct state *st, json_t *root)
{
	char a[ADDR_STRLEN];

	if (st->claim_address.family &&
	    json_object_set_new(root, "claim",
				json_pack("{s:s, s:s}", "address", addr_fmt(&st->claim_address, a),
					  "object", st->claim_object)) < 0)
		return -ENOMEM;
	if (st->cond_put != STATE_COND_PUT_UNKNOWN &&
	    json_object_set_new(root, "conditional_put",
				json_pack("{s:s, s:b}", "bucket", st->cond_put_bucket, "honoured",
					  st->cond_put == STATE_COND_PUT_HONOURED)) < 0)
		return -ENOMEM;
	if (st->clock_offset &&
	    json_object_set_new(root, "clock_offset",
				json_pack("{s:s, s:I}", "endpoint", st->clock_endpoint, "seconds",
					  (json_int_t)st->clock_offset)) < 0)
		return -ENOMEM;
	if (st->left && json_object_set_new(root, "left", json_true()) < 0)
		return -ENOMEM;
	return 0;
}

/* The state as JSON text ending in a newline (NULL on -ENOMEM); the tree is gone on return. */
static char *state_dump(const struct state *st)
{
	json_t *root, *peers, *p;
	char *text = NULL, *nl;
	size_t i, len;

	root = json_pack("{s:i}", "version", 1);
	peers = json_array();
	if (!root || !peers)
		goto out;
	if (st->self_object[0] && json_object_set_new(root, "self", self_json(st)) < 0)
		goto out;
	if (st->has_metadata &&
	    json_object_set_new(root, "metadata", metadata_json(&st->metadata)) < 0)
		goto out;
	if (extras_json(st, root) < 0)
		goto out;
	for (i = 0; i < st->n_peers; i++) {
		const struct state_peer *sp = &st->peers[i];

		p = json_pack("{s:s, s:s, s:I, s:s#}", "object", sp->object, "etag", sp->etag,
			      "last_modified", (json_int_t)sp->last_modified, "body", sp->body,
			      sp->body_len);
		if (!p || json_array_append_new(peers, p) < 0)
			goto out;
	}
	if (json_object_set(root, "peers", peers) < 0)
		goto out;
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		goto out;
	len = strlen(text);
	nl = realloc(text, len + 2);
	if (!nl) {
		free(text);
		text = NULL;
		goto out;
	}
	text = nl;
	memcpy(text + len, "\n", 2);
out:
	json_decref(peers);
	json_decref(root);
	return text;
}

int state_serialize(const struct state *st, struct buf *out)
{
	char *text = state_dump(st);
	int r;

	if (!text)
		return -ENOMEM;
	buf_reset(out);
	r = buf_add(out, text, strlen(text));
	free(text);
	return r;
}

int state_load(const char *path, struct state *ret)
{
	struct buf b;
	int r;

	buf_init(&b, STATE_FILE_MAX);
	r = fs_read_file(path, STATE_FILE_MAX, &b);
	if (r == -ENOENT) {
		memset(ret, 0, sizeof(*ret));
		r = 0;
	} else if (!r) {
		r = state_parse(b.data ? b.data : "", b.len, ret);
	}
	buf_free(&b);
	return r;
}

/* Written straight from the dumped text: no tree or second copy is alive while the file is
 * compared and written (the peak memory of a run at 1,000 peers). */
int state_save(const char *path, const struct state *st)
{
	char *text = state_dump(st);
	int r;

	if (!text)
		return -ENOMEM;
	r = fs_write_atomic(path, text, strlen(text), 0600, (gid_t)-1, 0);
	free(text);
	return r;
}

void state_free(struct state *st)
{
	size_t i;

	for (i = 0; i < st->n_peers; i++)
		free(st->peers[i].body);
	free(st->peers);
	memset(st, 0, sizeof(*st));
}

static int cmp_object(const void *key, const void *elem)
{
	return strcmp(key, ((const struct state_peer *)elem)->object);
}

struct state_peer *state_find_peer(const struct state *st, const char *object)
{
	if (!st->n_peers)
		return NULL; /* bsearch must not see the NULL array of an empty state */
	return bsearch(object, st->peers, st->n_peers, sizeof(*st->peers), cmp_object);
}

int state_put_peer(struct state *st, const char *object, const char *etag, time_t last_modified,
		   const char *body, size_t len)
{
	struct state_peer *sp;
	size_t lo = 0, hi = st->n_peers;
	char *copy;

	if (strlen(object) >= sizeof(sp->object) || strlen(etag) >= sizeof(sp->etag))
		return -EINVAL;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, body, len);
	copy[len] = '\0';
	while (lo < hi) { /* insertion point: keep peers sorted for bsearch */
		size_t mid = (lo + hi) / 2;

		if (strcmp(st->peers[mid].object, object) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->n_peers && !strcmp(st->peers[lo].object, object)) {
		free(st->peers[lo].body);
	} else {
		if (st->n_peers == st->cap_peers) {
			size_t cap = st->cap_peers ? st->cap_peers * 2 : 16;
			struct state_peer *p = realloc(st->peers, cap * sizeof(*p));

			if (!p) {
				free(copy);
				return -ENOMEM;
			}
			st->peers = p;
			st->cap_peers = cap;
		}
		memmove(&st->peers[lo + 1], &st->peers[lo],
			(st->n_peers - lo) * sizeof(*st->peers));
		st->n_peers++;
		memset(&st->peers[lo], 0, sizeof(*st->peers));
		snprintf(st->peers[lo].object, sizeof(st->peers[lo].object), "%s", object);
	}
	sp = &st->peers[lo];
	snprintf(sp->etag, sizeof(sp->etag), "%s", etag);
	sp->last_modified = last_modified;
	sp->body = copy;
	sp->body_len = len;
	return 0;
}

int state_lock(const char *dir)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* O_CLOEXEC: a daemon we start (wireguard-go) must never inherit the lock (wireguard.md
	 * appendix) or every later run would wait forever */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;

			close(fd);
			return r;
		}
	}
	return fd;
}

/*
 * clique-boot: the CLI and the orchestration of a run (shared/DESIGN.md 1). The only place that
 * logs failures and chooses exit codes (sysexits, DESIGN.md 7).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <sodium.h>

#include "claim.h"
#include "clock.h"
#include "config.h"
#include "fsutil.h"
#include "http.h"
#include "keys.h"
#include "link.h"
#include "log.h"
#include "mesh.h"
#include "networkd.h"
#include "record.h"
#include "s3.h"
#include "state.h"
#include "wg.h"
#include "../metadata/provider.h"

enum run_mode {
	RUN_MODE_BOOT,
	RUN_MODE_REFRESH,
	RUN_MODE_LEAVE,
	RUN_MODE_STATUS,
	RUN_MODE_ROTATE_KEY,
};

struct options {
	const char *config_path;
	const char *root;
	enum run_mode mode;
	bool dry_run;
	bool json;
	enum log_level level;
};

/* Everything one run holds; torn down in run_free(). */
struct run {
	struct options opt;
	struct config cfg;
	struct md_instance md;
	struct keys_mesh mk;
	uint8_t private_key[32], public_key[32];
	bool key_created;
	bool address_preview; /* dry-run, address = auto: a candidate nobody claimed yet */
	struct record self;
	char self_object[RECORD_OBJECT_MAX];
	char state_dir[PATH_MAX];
	char state_path[PATH_MAX + 16];
	struct state st;
	struct s3_client s3;
	struct s3_listing listing;
	bool bucket_failed;   /* exit 75 at the end: we ran from the cache */
	bool metadata_failed; /* exit 75 at the end: a boot run from the cached metadata */
	bool own_listed;
	char own_listed_etag[S3_ETAG_MAX];
	time_t own_listed_modified;
	struct mesh_input *inputs;
	size_t n_inputs;
	struct mesh mesh;
	/* what this run did, for the summary line the tests read */
	unsigned units_written, wg_sets, link_changes, published, claim_lost;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: clique-boot [--refresh | --leave | --rotate-key | --status [--json]]\n"
		   "                   [--dry-run [--json]] [--config FILE] [--root DIR]\n"
		   "                   [--verbose | --quiet] [--help] [--version]\n"
		   "\n"
		   "Joins this machine to a private WireGuard full mesh whose members find each\n"
		   "other through sealed records in an S3 bucket.\n"
		   "\n"
		   "  (no mode)      first boot: metadata, key, publish, read peers, units, apply\n"
		   "  --refresh      reconcile with the bucket: joins and leaves, sessions kept\n"
		   "  --leave        delete own record and address claim, remove the interface\n"
		   "                 and the units; peers drop this node on their next refresh\n"
		   "  --rotate-key   new WireGuard key pair, record republished (a refresh)\n"
		   "  --status       peers with names, endpoints, handshake age and transfer,\n"
		   "                 from the live device and the cache (no bucket request)\n"
		   "  --dry-run      print what would be written and applied; change nothing\n"
		   "  --json         with --dry-run or --status: JSON\n"
		   "  --config FILE  config file (default " CONFIG_DEFAULT_PATH ")\n"
		   "  --root DIR     prefix every path written (tests, image builds)\n"
		   "  -v, --verbose  debug output;  -q, --quiet  warnings only\n"
		   "\n"
		   "Exit status: 0 ok, 64 usage, 69 metadata/WireGuard unavailable,\n"
		   "75 bucket unreachable (mesh kept from the cache), 78 configuration error.\n");
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{"refresh", no_argument, NULL, 'r'},
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"config", required_argument, NULL, 'c'},
		{"root", required_argument, NULL, 'R'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"leave", no_argument, NULL, 'L'},
		{"status", no_argument, NULL, 'S'},
		{"rotate-key", no_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	unsigned modes = 0;
	int c;

	opt->config_path = CONFIG_DEFAULT_PATH;
	opt->root = "";
	opt->level = LOG_LEVEL_INFO;
	while ((c = getopt_long(argc, argv, "c:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			opt->mode = RUN_MODE_REFRESH;
			modes++;
			break;
		case 'L':
			opt->mode = RUN_MODE_LEAVE;
			modes++;
			break;
		case 'S':
			opt->mode = RUN_MODE_STATUS;
			modes++;
			break;
		case 'K':
			opt->mode = RUN_MODE_ROTATE_KEY;
			modes++;
			break;
		case 'n':
			opt->dry_run = true;
			break;
		case 'j':
			opt->json = true;
			break;
		case 'c':
			opt->config_path = optarg;
			break;
		case 'R':
			opt->root = optarg;
			break;
		case 'v':
			opt->level = LOG_LEVEL_DEBUG;
			break;
		case 'q':
			opt->level = LOG_LEVEL_QUIET;
			break;
		case 'h':
			usage(stdout);
			exit(EX_OK);
		case 'V':
			printf("clique-boot %s\n", CLIQUE_VERSION);
			exit(EX_OK);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		log_warnx("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (modes > 1) {
		log_warnx("--refresh, --leave, --rotate-key and --status exclude each other");
		return -EINVAL;
	}
	if (opt->dry_run && opt->mode != RUN_MODE_BOOT && opt->mode != RUN_MODE_REFRESH) {
		log_warnx("--dry-run goes with a plain run or --refresh only");
		return -EINVAL;
	}
	if (opt->json && !opt->dry_run && opt->mode != RUN_MODE_STATUS) {
		log_warnx("--json needs --dry-run or --status");
		return -EINVAL;
	}
	return 0;
}

static __attribute__((noreturn)) void die(struct run *run, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void run_free(struct run *run);

/* Runs are serialised by the lock, so a temp file of ours found now is a killed run's. */
static void remove_stale_tmp(const struct run *run)
{
	char dir[PATH_MAX], unit[PATH_MAX];
	int r;

	r = fs_remove_stale_tmp(run->state_dir, "");
	if (!r)
		r = config_path(&run->cfg, run->cfg.networkd_dir, dir, sizeof(dir));
	/* "<dir>/90-clique-<if>." : the name every unit of ours starts with */
	if (!r)
		r = nd_unit_path(dir, run->cfg.interface, "", unit, sizeof(unit));
	if (!r)
		r = fs_remove_stale_tmp(dir, strrchr(unit, '/') + 1);
	if (r < 0) {
		errno = -r;
		log_warn("removing temp files left by an interrupted run");
	}
}

static void die(struct run *run, int code, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warnx("%s", line);
	run_free(run);
	exit(code);
}

/* networkd's own rule (S_IRWXO): warn, as it does, but go on. */
static void warn_insecure_files(const struct run *run)
{
	static const struct {
		unsigned bit;
		const char *what;
	} files[] = {
		{CONFIG_INSECURE_CONFIG, "the config file (it holds a secret)"},
		{CONFIG_INSECURE_ACCESS_KEY_FILE, "access_key_file"},
		{CONFIG_INSECURE_SECRET_KEY_FILE, "secret_key_file"},
		{CONFIG_INSECURE_MESH_KEY_FILE, "mesh_key_file"},
	};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(*files); i++)
		if (run->cfg.insecure_files & files[i].bit)
			log_warnx("%s: %s can be read by other users; make it 0600",
				  run->opt.config_path, files[i].what);
}

static void load_config(struct run *run)
{
	extern char **environ;
	struct config_error err = {0};
	int r;

	config_init(&run->cfg);
	snprintf(run->cfg.root, sizeof(run->cfg.root), "%s", run->opt.root);
	r = config_load(&run->cfg, run->opt.config_path, environ, &err);
	if (r == -ENOENT && !err.text[0])
		die(run, EX_CONFIG, "%s: no such file (the config, see --config)",
		    run->opt.config_path);
	if (r < 0)
		die(run, EX_CONFIG, "%s: %s", run->opt.config_path,
		    err.text[0] ? err.text : strerror(-r));
	warn_insecure_files(run);
	if (run->cfg.env_unknown[0])
		log_warnx("environment: %s names no config key; ignored", run->cfg.env_unknown);
	if (http_set_ca_file(run->cfg.ca_file) < 0)
		die(run, EX_OSERR, "out of memory");
	r = config_path(&run->cfg, run->cfg.state_dir, run->state_dir, sizeof(run->state_dir));
	if (r < 0)
		die(run, EX_CONFIG, "state_dir: path too long");
	snprintf(run->state_path, sizeof(run->state_path), "%s/state.json", run->state_dir);
}

static void fetch_metadata(struct run *run)
{
	const struct md_provider *prov;
	char err[512] = "", names[128];
	int r;

	prov = md_provider_select(&run->cfg, "/sys");
	if (!prov)
		die(run, EX_CONFIG,
		    "cannot tell the cloud from DMI sys_vendor; set provider to one of %s",
		    md_provider_names(names, sizeof(names)));
	/* with a cache, no run waits long for a metadata service that is gone: the cache knows
	 * the answer and the refresh timer asks again (DESIGN.md 7) */
	if (run->st.has_metadata && run->cfg.metadata_timeout > 10)
		run->cfg.metadata_timeout = 10;
	r = prov->fetch(&run->cfg, &run->md, err, sizeof(err));
	if (r < 0 && !run->st.has_metadata)
		die(run, EX_UNAVAILABLE, "metadata (%s): %s", prov->name,
		    err[0] ? err : strerror(-r));
	if (r < 0) {
		/* never tear the mesh down for it: bring it up from the last values */
		log_warnx("metadata (%s): %s; %s", prov->name, err[0] ? err : strerror(-r),
			  run->opt.mode == RUN_MODE_BOOT
				  ? "the mesh from the cached metadata, the refresh timer retries"
				  : "keeping the last values");
		run->md = run->st.metadata;
		run->metadata_failed = run->opt.mode == RUN_MODE_BOOT;
	}
	md_apply_overrides(&run->cfg, &run->md);
	log_debug("metadata: provider %s id '%s' name '%s' region '%s'", run->md.provider,
		  run->md.id, run->md.name, run->md.region);
}

static void load_keys(struct run *run)
{
	char path[PATH_MAX + 16], pub[KEYS_BASE64_LEN];
	int r;

	keys_derive_mesh(run->cfg.mesh_key, &run->mk);
	snprintf(path, sizeof(path), "%s/private.key", run->state_dir);
	if (run->opt.dry_run && access(path, F_OK) < 0) {
		/* changes nothing: a throwaway key stands in for the one a real run creates */
		keys_generate(run->private_key, run->public_key);
		run->key_created = true;
		return;
	}
	r = keys_load_or_create(path, run->private_key, run->public_key);
	if (r < 0)
		die(run, EX_CONFIG, "%s: %s", path,
		    r == -EINVAL ? "not a WireGuard private key (base64 of 32 bytes)"
				 : strerror(-r));
	run->key_created = r == 1;
	keys_to_base64(run->public_key, pub);
	if (run->key_created)
		log_info("created WireGuard key pair, public key %s", pub);
}

static void build_self(struct run *run)
{
	struct record *self = &run->self;
	int r;

	memset(self, 0, sizeof(*self));
	snprintf(self->name, sizeof(self->name), "%s", run->md.name[0] ? run->md.name : run->md.id);
	snprintf(self->provider, sizeof(self->provider), "%s", run->md.provider);
	snprintf(self->region, sizeof(self->region), "%s", run->md.region);
	r = mesh_zone(&run->cfg, &run->md, self->zone, sizeof(self->zone));
	if (r < 0)
		die(run, EX_CONFIG, "zone: cannot derive a valid zone; set zone =");
	memcpy(self->public_key, run->public_key, sizeof(self->public_key));
	self->address = run->cfg.address;
	self->port = run->cfg.listen_port;
	self->wan = run->md.wan4;
	self->lan = run->md.lan4;
	self->wan6 = run->md.wan6;
	r = record_object_name(run->mk.name, run->cfg.prefix, self->provider, run->md.id,
			       run->self_object, sizeof(run->self_object));
	if (r < 0)
		die(run, EX_CONFIG, "prefix: object name too long");
}

static const char *record_error(int r)
{
	switch (-r) {
	case EMSGSIZE:
		return "larger than 4 KiB";
	case EBADMSG:
		return "not sealed with this mesh key for this object name";
	case EPROTONOSUPPORT:
		return "unknown record version";
	case EINVAL:
		return "invalid payload";
	case ENOENT:
		return "deleted while reading";
	case ENODATA:
		return "empty or larger than 4 KiB";
	default:
		return strerror(-r);
	}
}

/*
 * DESIGN.md 4: an authentic record with an older seq than the one cached for its object is a
 * replay of an old version (whoever can write the bucket can put it back); the cached one stays.
 */
static bool older_than_cached(const struct run *run, const char *object, const struct buf *body)
{
	const struct state_peer *sp = state_find_peer(&run->st, object);
	struct record seen, got;

	if (!sp || !sp->body_len || !body->data)
		return false;
	if (record_open(run->mk.record, object, sp->body, sp->body_len, &seen) < 0 ||
	    record_open(run->mk.record, object, body->data, body->len, &got) < 0 ||
	    got.seq >= seen.seq)
		return false;
	log_warnx("skipping record '%s': seq %llu is older than the %llu already seen", object,
		  (unsigned long long)got.seq, (unsigned long long)seen.seq);
	return true;
}

/* Objects whose ETag differs from the cache, fetched in parallel; failures keep the cache. */
static void fetch_changed(struct run *run)
{
	const struct s3_object **objs;
	const char **keys;
	struct s3_get_result *res;
	size_t i, n = 0;
	int r;

	objs = calloc(run->listing.n + 1, sizeof(*objs));
	keys = calloc(run->listing.n + 1, sizeof(*keys));
	res = calloc(run->listing.n + 1, sizeof(*res));
	if (!objs || !keys || !res)
		die(run, EX_OSERR, "out of memory");
	for (i = 0; i < run->listing.n; i++) {
		const struct s3_object *o = &run->listing.objects[i];
		const struct state_peer *sp = state_find_peer(&run->st, o->key);

		if (!strcmp(o->key, run->self_object))
			continue;
		if (sp && !strcmp(sp->etag, o->etag))
			continue;
		objs[n] = o;
		keys[n++] = o->key;
	}
	r = n ? s3_get_many(&run->s3, keys, n, RECORD_MAX_SIZE, res) : 0;
	if (r < 0)
		die(run, EX_OSERR, "bucket: %s", strerror(-r));
	for (i = 0; i < n; i++) {
		const struct s3_object *o = objs[i];
		const char *etag = res[i].etag[0] ? res[i].etag : o->etag;

		if (res[i].result == -EMSGSIZE) {
			/* cached empty, so it is not fetched again until it changes (and
			 * open_records() warns) */
			r = state_put_peer(&run->st, o->key, o->etag, o->last_modified, "", 0);
		} else if (res[i].result == -ENOENT) {
			r = 0; /* deleted since the listing: gone at the next refresh */
		} else if (res[i].result < 0) {
			log_warnx("bucket: GET '%s' failed (%s)", o->key,
				  res[i].error[0] ? res[i].error : strerror(-res[i].result));
			run->bucket_failed = true;
			r = 0;
		} else if (older_than_cached(run, o->key, &res[i].body)) {
			r = 0; /* warned; the record already seen stays */
		} else {
			r = state_put_peer(&run->st, o->key, etag, o->last_modified,
					   res[i].body.data ? res[i].body.data : "",
					   res[i].body.len);
		}
		if (r < 0)
			die(run, EX_OSERR, "out of memory");
	}
	s3_get_results_free(res, n);
	free(res);
	free(keys);
	free(objs);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* After a complete listing, objects no longer in the bucket leave the cache: they left. */
static void drop_unlisted(struct run *run)
{
	const char **listed;
	size_t i, kept = 0;

	listed = calloc(run->listing.n + 1, sizeof(*listed));
	if (!listed)
		die(run, EX_OSERR, "out of memory");
	for (i = 0; i < run->listing.n; i++)
		listed[i] = run->listing.objects[i].key;
	qsort(listed, run->listing.n, sizeof(*listed), cmp_str_ptr);
	for (i = 0; i < run->st.n_peers; i++) {
		const char *key = run->st.peers[i].object;

		if (bsearch(&key, listed, run->listing.n, sizeof(*listed), cmp_str_ptr))
			run->st.peers[kept++] = run->st.peers[i];
		else
			free(run->st.peers[i].body);
	}
	run->st.n_peers = kept;
	free(listed);
}

/* The server's reason when there is one ("HTTP 403 SignatureDoesNotMatch"), else errno's. */
static const char *s3_error(const struct run *run, int r)
{
	return run->s3.last_error[0] ? run->s3.last_error : strerror(-r);
}

/* The S3 client, once per run, just before the first bucket request. */
static void open_bucket(struct run *run)
{
	if (s3_client_init(&run->s3, &run->cfg) < 0)
		die(run, EX_CONFIG, "bucket_endpoint: '%s' is not a usable URL",
		    run->cfg.bucket_endpoint);
	/* the offset the last run learned: the first request is signed right (no 403 first) */
	if (run->st.clock_offset && !strcmp(run->st.clock_endpoint, run->s3.endpoint)) {
		run->s3.clock_offset = run->st.clock_offset;
		log_debug("bucket clock %+ld s from ours (kept from the last run)",
			  run->s3.clock_offset);
	}
	if (!strncmp(run->cfg.bucket_endpoint, "http://", 7))
		log_warnx(
			"bucket_endpoint %s is plain http: bucket traffic is neither encrypted nor "
			"authenticated (use https)",
			run->cfg.bucket_endpoint);
}

static void read_bucket(struct run *run)
{
	char prefix[RECORD_OBJECT_MAX];
	size_t i;
	int r;

	open_bucket(run);
	snprintf(prefix, sizeof(prefix), "%snodes/", run->cfg.prefix);
	r = s3_list(&run->s3, prefix, &run->listing);
	if (r < 0) {
		log_warnx("bucket %s/%s: listing failed (%s); using %zu cached peers",
			  run->cfg.bucket_endpoint, run->cfg.bucket, s3_error(run, r),
			  run->st.n_peers);
		run->bucket_failed = true;
		return;
	}
	for (i = 0; i < run->listing.n; i++) {
		if (!strcmp(run->listing.objects[i].key, run->self_object)) {
			run->own_listed = true;
			snprintf(run->own_listed_etag, sizeof(run->own_listed_etag), "%s",
				 run->listing.objects[i].etag);
			run->own_listed_modified = run->listing.objects[i].last_modified;
		}
	}
	drop_unlisted(run);
	fetch_changed(run);
}

/* Opens every cached record; a bad one is skipped with one warning naming its object. */
static void open_records(struct run *run)
{
	size_t i;

	run->inputs = calloc(run->st.n_peers + 1, sizeof(*run->inputs));
	if (!run->inputs)
		die(run, EX_OSERR, "out of memory");
	for (i = 0; i < run->st.n_peers; i++) {
		const struct state_peer *sp = &run->st.peers[i];
		struct mesh_input *in = &run->inputs[run->n_inputs];
		int r;

		if (!strcmp(sp->object, run->self_object))
			continue;
		/* fetch_changed() caches an oversized record empty: warned here, once a run */
		r = sp->body_len ? record_open(run->mk.record, sp->object, sp->body, sp->body_len,
					       &in->rec)
				 : -ENODATA;
		if (r < 0) {
			log_warnx("skipping record '%s': %s", sp->object, record_error(r));
			continue;
		}
		snprintf(in->object, sizeof(in->object), "%s", sp->object);
		in->last_modified = sp->last_modified;
		run->n_inputs++;
	}
}

/* The bucket the probe's answer is about: a changed endpoint, bucket or prefix asks again. */
static void bucket_id(const struct run *run, char *out, size_t len)
{
	snprintf(out, len, "%s/%s/%s", run->cfg.bucket_endpoint, run->cfg.bucket, run->cfg.prefix);
}

static bool in_pool(const struct config *cfg, const struct ip_addr *a)
{
	uint32_t x = ntohl(a->v4.s_addr);

	return a->family == AF_INET && x >= ntohl(cfg->pool_start.v4.s_addr) &&
	       x <= ntohl(cfg->pool_end.v4.s_addr);
}

/* Held by a record we can read: skipped without a request (claims stay the truth). */
static bool address_taken(const struct run *run, const struct ip_addr *a)
{
	size_t i;

	for (i = 0; i < run->n_inputs; i++)
		if (addr_equal(&run->inputs[i].rec.address, a))
			return true;
	return false;
}

static void probe_bucket(struct run *run, struct claim_ctx *ctx)
{
	char id[sizeof(run->st.cond_put_bucket)];
	int r;

	bucket_id(run, id, sizeof(id));
	if (run->st.cond_put != STATE_COND_PUT_UNKNOWN && !strcmp(run->st.cond_put_bucket, id)) {
		ctx->honoured = run->st.cond_put == STATE_COND_PUT_HONOURED;
		return;
	}
	r = claim_probe(&run->s3, run->cfg.prefix);
	if (r < 0)
		die(run, EX_TEMPFAIL, "bucket: probing conditional PUT: %s", s3_error(run, r));
	ctx->honoured = r == 1;
	run->st.cond_put = r == 1 ? STATE_COND_PUT_HONOURED : STATE_COND_PUT_IGNORED;
	snprintf(run->st.cond_put_bucket, sizeof(run->st.cond_put_bucket), "%s", id);
	if (!r)
		log_warnx(
			"bucket %s/%s ignores If-None-Match; address claims use write-then-verify",
			run->cfg.bucket_endpoint, run->cfg.bucket);
}

/* A node that lost its state finds its last address in its own record, if still listed. */
static int own_record_address(struct run *run, struct ip_addr *ret)
{
	struct record rec;
	struct buf body;
	int r;

	if (!run->own_listed)
		return -ENOENT;
	buf_init(&body, RECORD_MAX_SIZE);
	r = s3_get(&run->s3, run->self_object, RECORD_MAX_SIZE, &body, NULL);
	if (!r)
		r = record_open(run->mk.record, run->self_object, body.data ? body.data : "",
				body.len, &rec);
	buf_free(&body);
	if (r < 0)
		return r;
	*ret = rec.address;
	return 0;
}

#define CLAIM_MAX_TRIES 64

/* First candidate from a hash of the node, then the next free one (DESIGN.md 5). */
static int claim_walk(struct run *run, struct claim_ctx *ctx, struct ip_addr *ret, char *object)
{
	uint32_t size = claim_pool_size(&run->cfg.pool_start, &run->cfg.pool_end), i, tries = 0;
	struct ip_addr a;
	int r;

	if (!own_record_address(run, &a) && in_pool(&run->cfg, &a)) {
		r = claim_try(ctx, &a, object);
		if (r != 0)
			goto out;
	}
	for (i = 0; i < size && tries < CLAIM_MAX_TRIES; i++) {
		r = claim_candidate(run->mk.name, run->self_object, &run->cfg.pool_start,
				    &run->cfg.pool_end, i, &a);
		if (r < 0)
			return r;
		if (address_taken(run, &a))
			continue;
		tries++;
		r = claim_try(ctx, &a, object);
		if (r != 0)
			goto out;
	}
	return -EADDRNOTAVAIL;
out:
	if (r == 1)
		*ret = a;
	return r;
}

/* dry-run: the first candidate no record holds, claimed by nobody. */
static void preview_address(struct run *run)
{
	uint32_t size = claim_pool_size(&run->cfg.pool_start, &run->cfg.pool_end), i;
	struct ip_addr a;

	for (i = 0; i < size; i++) {
		if (claim_candidate(run->mk.name, run->self_object, &run->cfg.pool_start,
				    &run->cfg.pool_end, i, &a) < 0)
			break;
		if (!address_taken(run, &a)) {
			run->cfg.address = a;
			run->address_preview = true;
			return;
		}
	}
	die(run, EX_CONFIG, "pool: no free address");
}

static void release_claim(struct run *run)
{
	int r;

	if (!run->st.claim_object[0])
		return;
	r = s3_delete(&run->s3, run->st.claim_object);
	if (r < 0) {
		log_warnx("bucket: releasing address claim '%s' failed (%s)", run->st.claim_object,
			  s3_error(run, r));
		run->bucket_failed = true;
		return;
	}
	memset(&run->st.claim_address, 0, sizeof(run->st.claim_address));
	run->st.claim_object[0] = '\0';
}

static void take_claim(struct run *run, const struct ip_addr *a, const char *object)
{
	char s[ADDR_STRLEN];

	if (!addr_equal(&run->st.claim_address, a) || strcmp(run->st.claim_object, object))
		log_info("claimed address %s", addr_fmt(a, s));
	run->st.claim_address = *a;
	snprintf(run->st.claim_object, sizeof(run->st.claim_object), "%s", object);
	run->cfg.address = *a;
}

/*
 * address = auto. A refresh trusts the claim it holds (the no-change path stays one LIST); a
 * boot re-asserts it, which also recreates a claim someone deleted.
 */
static void acquire_address(struct run *run)
{
	struct state *st = &run->st;
	struct claim_ctx ctx = {
		.s3 = &run->s3,
		.name_key = run->mk.name,
		.record_key = run->mk.record,
		.prefix = run->cfg.prefix,
		.node = run->self_object,
	};
	char object[RECORD_OBJECT_MAX], s[ADDR_STRLEN], e[ADDR_STRLEN], f[ADDR_STRLEN];
	bool cached = st->claim_address.family && in_pool(&run->cfg, &st->claim_address);
	struct ip_addr a;
	int r;

	if (!run->cfg.address_auto)
		goto out;
	if (cached && (run->opt.mode != RUN_MODE_BOOT || run->bucket_failed || run->opt.dry_run)) {
		run->cfg.address = st->claim_address;
		goto out;
	}
	if (run->opt.dry_run) {
		preview_address(run);
		goto out;
	}
	if (run->bucket_failed)
		die(run, EX_TEMPFAIL,
		    "address = auto: no address claimed yet and the bucket is unreachable");
	probe_bucket(run, &ctx);
	if (cached) {
		r = claim_try(&ctx, &st->claim_address, object);
		run->claim_lost += ctx.lost;
		ctx.lost = 0;
		if (r == 1) {
			take_claim(run, &st->claim_address, object);
			goto out;
		}
		if (r < 0) {
			log_warnx("bucket: checking the claim on %s failed (%s); keeping it",
				  addr_fmt(&st->claim_address, s), s3_error(run, r));
			run->bucket_failed = true;
			run->cfg.address = st->claim_address;
			goto out;
		}
		log_warnx("address %s is now claimed by another node; claiming another",
			  addr_fmt(&st->claim_address, s));
	} else if (st->claim_address.family) {
		log_info("address %s is outside pool %s-%s; releasing it",
			 addr_fmt(&st->claim_address, s), addr_fmt(&run->cfg.pool_start, e),
			 addr_fmt(&run->cfg.pool_end, f));
		release_claim(run);
	}
	r = claim_walk(run, &ctx, &a, object);
	run->claim_lost += ctx.lost;
	if (r == -EADDRNOTAVAIL)
		die(run, EX_CONFIG, "pool %s-%s: no free address after %u claims",
		    addr_fmt(&run->cfg.pool_start, s), addr_fmt(&run->cfg.pool_end, e),
		    CLAIM_MAX_TRIES);
	if (r < 0)
		die(run, EX_TEMPFAIL, "bucket: claiming an address: %s", s3_error(run, r));
	take_claim(run, &a, object);
out:
	run->self.address = run->cfg.address;
}

static time_t server_now(const struct run *run)
{
	return time(NULL) + run->s3.clock_offset;
}

static void build_mesh(struct run *run)
{
	char q[256];
	size_t i;
	int r;

	r = mesh_build(&run->cfg, &run->self, run->private_key, run->mk.psk, run->inputs,
		       run->n_inputs, server_now(run), &run->mesh);
	/* the mesh holds its own copies: ~0.9 KB a record less for the rest of the run */
	free(run->inputs);
	run->inputs = NULL;
	run->n_inputs = 0;
	if (r < 0)
		die(run, EX_SOFTWARE, "mesh: %s", strerror(-r));
	for (i = 0; i < run->mesh.n_skipped; i++)
		log_warnx("skipping record '%s': %s", run->mesh.skipped[i].object,
			  run->mesh.skipped[i].reason);
	if (run->mesh.address_conflict[0] && !run->own_listed && run->opt.mode != RUN_MODE_STATUS) {
		char a[ADDR_STRLEN];

		die(run, EX_CONFIG,
		    "address %s is already held by node '%s'; choose another address",
		    addr_fmt(&run->cfg.address, a),
		    log_quote(q, sizeof(q), run->mesh.address_conflict,
			      sizeof(run->mesh.address_conflict)));
	}
}

/* Digest of what peers see of us; the volatile fields (updated, seq) are left out. */
static void self_digest(const struct record *r, uint8_t out[32])
{
	char text[1024], wan[ADDR_STRLEN], lan[ADDR_STRLEN], wan6[ADDR_STRLEN], a[ADDR_STRLEN];
	int n;

	crypto_generichash_state h;

	n = snprintf(text, sizeof(text), "%s|%s|%s|%s|%s|%u|%s|%s|%s|", r->name, r->provider,
		     r->region, r->zone, addr_fmt(&r->address, a), r->port, addr_fmt(&r->wan, wan),
		     addr_fmt(&r->lan, lan), addr_fmt(&r->wan6, wan6));
	crypto_generichash_init(&h, NULL, 0, 32);
	crypto_generichash_update(&h, (const uint8_t *)text, n);
	crypto_generichash_update(&h, r->public_key, sizeof(r->public_key));
	crypto_generichash_final(&h, out, 32);
}

/* Peers judge expiry by the bucket's LastModified: rewrite an unchanged record at half time. */
static bool own_record_expiring(const struct run *run, time_t now)
{
	uint32_t half = run->cfg.expire_after / 2;

	return half && run->own_listed_modified + (time_t)half <= now;
}

static void publish_self(struct run *run)
{
	struct state *st = &run->st;
	uint8_t digest[32];
	char etag[S3_ETAG_MAX] = "";
	struct buf sealed;
	time_t now = server_now(run);
	int r;

	if (run->bucket_failed)
		return;
	self_digest(&run->self, digest);
	if (run->own_listed && !strcmp(run->own_listed_etag, st->self_etag) &&
	    !strcmp(st->self_object, run->self_object) &&
	    !sodium_memcmp(digest, st->self_digest, sizeof(digest)) &&
	    !own_record_expiring(run, now))
		return;
	run->self.created = st->self_created ? st->self_created : (uint64_t)now;
	run->self.updated = now;
	/* seq only grows, also across a clock that jumps back */
	run->self.seq = st->self_seq + 1 > (uint64_t)now ? st->self_seq + 1 : (uint64_t)now;
	buf_init(&sealed, RECORD_MAX_SIZE);
	r = record_seal(run->mk.record, run->self_object, &run->self, &sealed);
	if (r < 0)
		die(run, EX_SOFTWARE, "record: %s", strerror(-r));
	r = s3_put(&run->s3, run->self_object, sealed.data, sealed.len, 0, etag);
	buf_free(&sealed);
	if (r < 0) {
		log_warnx("bucket: publishing own record '%s' failed (%s)", run->self_object,
			  s3_error(run, r));
		run->bucket_failed = true;
		return;
	}
	snprintf(st->self_object, sizeof(st->self_object), "%s", run->self_object);
	snprintf(st->self_etag, sizeof(st->self_etag), "%s", etag);
	st->self_seq = run->self.seq;
	st->self_created = run->self.created;
	memcpy(st->self_digest, digest, sizeof(digest));
	run->published = 1;
	log_info("published own record %s (seq %llu)", run->self_object,
		 (unsigned long long)run->self.seq);
}

static void write_units(struct run *run)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct buf netdev, network;
	int r;

	buf_init(&netdev, 1 << 24);
	buf_init(&network, 1 << 16);
	r = nd_render(&run->cfg, &run->mesh, &netdev, &network);
	if (r < 0)
		die(run, EX_SOFTWARE, "networkd: render: %s", strerror(-r));
	r = config_path(&run->cfg, run->cfg.networkd_dir, dir, sizeof(dir));
	if (!r)
		r = fs_mkdir_p(dir, 0755);
	if (!r)
		r = nd_unit_path(dir, run->cfg.interface, "netdev", path, sizeof(path));
	if (!r)
		r = nd_write_if_changed(path, netdev.data, netdev.len);
	if (r > 0)
		run->units_written++;
	if (r >= 0)
		r = nd_unit_path(dir, run->cfg.interface, "network", path, sizeof(path));
	if (r >= 0)
		r = nd_write_if_changed(path, network.data, network.len);
	if (r > 0)
		run->units_written++;
	buf_free(&netdev);
	buf_free(&network);
	if (r < 0)
		die(run, EX_CANTCREAT, "networkd units in %s: %s", dir, strerror(-r));
}

/*
 * Peers held back by mesh_hold_keepalive get their keepalive once the peer that starts had a
 * moment to do so (a LAN or WAN round trip is far below HOLD_MS): with a session, the keepalive
 * goes over it; without (that peer does not know us yet), our initiation is the only one.
 */
#define HOLD_MS 1000
static int release_held(struct run *run, const struct wg_backend *be, const struct wg_device *want)
{
	struct wg_device *live = NULL, *changes = NULL;
	int r;

	clock_sleep_ms(HOLD_MS);
	r = be->get(run->cfg.interface, &live);
	if (!r)
		r = wg_diff(live, want, &changes);
	if (!r && !wg_device_is_noop(changes)) {
		r = be->set(changes);
		run->wg_sets++;
	}
	wg_device_free(changes);
	wg_device_free(live);
	return r;
}

static void apply_device(struct run *run)
{
	const struct wg_backend *be;
	struct wg_device *live = NULL, *want = NULL, *changes = NULL;
	struct ip_prefix addr = {.addr = run->cfg.address, .len = run->cfg.network.len};
	time_t now = server_now(run);
	bool created = false;
	size_t held = 0;
	int r, changed = 0;

	r = wg_backend_open(&run->cfg, &be, &created);
	if (r == -EOPNOTSUPP && run->cfg.backend == CONFIG_BACKEND_KERNEL)
		die(run, EX_UNAVAILABLE, "kernel has no WireGuard (backend = kernel)");
	if (r == -EOPNOTSUPP)
		die(run, EX_UNAVAILABLE, "kernel has no WireGuard and '%s' is not installed",
		    run->cfg.userspace_command);
	if (r == -EPERM)
		die(run, EX_NOPERM, "%s: needs CAP_NET_ADMIN", run->cfg.interface);
	if (r < 0)
		die(run, EX_UNAVAILABLE, "%s: cannot create the WireGuard device: %s",
		    run->cfg.interface, strerror(-r));
	if (created)
		log_info("%s: created (%s backend)", run->cfg.interface, be->name);
	r = be->get(run->cfg.interface, &live);
	if (!r)
		r = mesh_to_device(&run->cfg, &run->mesh, &want);
	if (!r)
		r = wg_diff(live, want, &changes);
	/* of two nodes joining together, only one initiates first (mesh.h) */
	if (!r)
		held = mesh_hold_keepalive(
			&run->mesh, run->st.self_created ? run->st.self_created : (uint64_t)now,
			now, live, changes);
	if (!r && !wg_device_is_noop(changes)) {
		r = be->set(changes);
		run->wg_sets++;
	}
	wg_device_free(changes);
	wg_device_free(live);
	if (r >= 0) {
		r = link_configure(run->cfg.interface, run->cfg.mtu, &addr, &changed);
		if (r < 0) {
			wg_device_free(want);
			die(run, EX_UNAVAILABLE, "%s: address, MTU or link state: %s",
			    run->cfg.interface, strerror(-r));
		}
		run->link_changes = changed;
	}
	if (r >= 0 && held)
		r = release_held(run, be, want);
	wg_device_free(want);
	if (r < 0) {
		errno = -r;
		log_warn("%s: applying the mesh (%s backend)", run->cfg.interface, be->name);
		die(run, EX_UNAVAILABLE, "%s: the device was not configured", run->cfg.interface);
	}
}

static void save_state(struct run *run)
{
	int r;

	run->st.metadata = run->md;
	run->st.has_metadata = true;
	run->st.left = false;
	/* read_bucket started from the kept offset: unchanged unless a Date header moved it */
	run->st.clock_offset = run->s3.clock_offset;
	snprintf(run->st.clock_endpoint, sizeof(run->st.clock_endpoint), "%s", run->s3.endpoint);
	r = state_save(run->state_path, &run->st);
	if (r < 0)
		die(run, EX_CANTCREAT, "%s: %s", run->state_path, strerror(-r));
}

static void count_paths(const struct mesh *m, unsigned count[4])
{
	size_t i;

	memset(count, 0, 4 * sizeof(*count));
	for (i = 0; i < m->n_peers; i++)
		count[m->peers[i].path]++;
}

/* CPU time of this run so far (user + system), for the cost figures of DESIGN.md 9. */
static long cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

static void print_summary(const struct run *run)
{
	unsigned paths[4];
	char a[ADDR_STRLEN];

	count_paths(&run->mesh, paths);
	log_info("%s %s/%u zone %s: %zu peers (%u lan, %u wan, %u wan6, %u without endpoint), "
		 "%zu skipped",
		 run->cfg.interface, addr_fmt(&run->cfg.address, a), run->cfg.network.len,
		 run->self.zone, run->mesh.n_peers, paths[MESH_PATH_LAN], paths[MESH_PATH_WAN],
		 paths[MESH_PATH_WAN6], paths[MESH_PATH_NONE], run->mesh.n_skipped);
	/* one stable line for operators' scripts and the tests (request and change counters) */
	log_info("summary: peers=%zu skipped=%zu list=%u get=%u put=%u retries=%u units_written=%u "
		 "wg_set=%u link_changed=%u bucket=%s delete=%u claim_lost=%u cpu_us=%ld",
		 run->mesh.n_peers, run->mesh.n_skipped, run->s3.stats.list, run->s3.stats.get,
		 run->s3.stats.put, run->s3.stats.retries, run->units_written, run->wg_sets,
		 run->link_changes, run->bucket_failed ? "unreachable" : "ok", run->s3.stats.del,
		 run->claim_lost, cpu_us());
}

static void json_set_ip(json_t *o, const char *key, const struct ip_addr *a)
{
	char s[ADDR_STRLEN];

	if (a->family)
		json_object_set_new(o, key, json_string(addr_fmt(a, s)));
}

/* Where the node's region, zone and addresses came from (metadata/provider.h md_origin). */
static json_t *origin_json(const struct run *run)
{
	const struct md_origin *o = &run->md.origin;
	json_t *j = json_object();
	char zone[2 * MD_ORIGIN_MAX + 32];

	if (run->cfg.zone[0])
		snprintf(zone, sizeof(zone), "config zone");
	else
		snprintf(zone, sizeof(zone), "provider + %s%s%s",
			 o->region[0] ? o->region : "region", o->private_net[0] ? " + " : "",
			 o->private_net);
	json_object_set_new(j, "zone", json_string(zone));
	json_object_set_new(j, "region", json_string(o->region));
	json_object_set_new(j, "private_net", json_string(o->private_net));
	json_object_set_new(j, "wan", json_string(o->wan4));
	json_object_set_new(j, "lan", json_string(o->lan4));
	json_object_set_new(j, "wan6", json_string(o->wan6));
	return j;
}

static json_t *dry_run_json(const struct run *run)
{
	char pub[KEYS_BASE64_LEN], a[ADDR_STRLEN], ep[ADDR_STRLEN], cidr[ADDR_STRLEN + 8];
	json_t *root, *self, *eps, *peers, *skipped;
	size_t i;

	keys_to_base64(run->public_key, pub);
	eps = json_object();
	json_set_ip(eps, "wan", &run->self.wan);
	json_set_ip(eps, "lan", &run->self.lan);
	json_set_ip(eps, "wan6", &run->self.wan6);
	self = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:s, s:b}", "name",
			 run->self.name, "provider", run->self.provider, "region", run->self.region,
			 "zone", run->self.zone, "address", addr_fmt(&run->cfg.address, a),
			 "public_key", pub, "listen_port", run->cfg.listen_port, "endpoints", eps,
			 "object", run->self_object, "key_would_be_created", run->key_created);
	json_object_set_new(self, "origin", origin_json(run));
	if (run->address_preview)
		json_object_set_new(self, "address_would_be_claimed", json_true());
	peers = json_array();
	for (i = 0; i < run->mesh.n_peers; i++) {
		const struct mesh_peer *p = &run->mesh.peers[i];

		keys_to_base64(p->rec.public_key, pub);
		snprintf(cidr, sizeof(cidr), "%s/32", addr_fmt(&p->rec.address, a));
		json_array_append_new(
			peers,
			json_pack("{s:s, s:s, s:s, s:s?, s:s, s:[s], s:s}", "name", p->rec.name,
				  "zone", p->rec.zone, "public_key", pub, "endpoint",
				  p->path == MESH_PATH_NONE
					  ? NULL
					  : addr_fmt_endpoint(&p->endpoint, p->endpoint_port, ep),
				  "path", mesh_path_name(p->path), "allowed_ips", cidr, "object",
				  p->object));
	}
	skipped = json_array();
	for (i = 0; i < run->mesh.n_skipped; i++)
		json_array_append_new(skipped,
				      json_pack("{s:s, s:s}", "object", run->mesh.skipped[i].object,
						"reason", run->mesh.skipped[i].reason));
	root = json_pack("{s:o, s:s, s:o, s:o}", "self", self, "interface", run->cfg.interface,
			 "peers", peers, "skipped", skipped);
	return root;
}

static void print_dry_run(const struct run *run)
{
	char a[ADDR_STRLEN], ep[ADDR_STRLEN], pub[KEYS_BASE64_LEN];
	size_t i;

	if (run->opt.json) {
		json_t *root = dry_run_json(run);

		if (!root || json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
			fprintf(stderr, "clique-boot: cannot render JSON\n");
		putchar('\n');
		json_decref(root);
		return;
	}
	keys_to_base64(run->public_key, pub);
	printf("self %s %s/%u zone %s key %s%s%s\n", run->self.name, addr_fmt(&run->cfg.address, a),
	       run->cfg.network.len, run->self.zone, pub,
	       run->address_preview ? " (address would be claimed)" : "",
	       run->key_created ? " (key would be created)" : "");
	for (i = 0; i < run->mesh.n_peers; i++) {
		const struct mesh_peer *p = &run->mesh.peers[i];

		keys_to_base64(p->rec.public_key, pub);
		printf("peer %s %s/32 zone %s %s %s key %s\n", p->rec.name,
		       addr_fmt(&p->rec.address, a), p->rec.zone, mesh_path_name(p->path),
		       p->path == MESH_PATH_NONE
			       ? "-"
			       : addr_fmt_endpoint(&p->endpoint, p->endpoint_port, ep),
		       pub);
	}
	for (i = 0; i < run->mesh.n_skipped; i++)
		printf("skipped %s: %s\n", run->mesh.skipped[i].object,
		       run->mesh.skipped[i].reason);
}

/* The live device without creating one: NULL (and 0) when there is none. */
static int live_device(const struct config *cfg, struct wg_device **ret, const char **ret_backend)
{
	const struct wg_backend *be = NULL;
	char kind[32];
	int r;

	*ret = NULL;
	r = wg_backend_uapi.owns(cfg->interface);
	if (r > 0)
		be = &wg_backend_uapi;
	else if (r == 0 && !link_get_kind(cfg->interface, kind, sizeof(kind)) &&
		 !strcmp(kind, "wireguard"))
		be = &wg_backend_kernel;
	if (!be)
		return r < 0 ? r : 0;
	*ret_backend = be->name;
	return be->get(cfg->interface, ret);
}

static void remove_device(struct run *run)
{
	const char *ifname = run->cfg.interface;
	char kind[32];
	int r;

	r = wg_backend_uapi.owns(ifname);
	if (r > 0) {
		r = wg_backend_uapi.destroy(ifname);
	} else if (r == 0) {
		r = link_get_kind(ifname, kind, sizeof(kind));
		if (r == -ENODEV)
			return;
		/* a link of another kind under our name is not ours to delete */
		if (!r && strcmp(kind, "wireguard"))
			r = -EEXIST;
		if (!r)
			r = wg_backend_kernel.destroy(ifname);
	}
	if (r == -ENODEV)
		return;
	if (r < 0)
		die(run, EX_UNAVAILABLE, "%s: cannot remove the interface: %s", ifname,
		    strerror(-r));
	run->link_changes++;
	log_info("%s: removed", ifname);
}

static void remove_units(struct run *run)
{
	static const char *const exts[] = {"netdev", "network"};
	char dir[PATH_MAX], path[PATH_MAX];
	size_t i;
	int r;

	r = config_path(&run->cfg, run->cfg.networkd_dir, dir, sizeof(dir));
	for (i = 0; !r && i < sizeof(exts) / sizeof(*exts); i++) {
		r = nd_unit_path(dir, run->cfg.interface, exts[i], path, sizeof(path));
		if (!r)
			r = nd_remove(path);
		if (r > 0) {
			run->units_written++;
			r = 0;
		}
	}
	if (r < 0)
		die(run, EX_CANTCREAT, "networkd units in %s: %s", dir, strerror(-r));
}

/*
 * --leave: the record and the claim go first, so peers drop us on their next refresh; the
 * interface and units go even when the bucket fails (exit 75: run --leave again to finish).
 * The key, metadata and probe result stay; "left" keeps the refresh timer from rejoining.
 */
static void leave(struct run *run)
{
	struct state *st = &run->st;
	int r;

	keys_derive_mesh(run->cfg.mesh_key, &run->mk);
	if (st->has_metadata)
		run->md = st->metadata;
	else
		fetch_metadata(run);
	build_self(run);
	open_bucket(run);
	r = s3_delete(&run->s3, run->self_object);
	if (r < 0) {
		log_warnx("bucket: deleting own record '%s' failed (%s)", run->self_object,
			  s3_error(run, r));
		run->bucket_failed = true;
	} else {
		log_info("deleted own record %s", run->self_object);
		memset(st->self_object, 0, sizeof(st->self_object));
		memset(st->self_etag, 0, sizeof(st->self_etag));
		memset(st->self_digest, 0, sizeof(st->self_digest));
		release_claim(run);
	}
	remove_device(run);
	remove_units(run);
	if (!run->bucket_failed) {
		size_t i;

		for (i = 0; i < st->n_peers; i++)
			free(st->peers[i].body);
		st->n_peers = 0;
	}
	st->left = true;
	r = state_save(run->state_path, st);
	if (r < 0)
		die(run, EX_CANTCREAT, "%s: %s", run->state_path, strerror(-r));
	log_info("summary: left list=%u get=%u put=%u delete=%u units_removed=%u "
		 "link_removed=%u bucket=%s",
		 run->s3.stats.list, run->s3.stats.get, run->s3.stats.put, run->s3.stats.del,
		 run->units_written, run->link_changes, run->bucket_failed ? "unreachable" : "ok");
}

/* RFC 3339-free and locale-free: "12s", "3m04s", "2h05m", "-" for never. */
static const char *age_fmt(int64_t hs, time_t now, char *out, size_t len)
{
	int64_t age = now - hs;

	if (!hs)
		snprintf(out, len, "never");
	else if (age < 120)
		snprintf(out, len, "%llds ago", (long long)(age < 0 ? 0 : age));
	else if (age < 7200)
		snprintf(out, len, "%lldm%02llds ago", (long long)age / 60, (long long)age % 60);
	else
		snprintf(out, len, "%lldh%02lldm ago", (long long)age / 3600,
			 (long long)age / 60 % 60);
	return out;
}

static json_t *status_peer_json(const struct mesh_peer *p, const struct wg_peer *lp, time_t now)
{
	char pub[KEYS_BASE64_LEN], a[ADDR_STRLEN], ep[ADDR_STRLEN];
	const char *endpoint = NULL;
	int64_t hs = lp ? lp->last_handshake_sec : 0;

	keys_to_base64(p->rec.public_key, pub);
	if (lp && lp->endpoint.addr.family)
		endpoint = addr_fmt_endpoint(&lp->endpoint.addr, lp->endpoint.port, ep);
	else if (p->path != MESH_PATH_NONE)
		endpoint = addr_fmt_endpoint(&p->endpoint, p->endpoint_port, ep);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:b, s:I, s:o, s:I, s:I}", "name",
			 p->rec.name, "zone", p->rec.zone, "address", addr_fmt(&p->rec.address, a),
			 "public_key", pub, "path", mesh_path_name(p->path), "endpoint", endpoint,
			 "on_device", lp != NULL, "handshaken", hs != 0, "latest_handshake",
			 (json_int_t)hs, "handshake_age", hs ? json_integer(now - hs) : json_null(),
			 "rx_bytes", (json_int_t)(lp ? lp->rx_bytes : 0), "tx_bytes",
			 (json_int_t)(lp ? lp->tx_bytes : 0));
}

static void print_status_json(const struct run *run, const struct wg_device *live,
			      const char *backend, time_t now)
{
	char pub[KEYS_BASE64_LEN], a[ADDR_STRLEN];
	json_t *root, *peers = json_array(), *pending = json_array(), *unknown = json_array();
	size_t i;

	for (i = 0; i < run->mesh.n_peers; i++) {
		const struct mesh_peer *p = &run->mesh.peers[i];
		const struct wg_peer *lp =
			live ? wg_device_find_peer(live, p->rec.public_key) : NULL;

		json_array_append_new(peers, status_peer_json(p, lp, now));
		if (!lp || !lp->last_handshake_sec)
			json_array_append_new(pending, json_string(p->rec.name));
	}
	for (i = 0; live && i < live->n_peers; i++) {
		const struct wg_peer *lp = &live->peers[i];
		size_t j;

		for (j = 0; j < run->mesh.n_peers; j++)
			if (!memcmp(run->mesh.peers[j].rec.public_key, lp->public_key, WG_KEY_LEN))
				break;
		if (j == run->mesh.n_peers) {
			keys_to_base64(lp->public_key, pub);
			json_array_append_new(unknown, json_string(pub));
		}
	}
	keys_to_base64(run->public_key, pub);
	root = json_pack("{s:s, s:b, s:s?, s:{s:s, s:s, s:s, s:s}, s:o, s:o, s:o, s:I}",
			 "interface", run->cfg.interface, "up", live != NULL, "backend",
			 live ? backend : NULL, "self", "name", run->self.name, "address",
			 addr_fmt(&run->cfg.address, a), "zone", run->self.zone, "public_key", pub,
			 "peers", peers, "not_handshaken", pending, "unknown_on_device", unknown,
			 "now", (json_int_t)now);
	if (!root || json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		fprintf(stderr, "clique-boot: cannot render JSON\n");
	putchar('\n');
	json_decref(root);
}

static void print_status_text(const struct run *run, const struct wg_device *live,
			      const char *backend, time_t now)
{
	char a[ADDR_STRLEN], ep[ADDR_STRLEN], age[32];
	size_t i, shaken = 0;

	for (i = 0; live && i < run->mesh.n_peers; i++) {
		const struct wg_peer *lp =
			wg_device_find_peer(live, run->mesh.peers[i].rec.public_key);

		shaken += lp && lp->last_handshake_sec;
	}
	printf("%s %s/%u zone %s: %s, %zu peers in the cache, %zu handshaken\n", run->cfg.interface,
	       addr_fmt(&run->cfg.address, a), run->cfg.network.len, run->self.zone,
	       live ? backend : "down", run->mesh.n_peers, shaken);
	printf("%-20s %-15s %-20s %-4s %-24s %-12s %12s %12s\n", "name", "address", "zone", "path",
	       "endpoint", "handshake", "rx", "tx");
	for (i = 0; i < run->mesh.n_peers; i++) {
		const struct mesh_peer *p = &run->mesh.peers[i];
		const struct wg_peer *lp =
			live ? wg_device_find_peer(live, p->rec.public_key) : NULL;

		if (lp && lp->endpoint.addr.family)
			addr_fmt_endpoint(&lp->endpoint.addr, lp->endpoint.port, ep);
		else if (p->path != MESH_PATH_NONE)
			addr_fmt_endpoint(&p->endpoint, p->endpoint_port, ep);
		else
			snprintf(ep, sizeof(ep), "-");
		printf("%-20s %-15s %-20s %-4s %-24s %-12s %12llu %12llu\n", p->rec.name,
		       addr_fmt(&p->rec.address, a), p->rec.zone, mesh_path_name(p->path), ep,
		       lp ? age_fmt(lp->last_handshake_sec, now, age, sizeof(age))
			  : "not on device",
		       (unsigned long long)(lp ? lp->rx_bytes : 0),
		       (unsigned long long)(lp ? lp->tx_bytes : 0));
	}
}

/* --status: the state cache and the live device only; no lock, no bucket, no metadata. */
static void status(struct run *run)
{
	struct wg_device *live = NULL;
	const char *backend = "";
	char path[PATH_MAX + 16];
	time_t now = time(NULL);
	int r;

	snprintf(path, sizeof(path), "%s/private.key", run->state_dir);
	if (!run->st.has_metadata || access(path, F_OK) < 0 ||
	    (run->cfg.address_auto && !run->st.claim_address.family))
		die(run, EX_UNAVAILABLE, "%s: not joined yet (no state); run clique-boot",
		    run->state_dir);
	run->md = run->st.metadata;
	load_keys(run);
	build_self(run);
	open_records(run);
	if (run->cfg.address_auto)
		run->cfg.address = run->st.claim_address;
	run->self.address = run->cfg.address;
	build_mesh(run);
	r = live_device(&run->cfg, &live, &backend);
	if (r < 0)
		die(run, EX_UNAVAILABLE, "%s: reading the device: %s", run->cfg.interface,
		    strerror(-r));
	if (run->opt.json)
		print_status_json(run, live, backend, now);
	else
		print_status_text(run, live, backend, now);
	wg_device_free(live);
}

/* --rotate-key: a new key replaces the old file atomically; the run goes on as a refresh. */
static void rotate_key(struct run *run)
{
	char path[PATH_MAX + 16], pub[KEYS_BASE64_LEN];
	uint8_t k[KEYS_LEN], p[KEYS_LEN];
	int r;

	snprintf(path, sizeof(path), "%s/private.key", run->state_dir);
	keys_generate(k, p);
	r = keys_write(path, k, 0);
	sodium_memzero(k, sizeof(k));
	if (r < 0)
		die(run, EX_CANTCREAT, "%s: %s", path, strerror(-r));
	keys_to_base64(p, pub);
	log_info("rotated the WireGuard key pair, new public key %s", pub);
}

static void run_free(struct run *run)
{
	mesh_free(&run->mesh);
	free(run->inputs);
	run->inputs = NULL;
	s3_listing_free(&run->listing);
	s3_client_wipe(&run->s3);
	state_free(&run->st);
	keys_mesh_wipe(&run->mk);
	sodium_memzero(run->private_key, sizeof(run->private_key));
	config_wipe(&run->cfg);
	http_global_cleanup();
}

int main(int argc, char **argv)
{
	struct run run = {0};
	int r, lock_fd = -1;

	log_init(LOG_LEVEL_INFO);
	if (parse_options(argc, argv, &run.opt) < 0)
		return EX_USAGE;
	log_init(run.opt.level);
	umask(077); /* nothing we create is readable by others unless we say so */
	if (sodium_init() < 0 || http_global_init() < 0)
		die(&run, EX_OSERR, "cannot initialise libsodium or libcurl");
	load_config(&run);
	if (!run.opt.dry_run && run.opt.mode != RUN_MODE_STATUS) {
		r = fs_mkdir_p(run.state_dir, 0700);
		if (!r)
			r = lock_fd = state_lock(run.state_dir);
		if (r < 0)
			die(&run, EX_CANTCREAT, "%s: %s", run.state_dir, strerror(-r));
		remove_stale_tmp(&run);
	}
	r = state_load(run.state_path, &run.st);
	if (r < 0) {
		/* a damaged cache only costs GETs: start from the bucket (the key is elsewhere) */
		log_warnx("%s: unreadable (%s); starting with an empty cache", run.state_path,
			  strerror(-r));
		memset(&run.st, 0, sizeof(run.st));
	}
	if (run.opt.mode == RUN_MODE_STATUS) {
		status(&run);
		run_free(&run);
		return EX_OK;
	}
	if (run.opt.mode == RUN_MODE_LEAVE) {
		leave(&run);
		r = run.bucket_failed ? EX_TEMPFAIL : EX_OK;
		goto out;
	}
	if (run.st.left && run.opt.mode != RUN_MODE_BOOT) {
		log_info("this node left the mesh (--leave); run clique-boot without --refresh to "
			 "join again");
		r = EX_OK;
		goto out;
	}
	fetch_metadata(&run);
	if (run.opt.mode == RUN_MODE_ROTATE_KEY)
		rotate_key(&run);
	load_keys(&run);
	build_self(&run);
	read_bucket(&run);
	open_records(&run);
	acquire_address(&run);
	build_mesh(&run);
	if (run.opt.dry_run) {
		print_dry_run(&run);
		r = run.bucket_failed || run.metadata_failed ? EX_TEMPFAIL
							     : EX_OK; /* from the cache */
		run_free(&run);
		return r;
	}
	publish_self(&run);
	write_units(&run);
	apply_device(&run);
	save_state(&run);
	if (run.s3.skew_seen)
		log_warnx("clock differs from the bucket's by %ld s; requests were signed with the "
			  "bucket's time",
			  run.s3.clock_offset);
	print_summary(&run);
	r = run.bucket_failed || run.metadata_failed ? EX_TEMPFAIL : EX_OK;
out:
	run_free(&run);
	if (lock_fd >= 0)
		close(lock_fd);
	return r;
}

/*
 * Writes the seed corpora of the record harnesses: hostile payloads as plain files
 * (record-payload/) and the same payloads inside authentic envelopes sealed with the fixed fuzz
 * key for the fixed object name (record-open/), plus a few broken envelopes. Sealing needs the
 * key, so these cannot be static files that mutate usefully; they are made at every run.
 * Also a full state.json (state/) as state_serialize() writes it.
 * usage: seed-records OUTDIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../../bootstrap/record.h"
#include "../../bootstrap/state.h"
#include "fuzz-record.h"

#define PK "\"public_key\":\"hTb1PbGjyyQ9YgWbUVTX5u0pHsO/dHiH7w6gLRBvR2c=\""
#define EP "\"endpoints\":{\"wan\":\"198.51.100.11\",\"lan\":\"192.168.131.11\"}"
#define TAIL "\"created\":1714557600,\"updated\":1714557600,\"seq\":1714557600"
#define REC(name, addr, port, eps)                                               \
	"{\"address\":\"" addr "\"," eps ",\"name\":\"" name "\",\"port\":" port \
	",\"provider\":\"linode\"," PK                                           \
	",\"region\":\"ap-south\",\"zone\":\"linode/ap-south\"," TAIL "}"

static const char *const payloads[] = {
	REC("linode-1", "10.15.0.1", "51871", EP),
	REC("vultr-1", "10.15.1.1", "51871",
	    "\"endpoints\":{\"wan\":\"198.51.100.21\",\"wan6\":\"2001:db8:200::1\"}"),
	REC("no-endpoints", "10.15.0.9", "1", "\"endpoints\":{}"),
	REC("evil\\nname", "10.15.0.2", "51871", EP),
	REC("evil[WireGuardPeer]", "10.15.0.2", "51871", EP),
	REC("evil=PublicKey", "10.15.0.2", "51871", EP),
	REC("ctl\\u0001\\u007f", "10.15.0.2", "51871", EP),
	REC("nul\\u0000byte", "10.15.0.2", "51871", EP),
	REC("outside", "192.0.2.1", "51871", EP),
	REC("v6addr", "2001:db8::1", "51871", EP),
	REC("port0", "10.15.0.2", "0", EP),
	REC("port-big", "10.15.0.2", "65536", EP),
	REC("port-str", "10.15.0.2", "\"51871\"", EP),
	REC("ep-multicast", "10.15.0.2", "51871", "\"endpoints\":{\"wan\":\"224.0.0.1\"}"),
	REC("ep-bcast", "10.15.0.2", "51871", "\"endpoints\":{\"wan\":\"255.255.255.255\"}"),
	REC("ep-v6-in-v4", "10.15.0.2", "51871", "\"endpoints\":{\"wan\":\"2001:db8::1\"}"),
	REC("ep-array", "10.15.0.2", "51871", "\"endpoints\":[]"),
	REC("ep-type", "10.15.0.2", "51871", "\"endpoints\":{\"wan\":1}"),
	"{\"name\":1}",
	"{}",
	"[]",
	"null",
	"",
	"{\"name\":\"a\",\"name\":\"b\"}",
	"{\"address\":\"10.15.0.1\",\"created\":-1,\"endpoints\":{},\"name\":\"n\",\"port\":1,"
	"\"provider\":\"p\",\"public_key\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	"\"region\":\"r\",\"seq\":18446744073709551615,\"updated\":0,\"zone\":\"z\"}",
	"{\"address\":\"10.15.0.1\",\"created\":0,\"endpoints\":{},\"name\":\"n\",\"port\":1,"
	"\"provider\":\"p\",\"public_key\":\"short\",\"region\":\"r\",\"seq\":0,\"updated\":0,"
	"\"zone\":\"z\"}",
};

static int write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (len && fwrite(p, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

static int envelope(const char *dir, const char *name, const char *object, const char *payload,
		    size_t len)
{
	struct buf b;
	int r;

	buf_init(&b, RECORD_MAX_SIZE);
	r = record_seal_payload(fuzz_record_key, object, payload, len, &b);
	if (r == 0)
		r = write_file(dir, name, b.data, b.len);
	buf_free(&b);
	return r;
}

/* A state with everything set: own record, metadata and two cached sealed records. */
static int state_seed(const char *dir)
{
	struct state st = {0};
	struct buf sealed, out;
	char path[400];
	int r;

	snprintf(path, sizeof(path), "%s/state", dir);
	mkdir(path, 0755);
	snprintf(st.self_object, sizeof(st.self_object), "%s", FUZZ_RECORD_OBJECT);
	snprintf(st.self_etag, sizeof(st.self_etag), "0123456789abcdef0123456789abcdef");
	st.self_seq = 1714557601;
	st.self_created = 1714557600;
	memset(st.self_digest, 0x42, sizeof(st.self_digest));
	st.has_metadata = true;
	snprintf(st.metadata.provider, sizeof(st.metadata.provider), "linode");
	snprintf(st.metadata.id, sizeof(st.metadata.id), "41000001");
	snprintf(st.metadata.name, sizeof(st.metadata.name), "linode-1");
	snprintf(st.metadata.region, sizeof(st.metadata.region), "ap-south");
	snprintf(st.metadata.private_net, sizeof(st.metadata.private_net), "vlan-1");
	addr_parse("198.51.100.11", &st.metadata.wan4);
	addr_parse("2001:db8:100::1", &st.metadata.wan6);
	addr_parse("192.168.131.11", &st.metadata.lan4);
	buf_init(&sealed, RECORD_MAX_SIZE);
	buf_init(&out, STATE_FILE_MAX);
	r = record_seal_payload(fuzz_record_key, FUZZ_RECORD_OTHER, payloads[0],
				strlen(payloads[0]), &sealed);
	if (!r)
		r = state_put_peer(&st, FUZZ_RECORD_OTHER, "etag-1", 1714557600, sealed.data,
				   sealed.len);
	if (!r)
		r = state_put_peer(&st, "clique/nodes/empty", "etag-2", 1714557601, "", 0);
	if (!r)
		r = state_serialize(&st, &out);
	if (!r)
		r = write_file(path, "full", out.data, out.len);
	buf_free(&sealed);
	buf_free(&out);
	state_free(&st);
	return r;
}

int main(int argc, char **argv)
{
	char open_dir[400], payload_dir[400], name[64], big[2900];
	size_t i;
	int r = 0;

	if (argc != 2 || sodium_init() < 0)
		return 64;
	snprintf(open_dir, sizeof(open_dir), "%s/record-open", argv[1]);
	snprintf(payload_dir, sizeof(payload_dir), "%s/record-payload", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(open_dir, 0755);
	mkdir(payload_dir, 0755);
	for (i = 0; !r && i < sizeof(payloads) / sizeof(*payloads); i++) {
		snprintf(name, sizeof(name), "seed-%02zu", i);
		r = write_file(payload_dir, name, payloads[i], strlen(payloads[i]));
		if (!r)
			r = envelope(open_dir, name, FUZZ_RECORD_OBJECT, payloads[i],
				     strlen(payloads[i]));
	}
	/* a valid payload sealed for another name: the replay case */
	if (!r)
		r = envelope(open_dir, "moved", FUZZ_RECORD_OTHER, payloads[0],
			     strlen(payloads[0]));
	/* the largest payload that still fits an envelope */
	memset(big, 'x', sizeof(big));
	if (!r)
		r = envelope(open_dir, "big", FUZZ_RECORD_OBJECT, big, sizeof(big));
	if (!r)
		r = write_file(open_dir, "version-2", "{\"v\":2,\"nonce\":\"\",\"box\":\"\"}", 26);
	if (!r)
		r = write_file(open_dir, "bad-base64",
			       "{\"v\":1,\"nonce\":\"!!!!\",\"box\":\"AAAA\"}", 36);
	if (!r)
		r = state_seed(argv[1]);
	if (r < 0)
		fprintf(stderr, "seed-records: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}

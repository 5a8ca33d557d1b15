/*
 * The Hetzner documents: the input as each of md_hetzner_docs in turn (the others from a fixed
 * valid server), and through yaml_walk itself.
 */
#include <errno.h>

#include "../../metadata/yaml.h"
#include "fuzz-md.h"

static const char *const valid[MD_HETZNER_N_DOCS] = {
	"4711",
	"hz-1",
	"eu-central",
	"203.0.113.7",
	("version: 1\nconfig:\n- type: physical\n  subnets:\n  - type: static\n"
	 "    address: 2a01:4f8:1:2::1/64\n"),
	"- ip: 10.0.0.2\n  network_id: 4124728\n",
};

static int count(void *userdata, const char *path, const char *value, size_t len)
{
	FUZZ_ASSERT(strlen(path) < YAML_PATH_MAX && strlen(value) == len);
	++*(size_t *)userdata;
	return 0;
}

static void check(const struct md_instance *md)
{
	fuzz_check_md(md);
	FUZZ_ASSERT(!strcmp(md->provider, "hetzner"));
	FUZZ_ASSERT(strspn(md->id, "0123456789") == strlen(md->id) && md->id[0]);
	FUZZ_ASSERT(strspn(md->private_net, "0123456789") == strlen(md->private_net));
	FUZZ_ASSERT(!strchr(md->name, ' '));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_doc docs[MD_HETZNER_N_DOCS];
	struct md_instance md, before;
	char *buf = fuzz_dup(data, size);
	size_t n = 0;
	int i, j;

	if (!buf)
		return 0;
	(void)yaml_walk(buf, size, count, &n);
	for (i = 0; i < MD_HETZNER_N_DOCS; i++) {
		for (j = 0; j < MD_HETZNER_N_DOCS; j++)
			docs[j] = (struct md_doc){valid[j], strlen(valid[j])};
		docs[i] = (struct md_doc){buf, size};
		memset(&md, 0x5a, sizeof(md));
		before = md;
		if (md_hetzner_parse(docs, &md, NULL) == 0)
			check(&md);
		else
			FUZZ_ASSERT(!memcmp(&md, &before, sizeof(md)));
	}
	free(buf);
	return 0;
}

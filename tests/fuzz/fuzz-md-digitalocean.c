/* md_digitalocean_parse() over arbitrary /metadata/v1.json bodies. */
#include "fuzz-md.h"

static void check_digitalocean(const struct md_instance *md)
{
	FUZZ_ASSERT(!strcmp(md->provider, "digitalocean"));
	FUZZ_ASSERT(strspn(md->id, "0123456789") == strlen(md->id) && md->id[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_md_doc(data, size, md_digitalocean_parse, check_digitalocean);
}

/* md_digitalocean_parse() over arbitrary /metadata/v1.json bodies. */
#include <errno.h>

#include "fuzz-md.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_instance md, before;
	char *buf = fuzz_dup(data, size);
	int r;

	if (!buf)
		return 0;
	memset(&md, 0x5a, sizeof(md));
	before = md;
	r = md_digitalocean_parse(buf, size, &md);
	if (r == 0) {
		fuzz_check_md(&md);
		FUZZ_ASSERT(!strcmp(md.provider, "digitalocean"));
		FUZZ_ASSERT(strspn(md.id, "0123456789") == strlen(md.id) && md.id[0]);
	} else {
		FUZZ_ASSERT(!memcmp(&md, &before, sizeof(md)));
	}
	free(buf);
	return 0;
}

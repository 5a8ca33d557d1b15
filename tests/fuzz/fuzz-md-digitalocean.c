/* md_digitalocean_parse() over arbitrary /metadata/v1.json bodies. */
#include <errno.h>

#include "../../metadata/provider.h"
#include "fuzz.h"

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
		FUZZ_ASSERT(strspn(md.id, "0123456789") == strlen(md.id) && md.id[0]);
		FUZZ_ASSERT(memchr(md.name, '\0', sizeof(md.name)));
		FUZZ_ASSERT(memchr(md.region, '\0', sizeof(md.region)));
		FUZZ_ASSERT(memchr(md.private_net, '\0', sizeof(md.private_net)));
		FUZZ_ASSERT(memchr(md.origin.refused, '\0', sizeof(md.origin.refused)));
		FUZZ_ASSERT(!strpbrk(md.name, "\n\r[]=\"\\"));
		FUZZ_ASSERT(!strpbrk(md.region, "\n\r[]=\"\\/ "));
		FUZZ_ASSERT(!strpbrk(md.private_net, "\n\r[]=\"\\/ "));
	} else {
		FUZZ_ASSERT(!memcmp(&md, &before, sizeof(md)));
	}
	free(buf);
	return 0;
}

/* md_vultr_parse() over arbitrary /v1.json bodies. */
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
	r = md_vultr_parse(buf, size, &md);
	if (r == 0) {
		FUZZ_ASSERT(memchr(md.id, '\0', sizeof(md.id)));
		FUZZ_ASSERT(memchr(md.name, '\0', sizeof(md.name)));
		FUZZ_ASSERT(memchr(md.region, '\0', sizeof(md.region)));
		FUZZ_ASSERT(memchr(md.private_net, '\0', sizeof(md.private_net)));
		FUZZ_ASSERT(!strpbrk(md.name, "\n\r[]=\"\\"));
		FUZZ_ASSERT(!strpbrk(md.region, "\n\r[]=\"\\/ "));
	} else {
		FUZZ_ASSERT(!memcmp(&md, &before, sizeof(md)));
	}
	free(buf);
	return 0;
}

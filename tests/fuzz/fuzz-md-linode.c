/* The three Linode metadata parsers on the same input: token, instance, then network over an
 * instance already parsed from a fixed valid document. */
#include <errno.h>

#include "fuzz-md.h"

static const char instance_json[] =
	"{\"id\": 41000001, \"label\": \"linode-1\", \"region\": \"ap-south\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_instance md, base;
	char token[128], *buf = fuzz_dup(data, size);
	int r;

	if (!buf)
		return 0;
	if (md_linode_parse_token(buf, size, token, sizeof(token)) == 0)
		FUZZ_ASSERT(memchr(token, '\0', sizeof(token)) && !strpbrk(token, "\r\n "));
	memset(&md, 0xa5, sizeof(md));
	if (md_linode_parse_instance(buf, size, &md) == 0) {
		/* no addresses yet, only the region's origin */
		FUZZ_ASSERT(!md.wan4.family && !md.wan6.family && !md.lan4.family);
		FUZZ_ASSERT(!strcmp(md.origin.region, "/v1/instance region"));
	}
	r = md_linode_parse_instance(instance_json, sizeof(instance_json) - 1, &base);
	FUZZ_ASSERT(r == 0);
	md = base;
	r = md_linode_parse_network(buf, size, &md);
	if (r == 0)
		fuzz_check_md(&md);
	else /* failure leaves the instance untouched */
		FUZZ_ASSERT(!memcmp(&md, &base, sizeof(md)));
	free(buf);
	return 0;
}

/* The three Linode metadata parsers on the same input: token, instance, then network over an
 * instance already parsed from a fixed valid document. */
#include <errno.h>

#include "../../metadata/provider.h"
#include "fuzz.h"

static const char instance_json[] =
	"{\"id\": 41000001, \"label\": \"linode-1\", \"region\": \"ap-south\"}";

static void check_strings(const struct md_instance *md)
{
	FUZZ_ASSERT(memchr(md->provider, '\0', sizeof(md->provider)));
	FUZZ_ASSERT(memchr(md->id, '\0', sizeof(md->id)));
	FUZZ_ASSERT(memchr(md->name, '\0', sizeof(md->name)));
	FUZZ_ASSERT(memchr(md->region, '\0', sizeof(md->region)));
	FUZZ_ASSERT(memchr(md->private_net, '\0', sizeof(md->private_net)));
	/* provider.h: nothing that could break a unit file or a log line */
	FUZZ_ASSERT(!strpbrk(md->name, "\n\r[]=\"\\"));
	FUZZ_ASSERT(!strpbrk(md->private_net, "\n\r[]=\"\\/ "));
}

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
	if (md_linode_parse_instance(buf, size, &md) == 0)
		check_strings(&md);
	r = md_linode_parse_instance(instance_json, sizeof(instance_json) - 1, &base);
	FUZZ_ASSERT(r == 0);
	md = base;
	r = md_linode_parse_network(buf, size, &md);
	if (r == 0)
		check_strings(&md);
	else /* failure leaves the instance untouched */
		FUZZ_ASSERT(!memcmp(&md, &base, sizeof(md)));
	free(buf);
	return 0;
}

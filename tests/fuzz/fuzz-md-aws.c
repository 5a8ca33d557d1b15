/*
 * md_aws_parse() over arbitrary IMDS answers: the input is the bodies of md_aws_paths[] in
 * order, separated by 0x1e; a body that is exactly 0x1f is a 404, as is every item past the
 * end. The whole input also goes through the token and MAC parsers.
 */
#include <errno.h>

#include "fuzz-md.h"

static void split(const char *buf, size_t size, struct md_doc items[MD_AWS_N_ITEMS])
{
	const char *p = buf, *end = buf + size, *sep;
	size_t i;

	for (i = 0; i < MD_AWS_N_ITEMS && p <= end; i++) {
		sep = memchr(p, 0x1e, end - p);
		if (!sep)
			sep = end;
		if (!(sep - p == 1 && *p == 0x1f))
			items[i] = (struct md_doc){p, sep - p};
		p = sep + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_doc items[MD_AWS_N_ITEMS] = {{0}};
	struct md_instance md, before;
	char *buf = fuzz_dup(data, size), tok[64] = "", mac[18] = "";
	int r;

	if (!buf)
		return 0;
	if (md_aws_parse_token(buf, size, tok, sizeof(tok)) == 0)
		FUZZ_ASSERT(tok[0] && !strpbrk(tok, "\r\n :"));
	if (md_aws_parse_mac(buf, size, mac, sizeof(mac)) == 0)
		FUZZ_ASSERT(strlen(mac) == 17 && mac[2] == ':');
	split(buf, size, items);
	memset(&md, 0x5a, sizeof(md));
	before = md;
	r = md_aws_parse(items, &md, NULL);
	if (r == 0) {
		fuzz_check_md(&md);
		/* IMDS ids and regions are case-exact lower case; a LAN address only inside a VPC */
		FUZZ_ASSERT(md.id[0] && !strpbrk(md.region, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
		FUZZ_ASSERT(!md.lan4.family || md.private_net[0]);
		FUZZ_ASSERT(!strcmp(md.provider, "aws"));
	} else
		FUZZ_ASSERT(!memcmp(&md, &before, sizeof(md)));
	free(buf);
	return 0;
}

/*
 * md_aws_parse() over arbitrary IMDS answers: the input is the bodies of md_aws_paths[] in
 * order, separated by 0x1e; a body that is exactly 0x1f is a 404, as is every item past the
 * end. The whole input also goes through the token and MAC parsers.
 */
#include <errno.h>
#include <sys/socket.h>

#include "../../metadata/provider.h"
#include "fuzz.h"

static void split(const char *buf, size_t size, struct md_aws_body items[MD_AWS_N_ITEMS])
{
	const char *p = buf, *end = buf + size, *sep;
	size_t i;

	for (i = 0; i < MD_AWS_N_ITEMS && p <= end; i++) {
		sep = memchr(p, 0x1e, end - p);
		if (!sep)
			sep = end;
		if (!(sep - p == 1 && *p == 0x1f))
			items[i] = (struct md_aws_body){p, sep - p};
		p = sep + 1;
	}
}

static void check_ok(const struct md_instance *md)
{
	FUZZ_ASSERT(memchr(md->id, '\0', sizeof(md->id)));
	FUZZ_ASSERT(memchr(md->name, '\0', sizeof(md->name)));
	FUZZ_ASSERT(memchr(md->region, '\0', sizeof(md->region)));
	FUZZ_ASSERT(memchr(md->private_net, '\0', sizeof(md->private_net)));
	FUZZ_ASSERT(md->id[0] && md->region[0]);
	FUZZ_ASSERT(!strpbrk(md->name, "\n\r[]=\"\\ "));
	FUZZ_ASSERT(!strpbrk(md->region, "\n\r[]=\"\\/ ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
	FUZZ_ASSERT(!strpbrk(md->private_net, "\n\r[]=\"\\/ "));
	FUZZ_ASSERT(md->wan4.family == 0 || md->wan4.family == AF_INET);
	FUZZ_ASSERT(md->lan4.family == 0 || md->lan4.family == AF_INET);
	FUZZ_ASSERT(md->wan6.family == 0 || md->wan6.family == AF_INET6);
	/* a LAN address only inside a VPC, and every address says where it came from */
	FUZZ_ASSERT(!md->lan4.family || md->private_net[0]);
	FUZZ_ASSERT(!md->wan4.family == !md->origin.wan4[0]);
	FUZZ_ASSERT(!md->wan6.family == !md->origin.wan6[0]);
	FUZZ_ASSERT(!md->lan4.family == !md->origin.lan4[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_aws_body items[MD_AWS_N_ITEMS] = {{0}};
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
	if (r == 0)
		check_ok(&md);
	else
		FUZZ_ASSERT(!memcmp(&md, &before, sizeof(md)));
	free(buf);
	return 0;
}

/*
 * WG_CMD_GET_DEVICE dump replies through wg_nl_feed_dump() (seq and portid unchecked, family id
 * fixed as in tests/fixtures/netlink/gen.py). The input is one datagram; while the parser asks
 * for more, the same bytes come again, as a multi-part dump would.
 */
#include <errno.h>

#include "../../bootstrap/wg-netlink.h"
#include "../../bootstrap/wg.h"
#include "fuzz.h"

#define FUZZ_NL_FAMILY 0x1c

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_nl_reply r = {.family = FUZZ_NL_FAMILY};
	struct wg_device *dev;
	void *buf;
	int i, ret = 1;

	/* netlink datagrams are read into aligned buffers */
	buf = aligned_alloc(8, size ? (size + 7) & ~(size_t)7 : 8);
	dev = wg_device_new("wg0");
	if (!buf || !dev)
		goto out;
	memcpy(buf, data, size);
	r.dev = dev;
	for (i = 0; i < 3 && ret == 1; i++)
		ret = wg_nl_feed_dump(&r, buf, size);
	if (ret == 0)
		wg_device_normalize(dev);
out:
	wg_device_free(dev);
	free(buf);
	return 0;
}

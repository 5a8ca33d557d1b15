/* A UAPI get reply (wireguard-go, boringtun) through wg_uapi_parse_get(), then the model's own
 * normalisation and diff, which consume what the parser produced. */
#include <errno.h>

#include "../../bootstrap/wg-uapi.h"
#include "../../bootstrap/wg.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_device *dev, *changes = NULL;
	char *buf = fuzz_dup(data, size);
	int r;

	dev = wg_device_new("wg0");
	if (!buf || !dev)
		goto out;
	r = wg_uapi_parse_get(buf, size, dev);
	FUZZ_ASSERT(!strcmp(dev->name, "wg0"));
	if (r == 0) {
		wg_device_normalize(dev);
		if (wg_diff(dev, dev, &changes) == 0)
			FUZZ_ASSERT(wg_device_is_noop(changes));
		wg_device_free(changes);
	}
out:
	wg_device_free(dev);
	free(buf);
	return 0;
}

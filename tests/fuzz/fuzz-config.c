/* config_parse() then config_check() over arbitrary config text; no I/O (the *_file keys are
 * recorded, never read here). */
#include <errno.h>

#include "../../bootstrap/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_error err = {0};
	struct config cfg;
	char *buf = fuzz_dup(data, size);
	int r;

	if (!buf)
		return 0;
	config_init(&cfg);
	r = config_parse(&cfg, buf, size, "fuzz", &err);
	/* an error line is bounded and terminated */
	FUZZ_ASSERT(memchr(err.text, '\0', sizeof(err.text)));
	if (r < 0)
		FUZZ_ASSERT(err.text[0]);
	if (r == 0)
		config_check(&cfg, &err);
	config_wipe(&cfg);
	free(buf);
	return 0;
}

/* state.json through state_parse(); what parses must serialise and parse back identically. */
#include <errno.h>

#include "../../bootstrap/state.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st, back;
	struct buf a, b;
	char *buf = fuzz_dup(data, size);

	if (!buf)
		return 0;
	if (size > STATE_FILE_MAX || state_parse(buf, size, &st) < 0) {
		free(buf);
		return 0;
	}
	buf_init(&a, STATE_FILE_MAX);
	buf_init(&b, STATE_FILE_MAX);
	if (state_serialize(&st, &a) == 0) {
		FUZZ_ASSERT(state_parse(a.data, a.len, &back) == 0);
		FUZZ_ASSERT(state_serialize(&back, &b) == 0);
		FUZZ_ASSERT(a.len == b.len && !memcmp(a.data, b.data, a.len));
		state_free(&back);
	}
	buf_free(&a);
	buf_free(&b);
	state_free(&st);
	free(buf);
	return 0;
}

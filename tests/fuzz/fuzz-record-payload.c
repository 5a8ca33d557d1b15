/*
 * The payload parser two ways: record_payload_parse() directly, and the same bytes sealed with
 * record_seal_payload() and opened with record_open() -- both must agree.
 */
#include <errno.h>

#include "../../bootstrap/record.h"
#include "fuzz-record.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record rec, opened;
	struct buf b;
	char *buf = fuzz_dup(data, size);
	int r, r2;

	if (!buf)
		return 0;
	r = record_payload_parse(buf, size, &rec);
	if (r == 0)
		fuzz_record_check(&rec);
	buf_init(&b, RECORD_MAX_SIZE);
	r2 = record_seal_payload(fuzz_record_key, FUZZ_RECORD_OBJECT, buf, size, &b);
	if (r2 == 0) {
		r2 = record_open(fuzz_record_key, FUZZ_RECORD_OBJECT, b.data, b.len, &opened);
		/* the envelope neither adds nor hides a payload error */
		FUZZ_ASSERT(r2 == r);
		if (r2 == 0)
			FUZZ_ASSERT(fuzz_record_equal(&rec, &opened));
	}
	if (r == 0 && record_seal(fuzz_record_key, FUZZ_RECORD_OBJECT, &rec, &b) == 0)
		fuzz_record_roundtrip(&rec, &b);
	buf_free(&b);
	free(buf);
	return 0;
}

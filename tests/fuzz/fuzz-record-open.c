/*
 * record_open() with a fixed key and object name over arbitrary envelopes. Random bytes never
 * authenticate, so the seed corpus (seed-records) holds authentic envelopes around hostile
 * payloads: mutations of those reach the payload parser through the real decrypt path.
 */
#include <errno.h>

#include "../../bootstrap/record.h"
#include "fuzz-record.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_dup(data, size), plain[RECORD_MAX_SIZE];
	struct record rec;
	size_t plainlen;
	struct buf b;
	int r, r2;

	if (!buf)
		return 0;
	r = record_open(fuzz_record_key, FUZZ_RECORD_OBJECT, buf, size, &rec);
	FUZZ_ASSERT(r == 0 || r == -EMSGSIZE || r == -EBADMSG || r == -EPROTONOSUPPORT ||
		    r == -EINVAL || r == -ENOMEM);
	/* the payload-only opener (address claims) agrees with record_open() */
	r2 = record_open_payload(fuzz_record_key, FUZZ_RECORD_OBJECT, buf, size, plain,
				 sizeof(plain), &plainlen);
	FUZZ_ASSERT(r != 0 || r2 == 0);
	/* and what it opened is exactly what record_open() judged */
	if (r2 == 0)
		FUZZ_ASSERT(record_payload_parse(plain, plainlen, &rec) == r);
	if (r == 0) {
		fuzz_record_check(&rec);
		/* another name (a moved record) never opens */
		FUZZ_ASSERT(record_open(fuzz_record_key, FUZZ_RECORD_OTHER, buf, size, &rec) ==
			    -EBADMSG);
		/* what opened re-seals and opens to the same record */
		buf_init(&b, RECORD_MAX_SIZE);
		if (record_seal(fuzz_record_key, FUZZ_RECORD_OBJECT, &rec, &b) == 0)
			fuzz_record_roundtrip(&rec, &b);
		buf_free(&b);
	}
	free(buf);
	return 0;
}

/* One ListObjectsV2 page through s3_list_parse(), appended to a listing that already holds an
 * object (as the second page of a real listing would be). */
#include <errno.h>

#include "../../bootstrap/s3.h"
#include "fuzz.h"

static const char page1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>clique/nodes/"
	"</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
	"<NextContinuationToken>tok</NextContinuationToken><Contents><Key>clique/nodes/aa</Key>"
	"<LastModified>2024-05-01T10:00:00.000Z</LastModified><ETag>&quot;0123&quot;</ETag>"
	"<Size>10</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_listing l = {0};
	char next[1024], *buf = fuzz_dup(data, size);
	bool truncated = false;
	size_t i, before;
	int r;

	if (!buf)
		return 0;
	r = s3_list_parse(page1, sizeof(page1) - 1, &l, &truncated, next, sizeof(next));
	FUZZ_ASSERT(r == 0 && l.n == 1 && truncated && !strcmp(next, "tok"));
	before = l.n;
	r = s3_list_parse(buf, size, &l, &truncated, next, sizeof(next));
	if (r == 0) {
		FUZZ_ASSERT(memchr(next, '\0', sizeof(next)));
		for (i = 0; i < l.n; i++) {
			FUZZ_ASSERT(l.objects[i].key && strlen(l.objects[i].key) < S3_KEY_MAX);
			FUZZ_ASSERT(memchr(l.objects[i].etag, '\0', sizeof(l.objects[i].etag)));
			FUZZ_ASSERT(l.objects[i].key[0]);
		}
	} else {
		/* a failed page adds nothing: a half-read listing is never taken as truth */
		FUZZ_ASSERT(l.n == before);
	}
	s3_listing_free(&l);
	free(buf);
	return 0;
}

/* md_vultr_parse() over arbitrary /v1.json bodies. */
#include "fuzz-md.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_md_doc(data, size, md_vultr_parse, NULL);
}

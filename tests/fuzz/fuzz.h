/*
 * Shared by the libFuzzer harnesses (tests/fuzz/fuzz-*.c, built by run.sh with clang
 * -fsanitize=fuzzer,address,undefined). A harness crashes only on a real bug: a sanitizer
 * report, or a broken property checked with FUZZ_ASSERT (abort() so libFuzzer saves the input).
 */
#ifndef CLIQUE_FUZZ_H
#define CLIQUE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                   \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* The parsers take (buf, len) but some hand buf to C string functions after a length check;
 * a copy without a terminator lets ASan catch any read past len. */
static inline char *fuzz_dup(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);

	if (p && size)
		memcpy(p, data, size);
	return p;
}

#endif

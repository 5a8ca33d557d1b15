/*
 * Minimal table-driven test helpers (bgpd regress style): each RUN() prints "ok <name>" or
 * "FAIL <name>"; tests/check.sh counts those lines. main() returns test_exit().
 */
#ifndef CLIQUE_TEST_H
#define CLIQUE_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			test_failures++;                                                         \
		}                                                                                \
	} while (0)

#define CHECK_INT(got, want)                                                                       \
	do {                                                                                       \
		long long g_ = (got), w_ = (want);                                                 \
		if (g_ != w_) {                                                                    \
			fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, \
				g_, w_);                                                           \
			test_failures++;                                                           \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		if (strcmp(g_, w_)) {                                                              \
			fprintf(stderr, "%s:%d: %s = '%s', want '%s'\n", __FILE__, __LINE__, #got, \
				g_, w_);                                                           \
			test_failures++;                                                           \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                   \
	do {                                                                      \
		int before_ = test_failures;                                      \
		fn();                                                             \
		printf("%s %s\n", test_failures == before_ ? "ok" : "FAIL", #fn); \
		fflush(stdout);                                                   \
	} while (0)

static inline int test_exit(void)
{
	return test_failures ? 1 : 0;
}

#endif

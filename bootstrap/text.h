/* Small text helpers shared by the modules: bounded copies and name checks. */
#ifndef CLIQUE_TEXT_H
#define CLIQUE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (dstlen > 0), cut to fit; for informative texts, where a cut is fine. */
void text_copy(char *dst, size_t dstlen, const char *src);
/*
 * A name the kernel takes for a network interface (net/core/dev.c dev_valid_name): 1 to 15
 * bytes, not "." or "..", no '/', ':' or white space.
 */
bool ifname_valid(const char *name);

#endif

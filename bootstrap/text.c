/* Small text helpers (text.h). */
#include <ctype.h>
#include <net/if.h>
#include <string.h>

#include "text.h"

void text_copy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

bool ifname_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strnlen(name, IFNAMSIZ);
	if (!n || n >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (; *name; name++)
		if (*name == '/' || *name == ':' || isspace((unsigned char)*name))
			return false;
	return true;
}

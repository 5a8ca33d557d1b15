/*
 * Linked into the static binary with -Wl,--wrap=dlopen (packaging/static/build.sh): every
 * dlopen() of the static OpenSSL (engines, provider modules: DSO_dlfcn) fails. A static binary
 * must not map a module built for the system's OpenSSL and glibc, which may be other versions
 * (OpenSSL 1.1 on Debian 11 and Ubuntu 20.04); its TLS needs none: the default provider is
 * built in.
 */
#include <stddef.h>

void *__wrap_dlopen(const char *file, int mode);

void *__wrap_dlopen(const char *file, int mode)
{
	(void)file;
	(void)mode;
	return NULL;
}

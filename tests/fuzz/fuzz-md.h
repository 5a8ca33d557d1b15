/* Properties every parsed md_instance must have, whatever the provider (metadata/provider.h). */
#ifndef CLIQUE_FUZZ_MD_H
#define CLIQUE_FUZZ_MD_H

#include <sys/socket.h>

#include "../../metadata/provider.h"
#include "fuzz.h"

/* An address field is empty (and so is its origin) or a usable host of its family. */
static inline void fuzz_check_addr(const struct ip_addr *a, int family, const char *origin)
{
	struct ip_prefix p = {.addr = *a, .len = family == AF_INET ? 32 : 128};

	FUZZ_ASSERT(memchr(origin, '\0', MD_ORIGIN_MAX));
	FUZZ_ASSERT(a->family == 0 || a->family == family);
	FUZZ_ASSERT(!a->family == !origin[0]);
	if (a->family)
		FUZZ_ASSERT(!addr_host_problem(&p));
}

static inline void fuzz_check_md(const struct md_instance *md)
{
	const struct md_origin *o = &md->origin;

	FUZZ_ASSERT(memchr(md->provider, '\0', sizeof(md->provider)));
	FUZZ_ASSERT(memchr(md->id, '\0', sizeof(md->id)));
	FUZZ_ASSERT(memchr(md->name, '\0', sizeof(md->name)));
	FUZZ_ASSERT(memchr(md->region, '\0', sizeof(md->region)));
	FUZZ_ASSERT(memchr(md->private_net, '\0', sizeof(md->private_net)));
	/* provider.h: nothing that could break a unit file or a log line */
	FUZZ_ASSERT(!strpbrk(md->name, "\n\r[]=\"\\"));
	FUZZ_ASSERT(!strpbrk(md->region, "\n\r[]=\"\\/ "));
	FUZZ_ASSERT(!strpbrk(md->private_net, "\n\r[]=\"\\/ "));
	fuzz_check_addr(&md->wan4, AF_INET, o->wan4);
	fuzz_check_addr(&md->wan6, AF_INET6, o->wan6);
	fuzz_check_addr(&md->lan4, AF_INET, o->lan4);
	/* a private network is only ever named together with the LAN address it belongs to */
	FUZZ_ASSERT(!md->private_net[0] || md->lan4.family);
	FUZZ_ASSERT(memchr(o->region, '\0', sizeof(o->region)) && o->region[0]);
	FUZZ_ASSERT(memchr(o->private_net, '\0', sizeof(o->private_net)));
	FUZZ_ASSERT(memchr(o->refused, '\0', sizeof(o->refused)));
	/* origins are our own text: printable, no quotes, no backslashes */
	FUZZ_ASSERT(!strpbrk(o->refused, "\n\r\"\\"));
}

/* A harness over a parser of one whole document: fuzz_check_md on success (then extra, may be
 * NULL), the output untouched on failure. */
static inline int fuzz_md_doc(const uint8_t *data, size_t size,
			      int (*parse)(const char *, size_t, struct md_instance *),
			      void (*extra)(const struct md_instance *))
{
	struct md_instance md, before;
	char *buf = fuzz_dup(data, size);

	if (!buf)
		return 0;
	memset(&md, 0x5a, sizeof(md));
	before = md;
	if (parse(buf, size, &md) == 0) {
		fuzz_check_md(&md);
		if (extra)
			extra(&md);
	} else {
		FUZZ_ASSERT(!memcmp(&md, &before, sizeof(md)));
	}
	free(buf);
	return 0;
}

#endif

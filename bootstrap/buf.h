/*
 * Bounded growable byte buffer (curl DYNBUF idea): every buffer has a hard maximum so a hostile
 * peer cannot make us allocate without limit. data is always NUL-terminated for parsers.
 */
#ifndef CLIQUE_BUF_H
#define CLIQUE_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
/* -EMSGSIZE when the result would exceed max, -ENOMEM on allocation failure. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_addc(struct buf *b, char c);
/* Keeps the allocation, wipes the content. */
void buf_reset(struct buf *b);
/* Wipes (buffers may hold keys) and frees; the buffer can be reused after buf_init(). */
void buf_free(struct buf *b);

#endif

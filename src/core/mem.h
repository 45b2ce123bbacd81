/*
 * core/mem.h - allocation that never returns NULL, and checked size arithmetic.
 *
 * Owns:     the xmalloc family (abort on out-of-memory: the daemon's state is
 *           in sqlite and the slot, so dying is safe; unchecked NULLs are not),
 *           size_add/size_mul overflow checks, and a small formatted-string helper.
 * Pure:     yes (apart from the allocator).
 */
#ifndef WAL2EDGE_CORE_MEM_H
#define WAL2EDGE_CORE_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Owned copy of s (NULL stays NULL). */
char *xstrdup(const char *s);
/* Owned, NUL-terminated copy of the first len bytes of s. */
char *xstrndup(const char *s, size_t len);
/* Owned formatted string. */
char *xasprintf(const char *fmt, ...) ATTR_PRINTF(1, 2);

/* false on overflow; *out is set only on success. */
bool size_add(size_t a, size_t b, size_t *out) WARN_UNUSED;
bool size_mul(size_t a, size_t b, size_t *out) WARN_UNUSED;

#endif

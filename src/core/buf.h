/*
 * core/buf.h - Buf, a growable byte buffer with a hard cap, and Rd, a
 *              bounds-checked big-endian read cursor.
 *
 * Owns:     byte-level buffering for every parser and serializer.
 * Pure:     yes.
 * Trust:    Rd is how untrusted bytes are read: every read checks the bytes
 *           remaining by subtraction and advances only on success.
 */
#ifndef WAL2EDGE_CORE_BUF_H
#define WAL2EDGE_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"

typedef struct Buf {
    char *data;     /* always NUL-terminated when non-NULL */
    size_t len;
    size_t alloc;
    size_t cap;     /* growing beyond this is ERR_TOO_LARGE, never a silent realloc */
} Buf;

void buf_init(Buf *b, size_t cap);
void buf_free(Buf *b);
void buf_reset(Buf *b);
/* Make room for `extra` more bytes plus the terminating NUL (a buffer that will grow
 * anyway, sized once instead of doubled from 64 bytes). */
bool buf_reserve(Buf *b, size_t extra, Err *err) WARN_UNUSED;
/* The growing path of buf_append (the inline fast path below handles the rest). */
bool buf_append_grow(Buf *b, const void *data, size_t len, Err *err) WARN_UNUSED;

/* Inline because renderers call these for every token: room left over is a
 * compare and a memcpy (alloc never exceeds cap + 1, so cap holds too). */
static inline WARN_UNUSED bool buf_append(Buf *b, const void *data, size_t len, Err *err)
{
    if (len < b->alloc - b->len) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return true;
    }
    return buf_append_grow(b, data, len, err);
}

/* With a literal, strlen folds to a constant. */
static inline WARN_UNUSED bool buf_append_str(Buf *b, const char *s, Err *err)
{
    return buf_append(b, s, strlen(s), err);
}
bool buf_printf(Buf *b, Err *err, const char *fmt, ...) ATTR_PRINTF(3, 4) WARN_UNUSED;
/* v in decimal: what buf_printf's %llu / %lld write, without its cost on a hot path. */
bool buf_append_u64(Buf *b, uint64_t v, Err *err) WARN_UNUSED;
bool buf_append_i64(Buf *b, int64_t v, Err *err) WARN_UNUSED;
/* Owned copy of the contents; the buffer is reset. */
char *buf_take(Buf *b);

typedef struct Rd {
    const uint8_t *p;
    size_t left;
} Rd;

static inline Rd rd_make(const void *p, size_t n)
{
    Rd r = {(const uint8_t *)p, n};
    return r;
}

bool rd_u8(Rd *r, uint8_t *out) WARN_UNUSED;
bool rd_be16(Rd *r, uint16_t *out) WARN_UNUSED;
bool rd_be32(Rd *r, uint32_t *out) WARN_UNUSED;
bool rd_be64(Rd *r, uint64_t *out) WARN_UNUSED;
/* Borrow the next n bytes. */
bool rd_bytes(Rd *r, size_t n, const uint8_t **out) WARN_UNUSED;
/* Borrow a NUL-terminated string found within min(max, left) bytes; the NUL is consumed. */
bool rd_cstr(Rd *r, size_t max, const char **out, size_t *out_len) WARN_UNUSED;

#endif

/*
 * core/buf.c - see buf.h.
 *
 * A Buf grows by doubling from 64 bytes, never past its own cap (an error, not an
 * abort, so a hostile length fails cleanly), and keeps its data NUL-terminated so
 * text built in it can be used as a C string. The Rd reader is a cursor over
 * bytes: each rd_* call checks the bytes left before reading big-endian integers
 * or NUL-terminated strings and only advances on success.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void buf_init(Buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void buf_free(Buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void buf_reset(Buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

bool buf_reserve(Buf *b, size_t extra, Err *err)
{
    size_t need;
    if (!size_add(b->len, extra, &need) || need > b->cap)
        return err_set(err, ERR_TOO_LARGE, "buffer limit of %zu bytes exceeded (needed %zu more)",
                       b->cap, extra);
    if (need + 1 <= b->alloc)
        return true;
    size_t grow = b->alloc ? b->alloc : 64;
    while (grow < need + 1)
        grow = grow > SIZE_MAX / 2 ? need + 1 : grow * 2;
    if (grow > b->cap + 1)
        grow = b->cap + 1;
    b->data = xrealloc(b->data, grow);
    b->alloc = grow;
    return true;
}

bool buf_append_grow(Buf *b, const void *data, size_t len, Err *err)
{
    if (!buf_reserve(b, len, err))
        return false;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return true;
}


bool buf_printf(Buf *b, Err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return err_set(err, ERR_INTERNAL, "formatting failed");
    if (!buf_reserve(b, (size_t)n, err))
        return false;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

bool buf_append_u64(Buf *b, uint64_t v, Err *err)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return buf_append(b, digits + sizeof digits - n, n, err);
}

bool buf_append_i64(Buf *b, int64_t v, Err *err)
{
    if (v >= 0)
        return buf_append_u64(b, (uint64_t)v, err);
    return buf_append(b, "-", 1, err) && buf_append_u64(b, (uint64_t)(-(v + 1)) + 1, err);
}

char *buf_take(Buf *b)
{
    char *out = b->data ? b->data : xstrdup("");
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return out;
}

bool rd_u8(Rd *r, uint8_t *out)
{
    if (r->left < 1)
        return false;
    *out = r->p[0];
    r->p += 1;
    r->left -= 1;
    return true;
}

bool rd_be16(Rd *r, uint16_t *out)
{
    if (r->left < 2)
        return false;
    *out = (uint16_t)((unsigned)r->p[0] << 8 | r->p[1]);
    r->p += 2;
    r->left -= 2;
    return true;
}

bool rd_be32(Rd *r, uint32_t *out)
{
    if (r->left < 4)
        return false;
    *out = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->left -= 4;
    return true;
}

bool rd_be64(Rd *r, uint64_t *out)
{
    uint32_t hi, lo;
    if (r->left < 8)
        return false;
    if (!rd_be32(r, &hi) || !rd_be32(r, &lo))
        return false;
    *out = (uint64_t)hi << 32 | lo;
    return true;
}

bool rd_bytes(Rd *r, size_t n, const uint8_t **out)
{
    if (n > r->left)
        return false;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

bool rd_cstr(Rd *r, size_t max, const char **out, size_t *out_len)
{
    size_t window = r->left < max ? r->left : max;
    if (window == 0)
        return false;
    const uint8_t *nul = memchr(r->p, '\0', window);
    if (!nul)
        return false;
    size_t len = (size_t)(nul - r->p);
    *out = (const char *)r->p;
    if (out_len)
        *out_len = len;
    r->p += len + 1;
    r->left -= len + 1;
    return true;
}

/*
 * snapshot/copytext.c - see copytext.h.
 *
 * Splits one row of COPY TO STDOUT text format in place: fields at tabs, "\N" as
 * NULL, and backslash escapes decoded the way Postgres reads them (\b \f \n \r \t
 * \v, \x with one or two hex digits, one to three octal digits, any other char
 * as itself) by compacting the bytes inside the row buffer, so the resulting
 * PgoCol values point into it and nothing is copied. Fields without a backslash
 * are not touched. Too few or too many fields, or a trailing lone backslash, is
 * a protocol error naming the column.
 */
#include "snapshot/copytext.h"

#include <stdint.h>
#include <string.h>

#include "core/hex.h"

/* Unescape p[0..end) in place from the first backslash at bs; returns the new end. */
static char *unescape(char *bs, char *end, Err *err)
{
    char *r = bs, *w = bs;
    while (r < end) {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        if (++r == end) {
            err_set(err, ERR_PROTOCOL, "COPY row: a value ends with a lone backslash");
            return NULL;
        }
        char c = *r++;
        switch (c) {
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'v': *w++ = '\v'; break;
        case 'x': {
            int v = r < end ? hex_value(*r) : -1;
            if (v < 0) {
                *w++ = 'x'; /* as Postgres reads it: \x without a hex digit is x */
                break;
            }
            r++;
            int d = r < end ? hex_value(*r) : -1;
            if (d >= 0) {
                v = v * 16 + d;
                r++;
            }
            *w++ = (char)v;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0';
                for (int k = 0; k < 2 && r < end && *r >= '0' && *r <= '7'; k++)
                    v = v * 8 + (*r++ - '0');
                *w++ = (char)(v & 0xff);
            } else {
                *w++ = c;
            }
        }
    }
    return w;
}

bool copytext_split(char *row, size_t len, PgoCol *cols, size_t ncols, Err *err)
{
    if (len && row[len - 1] == '\n')
        len--;
    char *p = row, *end = row + len;
    if (ncols == 0)
        return len == 0 || err_set(err, ERR_PROTOCOL, "COPY row has columns, expected none");
    for (size_t c = 0; c < ncols; c++) {
        if (p > end)
            return err_set(err, ERR_PROTOCOL, "COPY row has %zu columns, expected %zu", c, ncols);
        char *tab = memchr(p, '\t', (size_t)(end - p));
        char *fe = tab ? tab : end;
        if (!tab && c + 1 < ncols)
            return err_set(err, ERR_PROTOCOL, "COPY row has %zu columns, expected %zu", c + 1, ncols);
        char *bs = memchr(p, '\\', (size_t)(fe - p));
        if (bs && fe - p == 2 && p[1] == 'N') {
            cols[c] = (PgoCol){.kind = PGO_COL_NULL};
        } else {
            char *ve = bs ? unescape(bs, fe, err) : fe;
            if (!ve)
                return err_prefix(err, "column %zu", c + 1), false;
            if ((size_t)(ve - p) > UINT32_MAX)
                return err_set(err, ERR_TOO_LARGE, "COPY row: column %zu is larger than 4 GiB", c + 1);
            cols[c] = (PgoCol){.kind = PGO_COL_TEXT, .len = (uint32_t)(ve - p), .data = (const uint8_t *)p};
        }
        p = fe + 1;
    }
    if (p <= end)
        return err_set(err, ERR_PROTOCOL, "COPY row has more than %zu columns", ncols);
    return true;
}

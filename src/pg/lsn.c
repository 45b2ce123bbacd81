/*
 * pg/lsn.c - see lsn.h. Each half of "HI/LO" is read digit by digit (at most
 * eight, through core/hex), so nothing a libc parser would accept - signs,
 * spaces, "0x", overflow - gets through.
 */
#include "pg/lsn.h"

#include <stddef.h>

#include "core/hex.h"

/* One half: 1..8 hex digits. Advances *s past them. */
static bool parse_half(const char **s, uint32_t *out)
{
    uint32_t v = 0;
    size_t n = 0;
    int d;
    while ((d = hex_value((*s)[n])) >= 0) {
        if (n == 8)
            return false;
        v = v << 4 | (uint32_t)d;
        n++;
    }
    if (n == 0)
        return false;
    *s += n;
    *out = v;
    return true;
}

bool lsn_parse(const char *s, Lsn *out, Err *err)
{
    const char *p = s;
    uint32_t hi, lo;
    if (!s)
        return err_set(err, ERR_USAGE, "missing lsn");
    if (!parse_half(&p, &hi) || *p != '/')
        return err_set(err, ERR_USAGE, "invalid lsn '%.40s' (expected hex 'X/X')", s);
    p++;
    if (!parse_half(&p, &lo) || *p != '\0')
        return err_set(err, ERR_USAGE, "invalid lsn '%.40s' (expected hex 'X/X')", s);
    *out = (Lsn)hi << 32 | lo;
    return true;
}

static char *put_hex(char *p, uint32_t v)
{
    static const char digits[] = "0123456789ABCDEF";
    char tmp[8];
    int n = 0;
    do {
        tmp[n++] = digits[v & 0xF];
        v >>= 4;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

char *lsn_format(Lsn lsn, char *buf)
{
    char *p = put_hex(buf, (uint32_t)(lsn >> 32));
    *p++ = '/';
    p = put_hex(p, (uint32_t)lsn);
    *p = '\0';
    return buf;
}

char *lsn_format_fixed(Lsn lsn, char *buf)
{
    static const char digits[] = "0123456789ABCDEF";
    for (int i = 15; i >= 0; i--, lsn >>= 4)
        buf[i] = digits[lsn & 0xF];
    buf[16] = '\0';
    return buf;
}

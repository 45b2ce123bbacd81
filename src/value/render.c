/*
 * value/render.c - Postgres text to D1 values and to JSON (see render.h and docs/types.md).
 *
 * Every conversion reads the value's text through a bounded cursor and writes
 * into a capped Buf; dates and times are re-parsed field by field (never via
 * libc's locale-dependent parsers). Nested values (array elements, composite
 * attributes) are rendered as JSON by the same conversions as top-level columns.
 */
#include "value/render.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/hex.h"
#include "core/json_text.h"
#include "core/mem.h"
#include "core/str.h"

/* Cap: a converted value or nested JSON document. */
#define D1_VALUE_MAX_BYTES ((size_t)64 * 1024 * 1024)

/* ---- small text helpers ---------------------------------------------------- */

typedef struct Cur {
    const char *p;
    size_t n;
} Cur;

static bool bad(Err *err, const D1Type *t, const char *s, size_t n)
{
    return err_set(err, ERR_PROTOCOL, "invalid %s value \"%.*s\"", t->pg_name,
                   n > 64 ? 64 : (int)n, s);
}

static bool cur_digits(Cur *c, size_t min, size_t max, int64_t *out)
{
    int64_t v = 0;
    size_t k = 0;
    while (k < c->n && k < max && c->p[k] >= '0' && c->p[k] <= '9') {
        v = v * 10 + (c->p[k] - '0');
        k++;
    }
    if (k < min)
        return false;
    c->p += k;
    c->n -= k;
    *out = v;
    return true;
}

static bool cur_char(Cur *c, char ch)
{
    if (c->n == 0 || c->p[0] != ch)
        return false;
    c->p++;
    c->n--;
    return true;
}

static bool cur_rest_is(const Cur *c, const char *s)
{
    return c->n == strlen(s) && memcmp(c->p, s, c->n) == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* v in decimal, zero-padded to at least width digits: printf's %0*llu without its
 * cost, which dominated rendering rows with dates (snapshots, replays). */
static bool fmt_uint(Buf *b, uint64_t v, int width, Err *err)
{
    char d[24];
    int i = (int)sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i > (int)sizeof d - width)
        d[--i] = '0';
    return buf_append(b, d + i, sizeof d - (size_t)i, err);
}

static bool fmt_int(Buf *b, int64_t v, int width, Err *err)
{
    if (v >= 0)
        return fmt_uint(b, (uint64_t)v, width, err);
    return buf_append(b, "-", 1, err) && fmt_uint(b, (uint64_t)(-(v + 1)) + 1, width, err);
}

static bool fmt_year(Buf *b, int64_t y, Err *err) { return fmt_int(b, y, 4, err); }

/* "-MM-DD" */
static bool fmt_month_day(Buf *b, int64_t mo, int64_t d, Err *err)
{
    return buf_append(b, "-", 1, err) && fmt_uint(b, (uint64_t)mo, 2, err) && buf_append(b, "-", 1, err) &&
           fmt_uint(b, (uint64_t)d, 2, err);
}

typedef struct Stamp {
    int64_t y, mo, d, h, mi, s;
    const char *frac;          /* ".5" including the point, or "" */
    size_t frac_len;
    int64_t off;               /* offset seconds east of UTC */
    bool has_off;
} Stamp;

/* "YYYY-MM-DD" with a year of 4+ digits; BC is handled by the caller. */
static bool parse_date(Cur *c, Stamp *st)
{
    return cur_digits(c, 4, 9, &st->y) && cur_char(c, '-') && cur_digits(c, 2, 2, &st->mo) &&
           cur_char(c, '-') && cur_digits(c, 2, 2, &st->d) && st->mo >= 1 && st->mo <= 12 &&
           st->d >= 1 && st->d <= 31;
}

/* "HH:MM:SS[.f]" (24:00:00 is valid in Postgres). */
static bool parse_time(Cur *c, Stamp *st)
{
    if (!(cur_digits(c, 2, 2, &st->h) && cur_char(c, ':') && cur_digits(c, 2, 2, &st->mi) &&
          cur_char(c, ':') && cur_digits(c, 2, 2, &st->s) && st->h <= 24 && st->mi < 60 &&
          st->s < 61))
        return false;
    st->frac = "";
    st->frac_len = 0;
    if (c->n && c->p[0] == '.') {
        size_t k = 1;
        while (k < c->n && c->p[k] >= '0' && c->p[k] <= '9')
            k++;
        if (k == 1)
            return false;
        st->frac = c->p;
        st->frac_len = k;
        c->p += k;
        c->n -= k;
    }
    return true;
}

/* "+HH[:MM[:SS]]" */
static bool parse_offset(Cur *c, Stamp *st)
{
    if (c->n == 0 || (c->p[0] != '+' && c->p[0] != '-'))
        return false;
    int sign = c->p[0] == '-' ? -1 : 1;
    c->p++;
    c->n--;
    int64_t h, m = 0, s = 0;
    if (!cur_digits(c, 2, 2, &h))
        return false;
    if (cur_char(c, ':') && !cur_digits(c, 2, 2, &m))
        return false;
    if (cur_char(c, ':') && !cur_digits(c, 2, 2, &s))
        return false;
    if (h > 15 || m > 59 || s > 59)
        return false;
    st->off = sign * (h * 3600 + m * 60 + s);
    st->has_off = true;
    return true;
}

static bool parse_bc(Cur *c, Stamp *st)
{
    if (c->n == 0)
        return true;
    if (!cur_rest_is(c, " BC"))
        return false;
    c->n = 0;
    st->y = 1 - st->y; /* astronomical numbering: 1 BC is year 0 */
    return true;
}

static bool fmt_hms(Buf *b, const Stamp *st, Err *err)
{
    return fmt_uint(b, (uint64_t)st->h, 2, err) && buf_append(b, ":", 1, err) &&
           fmt_uint(b, (uint64_t)st->mi, 2, err) && buf_append(b, ":", 1, err) &&
           fmt_uint(b, (uint64_t)st->s, 2, err) && buf_append(b, st->frac, st->frac_len, err);
}

static bool fmt_offset(Buf *b, int64_t off, Err *err)
{
    int64_t a = off < 0 ? -off : off;
    if (a % 60)
        return buf_printf(b, err, "%c%02lld:%02lld:%02lld", off < 0 ? '-' : '+', (long long)(a / 3600),
                          (long long)(a / 60 % 60), (long long)(a % 60));
    return buf_printf(b, err, "%c%02lld:%02lld", off < 0 ? '-' : '+', (long long)(a / 3600),
                      (long long)(a / 60 % 60));
}

/* Date and time conversions into b; false with ERR_PROTOCOL on malformed text. */
static bool conv_datetime(const D1Type *t, const char *s, size_t n, Buf *b, Err *err)
{
    Cur c = {s, n};
    Stamp st;
    memset(&st, 0, sizeof st);
    if (t->conv == D1C_DATE || t->conv == D1C_TIMESTAMP || t->conv == D1C_TIMESTAMPTZ) {
        if (cur_rest_is(&c, "infinity") || cur_rest_is(&c, "-infinity"))
            return buf_append(b, s, n, err);
    }
    switch (t->conv) {
    case D1C_DATE:
        if (!parse_date(&c, &st) || !parse_bc(&c, &st) || c.n)
            return bad(err, t, s, n);
        return fmt_year(b, st.y, err) && fmt_month_day(b, st.mo, st.d, err);
    case D1C_TIME:
        if (!parse_time(&c, &st) || c.n)
            return bad(err, t, s, n);
        return fmt_hms(b, &st, err);
    case D1C_TIMETZ:
        if (!parse_time(&c, &st) || !parse_offset(&c, &st) || c.n)
            return bad(err, t, s, n);
        return fmt_hms(b, &st, err) && fmt_offset(b, st.off, err);
    case D1C_TIMESTAMP:
    case D1C_TIMESTAMPTZ: {
        bool tz = t->conv == D1C_TIMESTAMPTZ;
        if (!parse_date(&c, &st) || !cur_char(&c, ' ') || !parse_time(&c, &st) ||
            (tz && !parse_offset(&c, &st)) || !parse_bc(&c, &st) || c.n)
            return bad(err, t, s, n);
        if (tz && st.off != 0) {
            int64_t secs = days_from_civil(st.y, st.mo, st.d) * 86400 + st.h * 3600 + st.mi * 60 +
                           st.s - st.off;
            int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
            int64_t rem = secs - days * 86400;
            civil_from_days(days, &st.y, &st.mo, &st.d);
            st.h = rem / 3600;
            st.mi = rem / 60 % 60;
            st.s = rem % 60;
        }
        return fmt_year(b, st.y, err) && fmt_month_day(b, st.mo, st.d, err) && buf_append(b, "T", 1, err) &&
               fmt_hms(b, &st, err) && (!tz || buf_append_str(b, "Z", err));
    }
    default:
        return bad(err, t, s, n);
    }
}

static bool conv_interval(const D1Type *t, const char *s, size_t n, Buf *b, Err *err)
{
    if (n < 2 || s[0] != 'P')
        return err_set(err, ERR_PROTOCOL,
                       "interval value \"%.*s\" is not in ISO 8601 form (the source session needs "
                       "IntervalStyle=iso_8601)",
                       n > 64 ? 64 : (int)n, s);
    for (size_t i = 1; i < n; i++)
        if (!strchr("0123456789YMWDTHS.-", s[i]) || s[i] == '\0')
            return bad(err, t, s, n);
    return buf_append(b, s, n, err);
}

static bool conv_bytea(const D1Type *t, const char *s, size_t n, Buf *b, Err *err)
{
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
        if ((n - 2) % 2)
            return bad(err, t, s, n);
        for (size_t i = 2; i < n; i += 2) {
            int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
            if (hi < 0 || lo < 0)
                return bad(err, t, s, n);
            uint8_t byte = (uint8_t)(hi << 4 | lo);
            if (!buf_append(b, &byte, 1, err))
                return false;
        }
        return true;
    }
    /* escape format: \\ and \ooo, everything else literal */
    for (size_t i = 0; i < n; i++) {
        uint8_t byte = (uint8_t)s[i];
        if (s[i] == '\\') {
            if (i + 1 < n && s[i + 1] == '\\') {
                i++;
            } else if (i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                       s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                byte = (uint8_t)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
                i += 3;
            } else {
                return bad(err, t, s, n);
            }
        }
        if (!buf_append(b, &byte, 1, err))
            return false;
    }
    return true;
}

/* Postgres writes an integer as an optional '-' and digits without a leading zero; up to 18 digits
 * (no overflow) such text is the value's own decimal form, written back as it is. */
static bool canonical_int(const char *s, size_t n, int64_t *out)
{
    size_t neg = n && s[0] == '-', digits = n - neg;
    if (digits == 0 || digits > 18 || (s[neg] == '0' && (digits > 1 || neg)))
        return false;
    int64_t v = 0;
    for (size_t i = neg; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + (int64_t)d;
    }
    *out = neg ? -v : v;
    return true;
}

/* Any text Postgres or a user gives for an integer (leading zeros, '+', ...), through strtoll. */
static bool parse_int_text(const D1Type *t, const char *s, size_t n, int64_t *out, Err *err)
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return bad(err, t, s, n);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (!str_to_i64(tmp, out))
        return bad(err, t, s, n);
    return true;
}

static bool parse_int(const D1Type *t, const char *s, size_t n, int64_t *out, Err *err)
{
    return canonical_int(s, n, out) || parse_int_text(t, s, n, out, err);
}

static bool is_float_special(const char *s, size_t n)
{
    return (n == 3 && memcmp(s, "NaN", 3) == 0) || (n == 8 && memcmp(s, "Infinity", 8) == 0) ||
           (n == 9 && memcmp(s, "-Infinity", 9) == 0);
}

static bool parse_double(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", tmp[i]))
            return false;
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end || end == tmp || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* A json/jsonb document: malformed, embeddable as it is, or one that must be wrapped
 * because embedding it would be ambiguous (JSON null would read as SQL NULL; a one-key
 * {"$json": …} object would read as the wrapper itself). */
typedef enum JsonShape { JSON_BAD, JSON_PLAIN, JSON_WRAP } JsonShape;

static JsonShape json_shape(const char *s, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j)
        return JSON_BAD;
    bool wrap = json_is_null(j) || (json_is_object(j) && json_object_size(j) == 1 &&
                                    json_object_get(j, D1_JSON_WRAPPER));
    json_decref(j);
    return wrap ? JSON_WRAP : JSON_PLAIN;
}

static bool wrap_open(Buf *b, bool wrap, Err *err)
{
    return !wrap || buf_append_str(b, "{\"" D1_JSON_WRAPPER "\":", err);
}

static bool wrap_close(Buf *b, bool wrap, Err *err) { return !wrap || buf_append(b, "}", 1, err); }

static bool append_json(const D1Type *t, const char *s, size_t n, Buf *b, int depth, Err *err);

/* Unescape one quoted or unquoted array/record item into tmp. */
static bool read_item(const char *s, size_t n, size_t *pos, const char *stops, bool record,
                      Buf *tmp, bool *quoted, Err *err)
{
    size_t i = *pos;
    *quoted = false;
    if (i < n && s[i] == '"') {
        *quoted = true;
        i++;
        for (;;) {
            if (i >= n)
                return err_set(err, ERR_PROTOCOL, "unterminated quoted item");
            char c = s[i];
            if (c == '"') {
                if (record && i + 1 < n && s[i + 1] == '"') {
                    if (!buf_append(tmp, "\"", 1, err))
                        return false;
                    i += 2;
                    continue;
                }
                i++;
                break;
            }
            if (c == '\\') {
                if (i + 1 >= n)
                    return err_set(err, ERR_PROTOCOL, "dangling backslash");
                i++;
                c = s[i];
            }
            if (!buf_append(tmp, &c, 1, err))
                return false;
            i++;
        }
    } else {
        while (i < n && !strchr(stops, s[i])) {
            char c = s[i];
            if (c == '"')
                return err_set(err, ERR_PROTOCOL, "stray quote");
            if (c == '\\') {
                if (i + 1 >= n)
                    return err_set(err, ERR_PROTOCOL, "dangling backslash");
                i++;
                c = s[i];
            }
            if (!buf_append(tmp, &c, 1, err))
                return false;
            i++;
        }
    }
    *pos = i;
    return true;
}

/* One "{...}" level of an array starting at s[*pos]. */
static bool append_array_level(const D1Type *t, const char *s, size_t n, size_t *pos, Buf *b,
                               int depth, Err *err)
{
    if (depth > D1_MAX_NESTING)
        return err_set(err, ERR_PROTOCOL, "array nests too deeply");
    size_t i = *pos;
    if (i >= n || s[i] != '{')
        return err_set(err, ERR_PROTOCOL, "expected '{'");
    i++;
    if (!buf_append(b, "[", 1, err))
        return false;
    char stops[3] = {t->delim, '}', '\0'};
    if (i < n && s[i] == '}') {
        *pos = i + 1;
        return buf_append(b, "]", 1, err);
    }
    Buf tmp;
    buf_init(&tmp, D1_VALUE_MAX_BYTES);
    for (size_t k = 0;; k++) {
        if (k && !buf_append(b, ",", 1, err))
            goto fail;
        if (i < n && s[i] == '{') {
            if (!append_array_level(t, s, n, &i, b, depth + 1, err))
                goto fail;
        } else {
            bool quoted;
            buf_reset(&tmp);
            if (!read_item(s, n, &i, stops, false, &tmp, &quoted, err))
                goto fail;
            const char *item = tmp.data ? tmp.data : "";
            if (!quoted && tmp.len == 4 && (item[0] == 'N' || item[0] == 'n') &&
                (item[1] == 'U' || item[1] == 'u') && (item[2] == 'L' || item[2] == 'l') &&
                (item[3] == 'L' || item[3] == 'l')) {
                if (!buf_append(b, "null", 4, err))
                    goto fail;
            } else if (!quoted && tmp.len == 0) {
                err_set(err, ERR_PROTOCOL, "empty unquoted array item");
                goto fail;
            } else if (!append_json(t->elem, item, tmp.len, b, depth + 1, err)) {
                goto fail;
            }
        }
        if (i < n && s[i] == t->delim) {
            i++;
            continue;
        }
        if (i < n && s[i] == '}') {
            i++;
            break;
        }
        err_set(err, ERR_PROTOCOL, "expected '%c' or '}' in array", t->delim);
        goto fail;
    }
    buf_free(&tmp);
    *pos = i;
    return buf_append(b, "]", 1, err);
fail:
    buf_free(&tmp);
    return false;
}

static bool append_array(const D1Type *t, const char *s, size_t n, Buf *b, int depth, Err *err)
{
    size_t i = 0;
    if (n && s[0] == '[') { /* "[0:1]={...}": non-default bounds; the JSON keeps the elements */
        const void *eq = memchr(s, '=', n);
        if (!eq)
            return bad(err, t, s, n);
        i = (size_t)((const char *)eq - s) + 1;
    }
    Err sub;
    if (!append_array_level(t, s, n, &i, b, depth, &sub) || i != n) {
        if (i != n && sub.code == ERR_OK)
            err_set(&sub, ERR_PROTOCOL, "trailing characters");
        if (sub.code == ERR_TOO_LARGE) {
            *err = sub;
            return false;
        }
        return err_set(err, ERR_PROTOCOL, "invalid %s value \"%.*s\": %s", t->pg_name,
                       n > 64 ? 64 : (int)n, s, sub.msg);
    }
    return true;
}

static bool append_record(const D1Type *t, const char *s, size_t n, Buf *b, int depth, Err *err)
{
    if (n < 2 || s[0] != '(' || s[n - 1] != ')')
        return bad(err, t, s, n);
    Buf tmp;
    buf_init(&tmp, D1_VALUE_MAX_BYTES);
    size_t i = 1;
    bool ok = buf_append(b, "{", 1, err);
    for (size_t k = 0; ok && k < t->attr_count; k++) {
        if (k) {
            if (i >= n || s[i] != ',') {
                ok = bad(err, t, s, n);
                break;
            }
            i++;
        }
        bool quoted;
        buf_reset(&tmp);
        Err sub;
        if (!read_item(s, n - 1, &i, ",", true, &tmp, &quoted, &sub)) {
            ok = bad(err, t, s, n);
            break;
        }
        ok = (k == 0 || buf_append(b, ",", 1, err)) &&
             json_text_append_str(b, t->attr_names[k], strlen(t->attr_names[k]), err) &&
             buf_append(b, ":", 1, err);
        if (!ok)
            break;
        if (!quoted && tmp.len == 0)
            ok = buf_append(b, "null", 4, err);
        else
            ok = append_json(t->attrs[k], tmp.data ? tmp.data : "", tmp.len, b, depth + 1, err);
    }
    if (ok && i != n - 1)
        ok = bad(err, t, s, n);
    buf_free(&tmp);
    return ok && buf_append(b, "}", 1, err);
}

/* The natural conversion (before any override): kind + bytes in b. */
static bool parse_bool(const D1Type *t, const char *s, size_t n, int64_t *out, Err *err)
{
    if ((n == 1 && s[0] == 't') || (n == 4 && memcmp(s, "true", 4) == 0))
        *out = 1;
    else if ((n == 1 && s[0] == 'f') || (n == 5 && memcmp(s, "false", 5) == 0))
        *out = 0;
    else
        return bad(err, t, s, n);
    return true;
}

static bool convert(const D1Type *t, const char *s, size_t n, D1ValKind *kind, int64_t *iv,
                    double *rv, Buf *b, int depth, Err *err)
{
    switch (t->conv) {
    case D1C_INT:
        *kind = D1V_INTEGER;
        if (canonical_int(s, n, iv))
            return buf_append(b, s, n, err);
        if (!parse_int_text(t, s, n, iv, err))
            return false;
        return fmt_int(b, *iv, 1, err);
    case D1C_BOOL:
        *kind = D1V_INTEGER;
        return parse_bool(t, s, n, iv, err) && buf_append(b, *iv ? "1" : "0", 1, err);
    case D1C_FLOAT:
        if (is_float_special(s, n)) {
            *kind = D1V_TEXT;
            return buf_append(b, s, n, err);
        }
        *kind = D1V_REAL;
        if (!parse_double(s, n, rv))
            return bad(err, t, s, n);
        return buf_append(b, s, n, err);
    case D1C_NUMERIC: {
        *kind = D1V_TEXT;
        bool ok = n > 0 && n < 200000;
        for (size_t i = 0; ok && i < n; i++)
            ok = strchr("0123456789+-.eE", s[i]) && s[i];
        if (!ok && !(n == 3 && memcmp(s, "NaN", 3) == 0) && !is_float_special(s, n))
            return bad(err, t, s, n);
        return buf_append(b, s, n, err);
    }
    case D1C_JSON: /* D1 keeps SQL NULL and the text 'null' apart: no wrapper */
        *kind = D1V_TEXT;
        if (json_shape(s, n) == JSON_BAD)
            return bad(err, t, s, n);
        return buf_append(b, s, n, err);
    case D1C_TEXT:
    case D1C_RAW:
        *kind = D1V_TEXT;
        return buf_append(b, s, n, err);
    case D1C_BYTEA:
        *kind = D1V_BLOB;
        return conv_bytea(t, s, n, b, err);
    case D1C_DATE:
    case D1C_TIME:
    case D1C_TIMETZ:
    case D1C_TIMESTAMP:
    case D1C_TIMESTAMPTZ:
        *kind = D1V_TEXT;
        return conv_datetime(t, s, n, b, err);
    case D1C_INTERVAL:
        *kind = D1V_TEXT;
        return conv_interval(t, s, n, b, err);
    case D1C_ARRAY:
        *kind = D1V_TEXT;
        return append_array(t, s, n, b, depth, err);
    case D1C_COMPOSITE:
        *kind = D1V_TEXT;
        return append_record(t, s, n, b, depth, err);
    }
    return bad(err, t, s, n);
}

/* Types whose rendering never needs JSON escaping (digits, signs, '.', ':', '-',
 * 'T', 'Z', "infinity", "NaN"): written straight into the output, without the
 * scratch copy of append_json, which cost a malloc per value. */
static bool renders_plain(const D1Type *t)
{
    switch (t->conv) {
    case D1C_INT:
    case D1C_BOOL:
    case D1C_NUMERIC:
    case D1C_DATE:
    case D1C_TIME:
    case D1C_TIMETZ:
    case D1C_TIMESTAMP:
    case D1C_TIMESTAMPTZ:
        return true;
    default:
        return false;
    }
}

static bool append_plain_json(const D1Type *t, const char *s, size_t n, Buf *b, Err *err)
{
    D1ValKind kind;
    int64_t iv = 0;
    double rv = 0;
    if (t->conv == D1C_BOOL)
        return parse_bool(t, s, n, &iv, err) && buf_append_str(b, iv ? "true" : "false", err);
    if (t->conv == D1C_INT) {
        bool same = canonical_int(s, n, &iv); /* the text is the number's own */
        if (!same && !parse_int_text(t, s, n, &iv, err))
            return false;
        if (!t->big_int || (iv <= (INT64_C(1) << 53) && iv >= -(INT64_C(1) << 53)))
            return same ? buf_append(b, s, n, err) : fmt_int(b, iv, 1, err);
        return buf_append(b, "\"", 1, err) && fmt_int(b, iv, 1, err) && buf_append(b, "\"", 1, err);
    }
    size_t mark = b->len;
    if (buf_append(b, "\"", 1, err) && convert(t, s, n, &kind, &iv, &rv, b, 0, err) && buf_append(b, "\"", 1, err))
        return true;
    b->len = mark; /* as if nothing was written */
    if (b->data)
        b->data[mark] = '\0';
    return false;
}

/* A nested value as JSON: numbers stay numbers where JSON keeps them exact. */
static bool append_json(const D1Type *t, const char *s, size_t n, Buf *b, int depth, Err *err)
{
    if (depth > D1_MAX_NESTING)
        return err_set(err, ERR_PROTOCOL, "value nests too deeply");
    if (t->conv == D1C_ARRAY)
        return append_array(t, s, n, b, depth, err);
    if (t->conv == D1C_COMPOSITE) { /* a record whose one attribute is "$json" would read as the wrapper */
        bool wrap = t->attr_count == 1 && strcmp(t->attr_names[0], D1_JSON_WRAPPER) == 0;
        return wrap_open(b, wrap, err) && append_record(t, s, n, b, depth, err) && wrap_close(b, wrap, err);
    }
    if (t->conv == D1C_JSON) {
        JsonShape shape = json_shape(s, n);
        if (shape == JSON_BAD)
            return bad(err, t, s, n);
        return wrap_open(b, shape == JSON_WRAP, err) && buf_append(b, s, n, err) &&
               wrap_close(b, shape == JSON_WRAP, err);
    }
    if (t->conv == D1C_BYTEA) { /* keep Postgres's hex form: "\\x0102" */
        Buf bytes;
        buf_init(&bytes, D1_VALUE_MAX_BYTES);
        bool ok = conv_bytea(t, s, n, &bytes, err);
        Buf hex;
        buf_init(&hex, D1_VALUE_MAX_BYTES);
        ok = ok && buf_append_str(&hex, "\\x", err);
        for (size_t i = 0; ok && i < bytes.len; i++)
            ok = buf_printf(&hex, err, "%02x", (unsigned char)bytes.data[i]);
        ok = ok && json_text_append_str(b, hex.data, hex.len, err);
        buf_free(&bytes);
        buf_free(&hex);
        return ok;
    }
    if ((t->conv == D1C_TEXT || t->conv == D1C_RAW) && n <= D1_VALUE_MAX_BYTES) /* convert() copies it as it is */
        return json_text_append_str(b, s, n, err);
    if (renders_plain(t))
        return append_plain_json(t, s, n, b, err);
    Buf v;
    buf_init(&v, D1_VALUE_MAX_BYTES);
    D1ValKind kind;
    int64_t iv = 0;
    double rv = 0;
    bool ok = convert(t, s, n, &kind, &iv, &rv, &v, depth, err);
    if (ok) {
        const char *text = v.data ? v.data : "";
        if (t->conv == D1C_BOOL)
            ok = buf_append_str(b, iv ? "true" : "false", err);
        else if (kind == D1V_INTEGER && (!t->big_int || (iv <= (INT64_C(1) << 53) &&
                                                         iv >= -(INT64_C(1) << 53))))
            ok = buf_append(b, text, v.len, err);
        else if (kind == D1V_REAL)
            ok = buf_append(b, text, v.len, err);
        else
            ok = json_text_append_str(b, text, v.len, err);
    }
    buf_free(&v);
    return ok;
}

bool d1_value_append_json(const D1Type *t, const char *text, size_t len, Buf *out, Err *err)
{
    return append_json(t, text, len, out, 0, err);
}

void d1_value_clear(D1Value *v)
{
    free(v->data);
    memset(v, 0, sizeof *v);
}

/* Apply a mapping override: store the natural value as the requested class. */
static bool coerce(const D1Type *t, D1Value *v, Err *err)
{
    D1ValKind want = t->affinity == D1_INTEGER ? D1V_INTEGER
                   : t->affinity == D1_REAL    ? D1V_REAL
                   : t->affinity == D1_BLOB    ? D1V_BLOB
                                               : D1V_TEXT;
    if (v->kind == want || v->kind == D1V_NULL)
        return true;
    switch (want) {
    case D1V_TEXT:
        if (v->kind == D1V_BLOB) { /* bytes as Postgres hex text */
            char *hex = xmalloc(v->len * 2 + 3);
            hex[0] = '\\';
            hex[1] = 'x';
            for (size_t i = 0; i < v->len; i++)
                snprintf(hex + 2 + 2 * i, 3, "%02x", (unsigned char)v->data[i]);
            hex[v->len * 2 + 2] = '\0';
            free(v->data);
            v->data = hex;
            v->len = v->len * 2 + 2;
        }
        v->kind = D1V_TEXT; /* INTEGER and REAL text is already their decimal form */
        return true;
    case D1V_INTEGER:
        if (v->kind == D1V_REAL && v->r == floor(v->r) && fabs(v->r) < 9.2e18) {
            v->i = (int64_t)v->r;
        } else if (v->kind == D1V_TEXT && parse_int(t, v->data, v->len, &v->i, err)) {
            /* parsed */
        } else {
            return err_set(err, ERR_PROTOCOL, "%s value \"%.*s\" is not an integer (the mapping "
                           "stores it as INTEGER)", t->pg_name, v->len > 64 ? 64 : (int)v->len,
                           v->data);
        }
        free(v->data);
        v->data = xasprintf("%lld", (long long)v->i);
        v->len = strlen(v->data);
        v->kind = D1V_INTEGER;
        return true;
    case D1V_REAL:
        if (v->kind == D1V_INTEGER) {
            v->r = (double)v->i;
        } else if (v->kind == D1V_TEXT && parse_double(v->data, v->len, &v->r)) {
            /* parsed */
        } else if (v->kind == D1V_TEXT && is_float_special(v->data, v->len)) {
            return true; /* NaN/Infinity stay TEXT, as for float columns */
        } else {
            return err_set(err, ERR_PROTOCOL, "%s value \"%.*s\" is not a number (the mapping "
                           "stores it as REAL)", t->pg_name, v->len > 64 ? 64 : (int)v->len,
                           v->data);
        }
        v->kind = D1V_REAL;
        return true;
    case D1V_BLOB:
        v->kind = D1V_BLOB; /* the text's bytes */
        return true;
    case D1V_NULL:
        break;
    }
    return true;
}

bool d1_value_from_text(const D1Type *t, const char *text, size_t len, D1Value *out, Err *err)
{
    memset(out, 0, sizeof *out);
    Buf b;
    buf_init(&b, D1_VALUE_MAX_BYTES);
    D1ValKind kind = D1V_TEXT;
    int64_t iv = 0;
    double rv = 0;
    if (!convert(t, text ? text : "", len, &kind, &iv, &rv, &b, 0, err)) {
        buf_free(&b);
        return false;
    }
    out->kind = kind;
    out->len = b.len;
    out->data = b.data ? buf_take(&b) : xstrdup("");
    out->i = iv;
    out->r = rv;
    buf_free(&b);
    if (t->overridden && !coerce(t, out, err)) {
        d1_value_clear(out);
        return false;
    }
    return true;
}

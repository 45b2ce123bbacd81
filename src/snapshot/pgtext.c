/*
 * snapshot/pgtext.c - see pgtext.h.
 *
 * A small strict JSON scanner (depth and sizes bounded) finds each member of a
 * row line; the member's name is matched to a column (the expected position is
 * tried first, since snapshot rows keep column order) and its value converted by
 * type: booleans to t/f, numbers copied as printed, dates and times reformatted to
 * Postgres's ISO output, arrays and records rebuilt with Postgres's quoting, json
 * unwrapped from its "$json" wrapper. All texts of a row go into one arena buffer
 * the returned PgoCol values point into, valid until the next row; JSON null is a
 * SQL NULL, and a missing, unknown or repeated column is an error naming it.
 */
#include "snapshot/pgtext.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/mem.h"

#define PGTEXT_MAX_DEPTH 32
#define PGTEXT_VALUE_MAX ((size_t)1024 * 1024 * 1024)

/* ---------------------------------------------------------------- JSON scanning */

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* End of the string starting at s[i] == '"' (after the closing quote), or 0. */
static size_t string_end(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* End of the JSON value starting at s[i], or 0 when malformed. */
static size_t value_end(const char *s, size_t n, size_t i, int depth)
{
    if (i >= n || depth > PGTEXT_MAX_DEPTH)
        return 0;
    char c = s[i];
    if (c == '"')
        return string_end(s, n, i);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        i = skip_ws(s, n, i + 1);
        if (i < n && s[i] == close)
            return i + 1;
        for (;;) {
            if (c == '{') {
                if (i >= n || s[i] != '"' || !(i = string_end(s, n, i)))
                    return 0;
                i = skip_ws(s, n, i);
                if (i >= n || s[i] != ':')
                    return 0;
                i = skip_ws(s, n, i + 1);
            }
            if (!(i = value_end(s, n, i, depth + 1)))
                return 0;
            i = skip_ws(s, n, i);
            if (i < n && s[i] == ',') {
                i = skip_ws(s, n, i + 1);
                continue;
            }
            return i < n && s[i] == close ? i + 1 : 0;
        }
    }
    size_t k = i;
    while (k < n && (strchr("0123456789+-.eE", s[k]) || (s[k] >= 'a' && s[k] <= 'z')) && s[k])
        k++;
    if (k == i)
        return 0;
    if ((c >= 'a' && c <= 'z') && !((k - i == 4 && memcmp(s + i, "true", 4) == 0) ||
                                    (k - i == 5 && memcmp(s + i, "false", 5) == 0) ||
                                    (k - i == 4 && memcmp(s + i, "null", 4) == 0)))
        return 0;
    return k;
}

/* The contents of the JSON string s[0..n) (quotes included), unescaped, appended to out. */
static bool unescape(const char *s, size_t n, Buf *out, Err *err)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return err_set(err, ERR_PROTOCOL, "expected a JSON string");
    if (!memchr(s + 1, '\\', n - 2))
        return buf_append(out, s + 1, n - 2, err);
    /* escapes are the exception: jansson decodes them (\uXXXX and surrogate pairs included) */
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!json_is_string(j)) {
        json_decref(j);
        return err_set(err, ERR_PROTOCOL, "malformed JSON string: %s", je.text);
    }
    bool ok = buf_append(out, json_string_value(j), json_string_length(j), err);
    json_decref(j);
    return ok;
}

/* ---------------------------------------------------------------- values */

static bool bad(Err *err, const D1Type *t, const char *j, size_t n)
{
    return err_set(err, ERR_PROTOCOL, "%s value %.*s is not how a snapshot renders it", t->pg_name,
                   n > 64 ? 64 : (int)n, j);
}

static bool is_str(const char *j, size_t n) { return n >= 2 && j[0] == '"'; }

/* Year text "[-]YYYY..." of a date or timestamp: astronomical years <= 0 are BC in Postgres. */
static bool split_year(const char *s, size_t n, long long *year, size_t *rest)
{
    size_t i = s[0] == '-' ? 1 : 0;
    long long y = 0;
    size_t d = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && d < 12) {
        y = y * 10 + (s[i] - '0');
        i++;
        d++;
    }
    if (d < 4 || i >= n || s[i] != '-')
        return false;
    *year = s[0] == '-' ? -y : y;
    *rest = i;
    return true;
}

/* date, timestamp, timestamptz: "YYYY-MM-DD[THH:MM:SS[.f][Z]]" -> Postgres ISO output. */
static bool datetime_text(const D1Type *t, const char *s, size_t n, Buf *out, Err *err)
{
    if ((n == 8 && memcmp(s, "infinity", 8) == 0) || (n == 9 && memcmp(s, "-infinity", 9) == 0))
        return buf_append(out, s, n, err);
    long long y;
    size_t rest;
    if (!split_year(s, n, &y, &rest))
        return err_set(err, ERR_PROTOCOL, "%s value \"%.*s\" has no year", t->pg_name, n > 64 ? 64 : (int)n, s);
    bool bc = y <= 0;
    long long year = bc ? 1 - y : y;
    char digits[24];
    size_t nd = 0;
    for (; year > 0 || nd < 4; year /= 10)
        digits[sizeof digits - 1 - nd++] = (char)('0' + year % 10);
    if (!buf_append(out, digits + sizeof digits - nd, nd, err))
        return false;
    size_t body_end = n;
    bool zulu = t->conv == D1C_TIMESTAMPTZ && n > rest && s[n - 1] == 'Z';
    if (zulu)
        body_end--;
    for (size_t i = rest; i < body_end; i++) {
        char c = s[i] == 'T' && t->conv != D1C_DATE ? ' ' : s[i];
        if (!buf_append(out, &c, 1, err))
            return false;
    }
    if (zulu && !buf_append_str(out, "+00", err))
        return false;
    return !bc || buf_append_str(out, " BC", err);
}

/* timetz: the rendering always writes "+HH:MM"; Postgres leaves out ":00" minutes. */
static bool timetz_text(const char *s, size_t n, Buf *out, Err *err)
{
    size_t k = n;
    while (k > 0 && s[k - 1] != '+' && s[k - 1] != '-')
        k--;
    /* s[k..n) is "HH:MM" or "HH:MM:SS" */
    if (k > 0 && n - k == 5 && s[k + 3] == '0' && s[k + 4] == '0')
        return buf_append(out, s, n - 3, err);
    return buf_append(out, s, n, err);
}

/*
 * Postgres's quoting of one array element (array_out: quoted when empty, NULL,
 * or holding a quote, backslash, brace, the delimiter or white space; quote and
 * backslash escaped with a backslash) or record attribute (record_out: quoted
 * when empty or holding a quote, backslash, parenthesis, comma or white space;
 * quote and backslash doubled).
 */
static bool quoted_item(const char *v, size_t n, bool record, char delim, Buf *out, Err *err)
{
    const char *special = record ? "\"\\(), \t\n\r\v\f" : "\"\\{} \t\n\r\v\f";
    bool quote = n == 0 || (!record && n == 4 && (v[0] == 'N' || v[0] == 'n') && (v[1] == 'U' || v[1] == 'u') &&
                            (v[2] == 'L' || v[2] == 'l') && (v[3] == 'L' || v[3] == 'l'));
    for (size_t i = 0; i < n && !quote; i++)
        quote = (v[i] && strchr(special, v[i])) || (!record && v[i] == delim);
    if (!quote)
        return buf_append(out, v, n, err);
    if (!buf_append(out, "\"", 1, err))
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((v[i] == '"' || v[i] == '\\') && !buf_append(out, record ? &v[i] : "\\", 1, err))
            return false;
        if (!buf_append(out, &v[i], 1, err))
            return false;
    }
    return buf_append(out, "\"", 1, err);
}

static bool value_text(const D1Type *t, const char *j, size_t n, Buf *out, int depth, Err *err);

/* One "[...]" level of an array of t->elem. */
static bool array_text(const D1Type *t, const char *j, size_t n, Buf *out, int depth, Err *err)
{
    if (depth > PGTEXT_MAX_DEPTH)
        return err_set(err, ERR_PROTOCOL, "%s value nests too deeply", t->pg_name);
    if (n < 2 || j[0] != '[' || j[n - 1] != ']')
        return bad(err, t, j, n);
    if (!buf_append(out, "{", 1, err))
        return false;
    size_t i = skip_ws(j, n - 1, 1);
    Buf item;
    buf_init(&item, PGTEXT_VALUE_MAX);
    bool ok = true;
    for (size_t k = 0; ok && i < n - 1; k++) {
        size_t e = value_end(j, n - 1, i, depth);
        if (!e) {
            ok = bad(err, t, j, n);
            break;
        }
        ok = k == 0 || buf_append(out, &t->delim, 1, err);
        if (ok && j[i] == '[' && t->elem->conv != D1C_JSON) {
            ok = array_text(t, j + i, e - i, out, depth + 1, err);
        } else if (ok && e - i == 4 && memcmp(j + i, "null", 4) == 0) {
            ok = buf_append(out, "NULL", 4, err);
        } else if (ok) {
            buf_reset(&item);
            ok = value_text(t->elem, j + i, e - i, &item, depth + 1, err) &&
                 quoted_item(item.data ? item.data : "", item.len, false, t->delim, out, err);
        }
        i = skip_ws(j, n - 1, e);
        if (ok && i < n - 1) {
            if (j[i] != ',')
                ok = bad(err, t, j, n);
            i = skip_ws(j, n - 1, i + 1);
        }
    }
    buf_free(&item);
    return ok && buf_append(out, "}", 1, err);
}

/* {"attr": value, ...} in attribute order -> "(v1,v2,)". */
static bool record_text(const D1Type *t, const char *j, size_t n, Buf *out, int depth, Err *err)
{
    if (depth > PGTEXT_MAX_DEPTH)
        return err_set(err, ERR_PROTOCOL, "%s value nests too deeply", t->pg_name);
    if (n < 2 || j[0] != '{' || j[n - 1] != '}')
        return bad(err, t, j, n);
    Buf item, name;
    buf_init(&item, PGTEXT_VALUE_MAX);
    buf_init(&name, 64 * 1024);
    bool ok = buf_append(out, "(", 1, err);
    size_t i = skip_ws(j, n - 1, 1);
    for (size_t k = 0; ok && k < t->attr_count; k++) {
        size_t ke = i < n - 1 && j[i] == '"' ? string_end(j, n - 1, i) : 0;
        buf_reset(&name);
        if (!ke || !unescape(j + i, ke - i, &name, err) || strcmp(name.data ? name.data : "", t->attr_names[k]) != 0) {
            ok = bad(err, t, j, n);
            break;
        }
        i = skip_ws(j, n - 1, ke);
        size_t vs = i < n - 1 && j[i] == ':' ? skip_ws(j, n - 1, i + 1) : 0;
        size_t e = vs ? value_end(j, n - 1, vs, depth) : 0;
        if (!e) {
            ok = bad(err, t, j, n);
            break;
        }
        ok = k == 0 || buf_append(out, ",", 1, err);
        if (ok && !(e - vs == 4 && memcmp(j + vs, "null", 4) == 0)) {
            buf_reset(&item);
            ok = value_text(t->attrs[k], j + vs, e - vs, &item, depth + 1, err) &&
                 quoted_item(item.data ? item.data : "", item.len, true, ',', out, err);
        }
        i = skip_ws(j, n - 1, e);
        if (ok && k + 1 < t->attr_count) {
            if (i >= n - 1 || j[i] != ',')
                ok = bad(err, t, j, n);
            i = skip_ws(j, n - 1, i + 1);
        }
    }
    if (ok && i != n - 1)
        ok = bad(err, t, j, n);
    buf_free(&item);
    buf_free(&name);
    return ok && buf_append(out, ")", 1, err);
}

/* The wrapper {"$json":V} of d1_value_append_json: true with V at j[*vs..*ve), exactly
 * the bytes between ':' and '}' (json keeps white space around a value: " null "). */
static bool unwrap(const char *j, size_t n, int depth, size_t *vs, size_t *ve)
{
    static const char key[] = "\"" D1_JSON_WRAPPER "\"";
    if (n < 2 || j[0] != '{' || j[n - 1] != '}')
        return false;
    size_t i = skip_ws(j, n - 1, 1);
    size_t ke = i < n - 1 && j[i] == '"' ? string_end(j, n - 1, i) : 0;
    if (!ke || ke - i != sizeof key - 1 || memcmp(j + i, key, sizeof key - 1) != 0)
        return false;
    i = skip_ws(j, n - 1, ke);
    if (i >= n - 1 || j[i] != ':')
        return false;
    size_t e = value_end(j, n - 1, skip_ws(j, n - 1, i + 1), depth + 1);
    *vs = i + 1;
    *ve = n - 1;
    return e && skip_ws(j, n - 1, e) == n - 1;
}

static bool value_text(const D1Type *t, const char *j, size_t n, Buf *out, int depth, Err *err)
{
    size_t vs, ve;
    switch (t->conv) {
    case D1C_JSON: /* embedded as it was printed, or wrapped (JSON null, a one-key "$json" object) */
        if (unwrap(j, n, depth, &vs, &ve))
            return buf_append(out, j + vs, ve - vs, err);
        if (n == 4 && memcmp(j, "null", 4) == 0)
            return bad(err, t, j, n); /* SQL NULL is handled by the caller; JSON null is wrapped */
        return buf_append(out, j, n, err);
    case D1C_ARRAY:
        return array_text(t, j, n, out, depth, err);
    case D1C_COMPOSITE:
        if (t->attr_count == 1 && strcmp(t->attr_names[0], D1_JSON_WRAPPER) == 0) {
            if (!unwrap(j, n, depth, &vs, &ve))
                return bad(err, t, j, n);
            return record_text(t, j + vs, ve - vs, out, depth, err);
        }
        return record_text(t, j, n, out, depth, err);
    case D1C_BOOL:
        if (n == 4 && memcmp(j, "true", 4) == 0)
            return buf_append(out, "t", 1, err);
        if (n == 5 && memcmp(j, "false", 5) == 0)
            return buf_append(out, "f", 1, err);
        return bad(err, t, j, n);
    case D1C_INT:
    case D1C_FLOAT:
        if (!is_str(j, n)) /* a JSON number: the same digits Postgres printed */
            return n && (j[0] == '-' || (j[0] >= '0' && j[0] <= '9')) ? buf_append(out, j, n, err) : bad(err, t, j, n);
        return unescape(j, n, out, err);
    default:
        break;
    }
    if (!is_str(j, n))
        return bad(err, t, j, n);
    if (t->conv != D1C_DATE && t->conv != D1C_TIMESTAMP && t->conv != D1C_TIMESTAMPTZ && t->conv != D1C_TIMETZ)
        return unescape(j, n, out, err);
    /* dates and times are rendered without escapes: the string's bytes are the text */
    if (n < 3 || memchr(j + 1, '\\', n - 2))
        return bad(err, t, j, n);
    if (t->conv == D1C_TIMETZ)
        return timetz_text(j + 1, n - 2, out, err);
    return datetime_text(t, j + 1, n - 2, out, err);
}

bool pgtext_from_json(const D1Type *t, const char *json, size_t len, Buf *out, Err *err)
{
    return value_text(t, json, len, out, 0, err);
}

/* ---------------------------------------------------------------- rows */

struct PgTextRow {
    const char *const *names;
    const D1Type *const *types;
    size_t count;
    Buf arena;                 /* every text of the current row */
    Buf key;
    size_t *off, *len;
    bool *seen;
};

PgTextRow *pgtext_row_new(const char *const *names, const D1Type *const *types, size_t count)
{
    PgTextRow *r = xcalloc(1, sizeof *r);
    r->names = names;
    r->types = types;
    r->count = count;
    buf_init(&r->arena, PGTEXT_VALUE_MAX);
    buf_init(&r->key, 64 * 1024);
    r->off = xcalloc(count + 1, sizeof *r->off);
    r->len = xcalloc(count + 1, sizeof *r->len);
    r->seen = xcalloc(count + 1, sizeof *r->seen);
    return r;
}

void pgtext_row_free(PgTextRow *r)
{
    if (!r)
        return;
    buf_free(&r->arena);
    buf_free(&r->key);
    free(r->off);
    free(r->len);
    free(r->seen);
    free(r);
}

static long find_column(const PgTextRow *r, const char *name, size_t hint)
{
    if (hint < r->count && strcmp(r->names[hint], name) == 0)
        return (long)hint;
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->names[i], name) == 0)
            return (long)i;
    return -1;
}

bool pgtext_row_parse(PgTextRow *r, const char *line, size_t n, PgoCol *vals, Err *err)
{
    buf_reset(&r->arena);
    memset(r->seen, 0, r->count * sizeof *r->seen);
    size_t i = skip_ws(line, n, 0);
    if (i >= n || line[i] != '{')
        return err_set(err, ERR_PROTOCOL, "a snapshot row is not a JSON object");
    i = skip_ws(line, n, i + 1);
    for (size_t k = 0; i < n && line[i] != '}'; k++) {
        size_t ke = line[i] == '"' ? string_end(line, n, i) : 0;
        buf_reset(&r->key);
        if (!ke || !unescape(line + i, ke - i, &r->key, err))
            return err_set(err, ERR_PROTOCOL, "a snapshot row has a malformed member name");
        const char *name = r->key.data ? r->key.data : "";
        long c = find_column(r, name, k);
        if (c < 0)
            return err_set(err, ERR_PROTOCOL, "a snapshot row has column \"%s\" that the table does not have", name);
        if (r->seen[c])
            return err_set(err, ERR_PROTOCOL, "a snapshot row has column \"%s\" twice", name);
        i = skip_ws(line, n, ke);
        size_t vs = i < n && line[i] == ':' ? skip_ws(line, n, i + 1) : 0;
        size_t e = vs ? value_end(line, n, vs, 0) : 0;
        if (!e)
            return err_set(err, ERR_PROTOCOL, "a snapshot row has a malformed value for column \"%s\"", name);
        r->seen[c] = true;
        if (e - vs == 4 && memcmp(line + vs, "null", 4) == 0) {
            r->len[c] = SIZE_MAX;
        } else {
            r->off[c] = r->arena.len;
            if (!pgtext_from_json(r->types[c], line + vs, e - vs, &r->arena, err)) {
                err_prefix(err, "column \"%s\"", r->names[c]);
                return false;
            }
            r->len[c] = r->arena.len - r->off[c];
        }
        i = skip_ws(line, n, e);
        if (i < n && line[i] == ',')
            i = skip_ws(line, n, i + 1);
        else if (i >= n || line[i] != '}')
            return err_set(err, ERR_PROTOCOL, "a snapshot row is malformed after column \"%s\"", r->names[c]);
    }
    if (i >= n || skip_ws(line, n, i + 1) != n)
        return err_set(err, ERR_PROTOCOL, "a snapshot row does not end with its object");
    for (size_t c = 0; c < r->count; c++) {
        if (!r->seen[c])
            return err_set(err, ERR_PROTOCOL, "a snapshot row has no column \"%s\"", r->names[c]);
        if (r->len[c] == SIZE_MAX) {
            vals[c] = (PgoCol){.kind = PGO_COL_NULL};
        } else {
            if (r->len[c] > UINT32_MAX)
                return err_set(err, ERR_TOO_LARGE, "column \"%s\" of a snapshot row is over 4 GB", r->names[c]);
            vals[c] = (PgoCol){.kind = PGO_COL_TEXT, .len = (uint32_t)r->len[c],
                               .data = (const uint8_t *)(r->arena.data ? r->arena.data + r->off[c] : "")};
        }
    }
    return true;
}

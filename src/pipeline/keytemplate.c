/*
 * pipeline/keytemplate.c - see keytemplate.h.
 *
 * Parsing splits the template once into literal and placeholder parts (a "{"
 * without its "}", a stray "}" or "{}" is a config error) and keeps the column
 * names for checks. Rendering walks the parts, finding each column by name in the
 * row's relation: a column the row does not carry, or an unchanged TOAST value,
 * is reported as missing rather than guessed; NULL ends a key but is left out of
 * a value. Escaping copies runs of safe bytes at once and writes "%XX" only for
 * the bytes the rule names, validating UTF-8 sequence by sequence.
 */
#include "pipeline/keytemplate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct KtPart {
    bool column;               /* a placeholder; else literal text */
    char *text;                /* the literal, or the column name */
    size_t len;
} KtPart;

struct KeyTemplate {
    char *text;
    KtPart *parts;
    size_t count;
    char **columns;            /* borrowed from parts */
    size_t column_count;
};

static void add_part(KeyTemplate *t, bool column, const char *p, size_t len)
{
    t->parts = xrealloc(t->parts, (t->count + 1) * sizeof *t->parts);
    KtPart *part = &t->parts[t->count++];
    part->column = column;
    part->text = xstrndup(p, len);
    part->len = len;
    if (column) {
        t->columns = xrealloc(t->columns, (t->column_count + 1) * sizeof *t->columns);
        t->columns[t->column_count++] = part->text;
    }
}

KeyTemplate *keytemplate_parse(const char *text, Err *err)
{
    KeyTemplate *t = xcalloc(1, sizeof *t);
    t->text = xstrdup(text);
    size_t lit = 0;
    for (size_t i = 0; text[i]; i++) {
        if (text[i] == '}') {
            err_set(err, ERR_CONFIG, "template \"%s\": unbalanced \"}\"", text);
            keytemplate_free(t);
            return NULL;
        }
        if (text[i] != '{')
            continue;
        size_t j = i + 1;
        while (text[j] && text[j] != '}' && text[j] != '{')
            j++;
        if (text[j] != '}' || j == i + 1) {
            err_set(err, ERR_CONFIG, "template \"%s\": bad placeholder (write {column})", text);
            keytemplate_free(t);
            return NULL;
        }
        if (i > lit)
            add_part(t, false, text + lit, i - lit);
        add_part(t, true, text + i + 1, j - i - 1);
        i = j;
        lit = j + 1;
    }
    size_t n = strlen(text);
    if (n > lit)
        add_part(t, false, text + lit, n - lit);
    return t;
}

void keytemplate_free(KeyTemplate *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->count; i++)
        free(t->parts[i].text);
    free(t->parts);
    free(t->columns);
    free(t->text);
    free(t);
}

const char *keytemplate_text(const KeyTemplate *t) { return t->text; }
size_t keytemplate_column_count(const KeyTemplate *t) { return t->column_count; }
const char *keytemplate_column(const KeyTemplate *t, size_t i) { return i < t->column_count ? t->columns[i] : NULL; }
bool keytemplate_is_literal(const KeyTemplate *t) { return t->column_count == 0; }

long kt_rel_column(const Rel *rel, const char *name)
{
    for (uint16_t i = 0; i < rel->ncols; i++)
        if (strcmp(rel->cols[i].name, name) == 0)
            return i;
    return -1;
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is not one. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, min = 0x80, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, min = 0x800, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool kt_utf8_valid(const void *data, size_t n)
{
    const uint8_t *p = data;
    size_t i = 0;
    while (i < n) {
        uint64_t word;
        /* plain ASCII eight bytes at a time (a value is mostly ASCII JSON) */
        if (i + 8 <= n && (memcpy(&word, p + i, 8), (word & 0x8080808080808080ull) == 0)) {
            i += 8;
            continue;
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(p + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

bool kt_escape_append(Buf *out, const void *data, size_t n, Err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    const uint8_t *p = data;
    size_t i = 0, run = 0; /* p[run..i) is a pending run of bytes kept as is */
    while (i < n) {
        uint8_t c = p[i];
        size_t keep = 0;
        if (c >= 0x80)
            keep = utf8_seq(p + i, n - i);
        else if (c >= 0x20 && c != 0x7F && c != '%' && c != ':' && c != '/')
            keep = 1;
        if (keep) {
            i += keep;
            continue;
        }
        if (i > run && !buf_append(out, p + run, i - run, err))
            return false;
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (!buf_append(out, esc, 3, err))
            return false;
        i++;
        run = i;
    }
    return i == run || buf_append(out, p + run, i - run, err);
}

bool kt_key_valid(const char *key, size_t len, const char **why)
{
    const char *w = NULL;
    if (len == 0)
        w = "the key is empty";
    else if (len > KT_KEY_MAX_BYTES)
        w = "the key is longer than 512 bytes";
    else if ((len == 1 && key[0] == '.') || (len == 2 && key[0] == '.' && key[1] == '.'))
        w = "the key is \".\" or \"..\"";
    if (why)
        *why = w;
    return w == NULL;
}

KtResult keytemplate_render(const KeyTemplate *t, KtMode mode, const Rel *rel, const PgoTuple *tup, Buf *out,
                            const char **missing_col, Err *err)
{
    for (size_t i = 0; i < t->count; i++) {
        const KtPart *part = &t->parts[i];
        if (!part->column) {
            if (!buf_append(out, part->text, part->len, err))
                return KT_ERROR;
            continue;
        }
        long c = kt_rel_column(rel, part->text);
        if (c < 0 || (size_t)c >= tup->ncols || tup->cols[c].kind == PGO_COL_UNCHANGED) {
            if (missing_col)
                *missing_col = part->text;
            return KT_MISSING;
        }
        const PgoCol *col = &tup->cols[c];
        if (col->kind == PGO_COL_NULL) {
            if (mode == KT_ESCAPE_KEY)
                return KT_NULL;
            continue;
        }
        bool ok = mode == KT_ESCAPE_KEY ? kt_escape_append(out, col->data, col->len, err)
                                        : buf_append(out, col->data, col->len, err);
        if (!ok)
            return KT_ERROR;
    }
    return KT_OK;
}

/*
 * config/jsonc.c - see jsonc.h. A recursive-descent parser bounded by
 * JSONC_MAX_DEPTH; positions are counted in characters (UTF-8 continuation
 * bytes do not advance the column).
 */
#include "config/jsonc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hex.h"
#include "core/mem.h"

typedef struct Parser {
    const char *text;
    size_t len;
    size_t pos;
    int line, col;
    const char *source;
    Err *err;
} Parser;

static bool parse_value(Parser *p, int depth, JsoncNode **out);

static bool fail_at(Parser *p, int line, int col, const char *fmt, ...) ATTR_PRINTF(4, 5);
static bool fail_at(Parser *p, int line, int col, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(p->err, ERR_CONFIG, "%s:%d:%d: invalid JSON: %s", p->source, line, col, what);
}

#define FAIL(p, ...) fail_at((p), (p)->line, (p)->col, __VA_ARGS__)

static int peek(const Parser *p)
{
    return p->pos < p->len ? (unsigned char)p->text[p->pos] : -1;
}

static void advance(Parser *p)
{
    unsigned char c = (unsigned char)p->text[p->pos++];
    if (c == '\n') {
        p->line++;
        p->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        p->col++;
    }
}

/* Skip whitespace and comments. */
static bool skip_space(Parser *p)
{
    for (;;) {
        int c = peek(p);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            advance(p);
        } else if (c == '/' && p->pos + 1 < p->len && p->text[p->pos + 1] == '/') {
            while (peek(p) != -1 && peek(p) != '\n')
                advance(p);
        } else if (c == '/' && p->pos + 1 < p->len && p->text[p->pos + 1] == '*') {
            int line = p->line, col = p->col;
            advance(p);
            advance(p);
            for (;;) {
                if (peek(p) == -1)
                    return fail_at(p, line, col, "unterminated comment");
                if (peek(p) == '*' && p->pos + 1 < p->len && p->text[p->pos + 1] == '/') {
                    advance(p);
                    advance(p);
                    break;
                }
                advance(p);
            }
        } else if (c == 0xEF && p->pos == 0 && p->len >= 3 &&
                   memcmp(p->text, "\xEF\xBB\xBF", 3) == 0) {
            p->pos = 3; /* byte order mark */
        } else {
            return true;
        }
    }
}

static JsoncNode *node_new(JsoncType type, int line, int col)
{
    JsoncNode *n = xcalloc(1, sizeof *n);
    n->type = type;
    n->line = line;
    n->col = col;
    return n;
}

static bool read_hex4(Parser *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value((char)peek(p));
        if (h < 0)
            return FAIL(p, "expected 4 hex digits in \\u escape");
        v = v << 4 | (uint32_t)h;
        advance(p);
    }
    *out = v;
    return true;
}

static bool append_utf8(Buf *b, uint32_t cp, Err *err)
{
    char tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xC0 | cp >> 6);
        tmp[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xE0 | cp >> 12);
        tmp[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        tmp[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (char)(0xF0 | cp >> 18);
        tmp[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        tmp[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        tmp[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(b, tmp, n, err);
}

static bool parse_escape(Parser *p, Buf *b)
{
    int line = p->line, col = p->col;
    advance(p); /* backslash */
    int c = peek(p);
    const char *simple = NULL;
    switch (c) {
    case '"': simple = "\""; break;
    case '\\': simple = "\\"; break;
    case '/': simple = "/"; break;
    case 'b': simple = "\b"; break;
    case 'f': simple = "\f"; break;
    case 'n': simple = "\n"; break;
    case 'r': simple = "\r"; break;
    case 't': simple = "\t"; break;
    case 'u': break;
    default: return fail_at(p, line, col, "invalid escape sequence in string");
    }
    advance(p);
    if (simple)
        return buf_append(b, simple, 1, p->err);
    uint32_t cp = 0;
    if (!read_hex4(p, &cp))
        return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low = 0;
        if (peek(p) != '\\' || p->pos + 1 >= p->len || p->text[p->pos + 1] != 'u')
            return fail_at(p, line, col, "unpaired UTF-16 surrogate in \\u escape");
        advance(p);
        advance(p);
        if (!read_hex4(p, &low))
            return false;
        if (low < 0xDC00 || low > 0xDFFF)
            return fail_at(p, line, col, "unpaired UTF-16 surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail_at(p, line, col, "unpaired UTF-16 surrogate in \\u escape");
    }
    return append_utf8(b, cp, p->err);
}

static bool parse_string_raw(Parser *p, char **out, size_t *out_len)
{
    int line = p->line, col = p->col;
    Buf b;
    buf_init(&b, p->len + 1);
    advance(p); /* opening quote */
    for (;;) {
        int c = peek(p);
        if (c == -1) {
            buf_free(&b);
            return fail_at(p, line, col, "unterminated string");
        }
        if (c == '"') {
            advance(p);
            break;
        }
        if (c < 0x20) {
            buf_free(&b);
            return FAIL(p, "control character in string (write it as an escape)");
        }
        if (c == '\\') {
            if (!parse_escape(p, &b)) {
                buf_free(&b);
                return false;
            }
            continue;
        }
        char ch = (char)c;
        if (!buf_append(&b, &ch, 1, p->err)) {
            buf_free(&b);
            return false;
        }
        advance(p);
    }
    *out_len = b.len;
    *out = buf_take(&b);
    return true;
}

static bool parse_number(Parser *p, JsoncNode **out)
{
    int line = p->line, col = p->col;
    size_t start = p->pos;
    if (peek(p) == '-')
        advance(p);
    if (peek(p) == '0') {
        advance(p);
    } else if (peek(p) >= '1' && peek(p) <= '9') {
        while (peek(p) >= '0' && peek(p) <= '9')
            advance(p);
    } else {
        return fail_at(p, line, col, "invalid number");
    }
    if (peek(p) == '.') {
        advance(p);
        if (!(peek(p) >= '0' && peek(p) <= '9'))
            return FAIL(p, "expected a digit after the decimal point");
        while (peek(p) >= '0' && peek(p) <= '9')
            advance(p);
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        advance(p);
        if (peek(p) == '+' || peek(p) == '-')
            advance(p);
        if (!(peek(p) >= '0' && peek(p) <= '9'))
            return FAIL(p, "expected a digit in the exponent");
        while (peek(p) >= '0' && peek(p) <= '9')
            advance(p);
    }
    JsoncNode *n = node_new(JSONC_NUMBER, line, col);
    n->text = xstrndup(p->text + start, p->pos - start);
    n->text_len = p->pos - start;
    *out = n;
    return true;
}

static bool parse_literal(Parser *p, JsoncNode **out)
{
    static const struct {
        const char *word;
        JsoncType type;
        bool value;
    } words[] = {{"true", JSONC_BOOL, true}, {"false", JSONC_BOOL, false}, {"null", JSONC_NULL, false}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t wl = strlen(words[i].word);
        if (p->len - p->pos >= wl && memcmp(p->text + p->pos, words[i].word, wl) == 0) {
            JsoncNode *n = node_new(words[i].type, p->line, p->col);
            n->boolean = words[i].value;
            for (size_t k = 0; k < wl; k++)
                advance(p);
            *out = n;
            return true;
        }
    }
    int c = peek(p);
    if (c >= 0x20 && c < 0x7F)
        return FAIL(p, "unexpected character '%c'", c);
    return FAIL(p, "unexpected byte 0x%02x", (unsigned)c);
}

static bool parse_array(Parser *p, int depth, JsoncNode **out)
{
    JsoncNode *n = node_new(JSONC_ARRAY, p->line, p->col);
    size_t alloc = 0;
    advance(p); /* [ */
    for (;;) {
        if (!skip_space(p))
            goto fail;
        if (peek(p) == ']') {
            advance(p);
            break;
        }
        if (peek(p) == -1) {
            fail_at(p, n->line, n->col, "unterminated array");
            goto fail;
        }
        JsoncNode *item;
        if (!parse_value(p, depth + 1, &item))
            goto fail;
        if (n->item_count == alloc) {
            alloc = alloc ? alloc * 2 : 4;
            n->items = xrealloc(n->items, alloc * sizeof *n->items);
        }
        n->items[n->item_count++] = item;
        if (!skip_space(p))
            goto fail;
        if (peek(p) == ',') {
            advance(p);
            continue; /* a trailing comma is allowed: the next round sees ']' */
        }
        if (peek(p) == ']') {
            advance(p);
            break;
        }
        if (peek(p) == -1)
            fail_at(p, n->line, n->col, "unterminated array");
        else
            FAIL(p, "expected ',' or ']' after array element");
        goto fail;
    }
    *out = n;
    return true;
fail:
    jsonc_free(n);
    return false;
}

static bool parse_object(Parser *p, int depth, JsoncNode **out)
{
    JsoncNode *n = node_new(JSONC_OBJECT, p->line, p->col);
    size_t alloc = 0;
    advance(p); /* { */
    for (;;) {
        if (!skip_space(p))
            goto fail;
        if (peek(p) == '}') {
            advance(p);
            break;
        }
        if (peek(p) == -1) {
            fail_at(p, n->line, n->col, "unterminated object");
            goto fail;
        }
        if (peek(p) != '"') {
            FAIL(p, "expected a string key in double quotes");
            goto fail;
        }
        JsoncMember m = {0};
        m.line = p->line;
        m.col = p->col;
        size_t key_len;
        if (!parse_string_raw(p, &m.key, &key_len))
            goto fail;
        if (strlen(m.key) != key_len || jsonc_member(n, m.key)) {
            fail_at(p, m.line, m.col, "duplicate or invalid key \"%s\"", m.key);
            free(m.key);
            goto fail;
        }
        if (!skip_space(p) || peek(p) != ':') {
            if (peek(p) != ':')
                FAIL(p, "expected ':' after object key");
            free(m.key);
            goto fail;
        }
        advance(p);
        if (!skip_space(p) || !parse_value(p, depth + 1, &m.value)) {
            free(m.key);
            goto fail;
        }
        if (n->member_count == alloc) {
            alloc = alloc ? alloc * 2 : 4;
            n->members = xrealloc(n->members, alloc * sizeof *n->members);
        }
        n->members[n->member_count++] = m;
        if (!skip_space(p))
            goto fail;
        if (peek(p) == ',') {
            advance(p);
            continue;
        }
        if (peek(p) == '}') {
            advance(p);
            break;
        }
        if (peek(p) == -1)
            fail_at(p, n->line, n->col, "unterminated object");
        else
            FAIL(p, "expected ',' or '}' after object member");
        goto fail;
    }
    *out = n;
    return true;
fail:
    jsonc_free(n);
    return false;
}

static bool parse_value(Parser *p, int depth, JsoncNode **out)
{
    if (depth > JSONC_MAX_DEPTH)
        return FAIL(p, "nesting deeper than %d levels", JSONC_MAX_DEPTH);
    if (!skip_space(p))
        return false;
    int c = peek(p);
    if (c == -1)
        return FAIL(p, "unexpected end of input, expected a value");
    if (c == '{')
        return parse_object(p, depth, out);
    if (c == '[')
        return parse_array(p, depth, out);
    if (c == '"') {
        JsoncNode *n = node_new(JSONC_STRING, p->line, p->col);
        if (!parse_string_raw(p, &n->text, &n->text_len)) {
            jsonc_free(n);
            return false;
        }
        *out = n;
        return true;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p, out);
    return parse_literal(p, out);
}

JsoncNode *jsonc_parse(const char *text, size_t len, const char *source_name, Err *err)
{
    Parser p = {text, len, 0, 1, 1, source_name, err};
    JsoncNode *root;
    if (!parse_value(&p, 0, &root))
        return NULL;
    if (!skip_space(&p)) {
        jsonc_free(root);
        return NULL;
    }
    if (peek(&p) != -1) {
        FAIL(&p, "unexpected content after the top-level value");
        jsonc_free(root);
        return NULL;
    }
    return root;
}

void jsonc_free(JsoncNode *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->item_count; i++)
        jsonc_free(node->items[i]);
    for (size_t i = 0; i < node->member_count; i++) {
        free(node->members[i].key);
        jsonc_free(node->members[i].value);
    }
    free(node->items);
    free(node->members);
    free(node->text);
    free(node);
}

const JsoncMember *jsonc_member(const JsoncNode *object, const char *key)
{
    if (!object || object->type != JSONC_OBJECT)
        return NULL;
    for (size_t i = 0; i < object->member_count; i++)
        if (strcmp(object->members[i].key, key) == 0)
            return &object->members[i];
    return NULL;
}

const char *jsonc_type_name(JsoncType type)
{
    switch (type) {
    case JSONC_NULL: return "null";
    case JSONC_BOOL: return "boolean";
    case JSONC_NUMBER: return "number";
    case JSONC_STRING: return "string";
    case JSONC_ARRAY: return "array";
    case JSONC_OBJECT: return "object";
    }
    return "?";
}

bool jsonc_int64(const JsoncNode *node, int64_t *out)
{
    if (!node || node->type != JSONC_NUMBER || strpbrk(node->text, ".eE"))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(node->text, &end, 10);
    if (errno || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

/* Levenshtein distance, capped: only used to suggest a key for a typo. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const JsoncMember *jsonc_unknown_member(const JsoncNode *object, const char *const *allowed,
                                        const char **suggestion)
{
    *suggestion = NULL;
    for (size_t i = 0; i < object->member_count; i++) {
        const JsoncMember *m = &object->members[i];
        bool known = false;
        size_t best = 3;
        const char *closest = NULL;
        for (const char *const *k = allowed; *k && !known; k++) {
            known = strcmp(*k, m->key) == 0;
            size_t d = known ? 0 : edit_distance(*k, m->key);
            if (!known && d < best) {
                best = d;
                closest = *k;
            }
        }
        if (!known) {
            *suggestion = closest;
            return m;
        }
    }
    return NULL;
}

bool jsonc_vfail(const JsoncCheck *ck, int line, int col, const char *key_path, const char *fmt, va_list ap)
{
    char what[ERR_MSG_MAX];
    vsnprintf(what, sizeof what, fmt, ap);
    if (key_path && key_path[0])
        return err_set(ck->err, ERR_CONFIG, "%s:%d:%d: %s: %s", ck->source, line, col, key_path, what);
    return err_set(ck->err, ERR_CONFIG, "%s:%d:%d: %s", ck->source, line, col, what);
}

static bool check_fail(const JsoncCheck *ck, int line, int col, const char *key_path, const char *fmt, ...)
    ATTR_PRINTF(5, 6);
static bool check_fail(const JsoncCheck *ck, int line, int col, const char *key_path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jsonc_vfail(ck, line, col, key_path, fmt, ap);
    va_end(ap);
    return false;
}

bool jsonc_check_keys(const JsoncCheck *ck, const JsoncNode *obj, const char *key_path, const char *const *allowed)
{
    const char *suggestion;
    const JsoncMember *m = jsonc_unknown_member(obj, allowed, &suggestion);
    if (!m)
        return true;
    if (suggestion)
        return check_fail(ck, m->line, m->col, key_path, "unknown key \"%s\" (did you mean \"%s\"?)", m->key,
                          suggestion);
    return check_fail(ck, m->line, m->col, key_path, "unknown key \"%s\"", m->key);
}

bool jsonc_expect_type(const JsoncCheck *ck, const JsoncNode *node, JsoncType type, const char *key_path)
{
    if (node->type == type)
        return true;
    return check_fail(ck, node->line, node->col, key_path, "expected %s %s, got %s",
                      type == JSONC_OBJECT || type == JSONC_ARRAY ? "an" : "a", jsonc_type_name(type),
                      jsonc_type_name(node->type));
}

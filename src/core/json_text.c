/*
 * core/json_text.c - see json_text.h.
 */
#include "core/json_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not valid. */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    /* Overlong forms, surrogates and code points beyond U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Bytes that cannot be copied as they are: controls, '"', '\\' and everything non-ASCII
 * (checked as UTF-8). The common case is a long run of plain ASCII, copied at once. */
static inline bool needs_care(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

bool json_text_append_str(Buf *b, const char *s, size_t len, Err *err)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (!buf_append(b, "\"", 1, err))
        return false;
    size_t i = 0;
    while (i < len) {
        size_t run_start = i;
        while (i < len && !needs_care(p[i]))
            i++;
        if (i > run_start && !buf_append(b, p + run_start, i - run_start, err))
            return false;
        if (i == len)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t seq = utf8_seq_len(p + i, len - i);
            if (seq == 0) {
                if (!buf_append(b, "\xEF\xBF\xBD", 3, err))
                    return false;
                i += 1;
            } else {
                if (!buf_append(b, p + i, seq, err))
                    return false;
                i += seq;
            }
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t esc_len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
        }
        if (!buf_append(b, esc, esc_len, err))
            return false;
        i++;
    }
    return buf_append(b, "\"", 1, err);
}

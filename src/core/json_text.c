/*
 * core/json_text.c - see json_text.h.
 */
#include "core/json_text.h"

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

bool json_text_append_str(Buf *b, const char *s, size_t len, Err *err)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (!buf_append(b, "\"", 1, err))
        return false;
    size_t run_start = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char uesc[7];
        size_t seq = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            memcpy(uesc, "\\u00", 4);
            uesc[4] = hex[c >> 4];
            uesc[5] = hex[c & 15];
            uesc[6] = '\0';
            esc = uesc;
        } else if (c >= 0x80) {
            seq = utf8_seq_len(p + i, len - i);
            if (seq == 0) {
                esc = "\xEF\xBF\xBD";
                seq = 1;
            }
        }
        if (esc) {
            if (!buf_append(b, p + run_start, i - run_start, err) || !buf_append_str(b, esc, err))
                return false;
            i += seq;
            run_start = i;
        } else {
            i += seq;
        }
    }
    if (!buf_append(b, p + run_start, len - run_start, err))
        return false;
    return buf_append(b, "\"", 1, err);
}

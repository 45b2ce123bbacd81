/*
 * core/json_text.c - see json_text.h.
 *
 * Plain ASCII is copied in runs: eight bytes at a time are tested with a SWAR
 * check for controls, '"', '\\' and high bits, then byte by byte to the run's end.
 * Non-ASCII is validated as UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF) and copied as is; an invalid byte becomes U+FFFD rather than an error,
 * so any Postgres text can still be emitted.
 */
#include "core/json_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

size_t json_text_utf8_len(const unsigned char *s, size_t left)
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

/* Whether any of the 8 bytes in v needs care (the SWAR form of needs_care):
 * a byte below 0x20, a '"' or '\\', or one with the high bit set. */
static inline bool word_needs_care(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t quote = v ^ (ones * '"'), slash = v ^ (ones * '\\');
    uint64_t below_space = (v - ones * 0x20) & ~v;
    uint64_t zero_quote = (quote - ones) & ~quote, zero_slash = (slash - ones) & ~slash;
    return ((below_space | zero_quote | zero_slash) & highs) != 0 || (v & highs) != 0;
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
        for (uint64_t word; i + 8 <= len; i += 8) {
            memcpy(&word, p + i, 8);
            if (word_needs_care(word))
                break;
        }
        while (i < len && !needs_care(p[i]))
            i++;
        if (i > run_start && !buf_append(b, p + run_start, i - run_start, err))
            return false;
        if (i == len)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t seq = json_text_utf8_len(p + i, len - i);
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

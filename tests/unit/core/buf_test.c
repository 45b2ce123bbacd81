/* Unit tests for core/buf: the capped buffer and the bounds-checked reader. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/json_text.h"

Test(buf, append_and_printf_grow_until_the_cap)
{
    Buf b;
    Err e;
    buf_init(&b, 10);
    cr_assert(buf_append_str(&b, "hello", &e));
    cr_assert(buf_printf(&b, &e, "%d", 1234));
    cr_assert_str_eq(b.data, "hello1234");
    cr_assert(buf_append(&b, "x", 1, &e));
    cr_assert_not(buf_append(&b, "y", 1, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    cr_assert_not(buf_printf(&b, &e, "%s", "more"));
    cr_assert_str_eq(b.data, "hello1234x", "a refused append leaves the contents alone");
    buf_free(&b);
}

Test(buf, integers_as_printf_writes_them)
{
    Buf b, want;
    Err e;
    buf_init(&b, 100);
    buf_init(&want, 100);
    const int64_t vals[] = {0, 7, -1, 10, 1234567890123, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        buf_reset(&b);
        buf_reset(&want);
        cr_assert(buf_append_i64(&b, vals[i], &e));
        cr_assert(buf_printf(&want, &e, "%lld", (long long)vals[i]));
        cr_assert_str_eq(b.data, want.data);
    }
    buf_reset(&b);
    cr_assert(buf_append_u64(&b, UINT64_MAX, &e));
    cr_assert_str_eq(b.data, "18446744073709551615");
    buf_free(&b);
    buf_free(&want);
    Buf small;
    buf_init(&small, 3);
    cr_assert_not(buf_append_u64(&small, 1234, &e));
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    buf_free(&small);
}

Test(buf, take_hands_over_ownership)
{
    Buf b;
    Err e;
    buf_init(&b, 100);
    char *empty = buf_take(&b);
    cr_assert_str_eq(empty, "");
    free(empty);
    cr_assert(buf_append_str(&b, "abc", &e));
    char *s = buf_take(&b);
    cr_assert_str_eq(s, "abc");
    cr_assert_eq(b.len, 0);
    free(s);
}

Test(rd, reads_big_endian_and_never_past_the_end)
{
    const uint8_t bytes[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                             0x0c, 0x0d, 0x0e, 0x0f};
    Rd r = rd_make(bytes, sizeof bytes);
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    cr_assert(rd_u8(&r, &u8) && u8 == 0x01);
    cr_assert(rd_be16(&r, &u16) && u16 == 0x0203);
    cr_assert(rd_be32(&r, &u32) && u32 == 0x04050607);
    cr_assert(rd_be64(&r, &u64) && u64 == 0x08090a0b0c0d0e0fULL);
    cr_assert_eq(r.left, 0);
    cr_assert_not(rd_u8(&r, &u8));
    cr_assert_not(rd_be16(&r, &u16));

    Rd short_rd = rd_make(bytes, 7);
    cr_assert_not(rd_be64(&short_rd, &u64));
    cr_assert_eq(short_rd.left, 7, "a failed read does not advance");
    const uint8_t *span;
    cr_assert_not(rd_bytes(&short_rd, 8, &span));
    cr_assert_not(rd_bytes(&short_rd, SIZE_MAX, &span));
    cr_assert(rd_bytes(&short_rd, 7, &span) && span == bytes);
}

Test(rd, cstr_needs_a_nul_within_the_limit)
{
    const uint8_t bytes[] = {'a', 'b', 0, 'c', 'd'};
    Rd r = rd_make(bytes, sizeof bytes);
    const char *s;
    size_t len;
    cr_assert_not(rd_cstr(&r, 2, &s, &len), "NUL beyond max");
    cr_assert(rd_cstr(&r, 3, &s, &len));
    cr_assert_str_eq(s, "ab");
    cr_assert_eq(len, 2);
    cr_assert_not(rd_cstr(&r, 100, &s, &len), "no NUL before the end");
    cr_assert_eq(r.left, 2);
}

Test(json_text, escapes_quotes_controls_and_invalid_utf8)
{
    Buf b;
    Err e;
    buf_init(&b, 1000);
    const char in[] = "a\"b\\c\nd\x01\xc3\xa9\xff\xe2\x82";
    cr_assert(json_text_append_str(&b, in, sizeof in - 1, &e));
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    buf_free(&b);
}

/* The escaper scans 8 bytes at a time: every byte that needs care must be found at
 * every offset within and across words, and everything else copied unchanged. */
static void expected_escape(unsigned char c, char *out)
{
    switch (c) {
    case '"': strcpy(out, "\\\""); break;
    case '\\': strcpy(out, "\\\\"); break;
    case '\n': strcpy(out, "\\n"); break;
    case '\r': strcpy(out, "\\r"); break;
    case '\t': strcpy(out, "\\t"); break;
    default:
        if (c < 0x20)
            snprintf(out, 8, "\\u%04x", c);
        else if (c >= 0x80)
            strcpy(out, "\xEF\xBF\xBD");   /* a lone byte >= 0x80 is not UTF-8 */
        else
            snprintf(out, 8, "%c", c);
    }
}

Test(json_text, every_byte_at_every_offset_of_a_word_run)
{
    char in[40], want[80], esc[8];
    for (unsigned c = 1; c < 256; c++) {
        for (size_t pos = 0; pos < 24; pos++) {
            memset(in, 'a', 24);
            in[pos] = (char)c;
            expected_escape((unsigned char)c, esc);
            snprintf(want, sizeof want, "\"%.*s%s%.*s\"", (int)pos, in, esc, (int)(23 - pos), in + pos + 1);
            Buf b;
            Err e;
            buf_init(&b, 1024);
            cr_assert(json_text_append_str(&b, in, 24, &e));
            cr_assert_str_eq(b.data, want, "byte 0x%02x at offset %zu", c, pos);
            buf_free(&b);
        }
    }
}

Test(json_text, utf8_sequences_straddling_words_are_kept)
{
    const char *s = "abcdefg\xC3\xA9hijklmn\xE2\x9C\x93opqrstu\xF0\x9F\x98\x80v\"w";
    Buf b;
    Err e;
    buf_init(&b, 1024);
    cr_assert(json_text_append_str(&b, s, strlen(s), &e));
    cr_assert_str_eq(b.data, "\"abcdefg\xC3\xA9hijklmn\xE2\x9C\x93opqrstu\xF0\x9F\x98\x80v\\\"w\"");
    buf_free(&b);
}

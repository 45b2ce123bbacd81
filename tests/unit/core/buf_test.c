/* Unit tests for core/buf: the capped buffer and the bounds-checked reader. */
#include <criterion/criterion.h>
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

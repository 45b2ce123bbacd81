/* Unit tests for core/hex: digits of either case, encoding into an array and a Buf
 * (across the chunk boundary), and SHA-256 in hex against known digests. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/hex.h"

Test(hex, value_of_each_digit_and_nothing_else)
{
    const char *digits = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(hex_value(digits[i]), i);
        if (i >= 10)
            cr_assert_eq(hex_value((char)(digits[i] - 'a' + 'A')), i);
    }
    const char *bad = "gG/:@`xX \n";
    for (const char *p = bad; *p; p++)
        cr_assert_eq(hex_value(*p), -1, "'%c'", *p);
    cr_assert_eq(hex_value('\0'), -1);
    cr_assert_eq(hex_value((char)0xff), -1);
}

Test(hex, encode_lowercase_and_terminated)
{
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    memset(out, 'z', sizeof out);
    hex_encode(in, sizeof in, out);
    cr_assert_str_eq(out, "000fa5ff");
    hex_encode(in, 0, out);
    cr_assert_str_eq(out, "");
}

Test(hex, append_crosses_chunks)
{
    unsigned char in[700];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 7);
    char want[2 * sizeof in + 1];
    hex_encode(in, sizeof in, want);
    Buf b;
    buf_init(&b, 4096);
    Err e;
    cr_assert(buf_append_str(&b, "\\x", &e));
    cr_assert(hex_append(&b, in, sizeof in, &e));
    cr_assert_eq(b.len, 2 + 2 * sizeof in);
    cr_assert(memcmp(b.data + 2, want, 2 * sizeof in) == 0);
    buf_free(&b);
}

Test(hex, append_respects_the_cap)
{
    unsigned char in[64] = {0};
    Buf b;
    buf_init(&b, 100);
    Err e;
    cr_assert_not(hex_append(&b, in, sizeof in, &e));
    buf_free(&b);
}

Test(hex, sha256_known_digests)
{
    char h[SHA256_HEX_SIZE];
    sha256_hex(NULL, 0, h);
    cr_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, h);
    cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

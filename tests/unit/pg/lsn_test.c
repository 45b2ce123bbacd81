#include <criterion/criterion.h>
#include <string.h>

#include "pg/lsn.h"

Test(lsn, parse_and_format_round_trip)
{
    static const struct { const char *in; Lsn v; const char *out; } cases[] = {
        {"0/0", 0, "0/0"},
        {"0/6874820", 0x6874820, "0/6874820"},
        {"16/B374D848", UINT64_C(0x16B374D848), "16/B374D848"},
        {"16/b374d848", UINT64_C(0x16B374D848), "16/B374D848"},
        {"FFFFFFFF/FFFFFFFF", UINT64_MAX, "FFFFFFFF/FFFFFFFF"},
        {"00000001/00000000", UINT64_C(0x100000000), "1/0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Err err = {0};
        Lsn v = 1;
        char buf[LSN_STR_MAX];
        cr_assert(lsn_parse(cases[i].in, &v, &err), "%s: %s", cases[i].in, err.msg);
        cr_assert_eq(v, cases[i].v, "%s", cases[i].in);
        cr_assert_str_eq(lsn_format(v, buf), cases[i].out);
        Lsn back;
        cr_assert(lsn_parse(buf, &back, &err));
        cr_assert_eq(back, v);
    }
}

Test(lsn, rejects_malformed)
{
    static const char *const bad[] = {
        "", "/", "0/", "/0", "0", "0/0/0", " 0/0", "0/0 ", "+1/0", "-1/0", "0x1/0", "1/0x0",
        "123456789/0", "0/123456789", "g/0", "0/g", "0//0", "0/0\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Err err = {0};
        Lsn v = 42;
        cr_assert_not(lsn_parse(bad[i], &v, &err), "accepted '%s'", bad[i]);
        cr_assert_eq(v, 42, "output touched for '%s'", bad[i]);
        cr_assert_eq(err.code, ERR_USAGE);
        cr_assert(strstr(err.msg, "invalid lsn") != NULL, "%s", err.msg);
    }
    Err err = {0};
    Lsn v;
    cr_assert_not(lsn_parse(NULL, &v, &err));
}

Test(lsn, compare)
{
    cr_assert_eq(lsn_cmp(1, 2), -1);
    cr_assert_eq(lsn_cmp(2, 1), 1);
    cr_assert_eq(lsn_cmp(UINT64_MAX, UINT64_MAX), 0);
    cr_assert_eq(lsn_cmp(UINT64_C(0x100000000), UINT64_C(0xFFFFFFFF)), 1);
}

Test(lsn, fixed_width_sorts_like_the_number)
{
    char a[LSN_FIXED_MAX], b[LSN_FIXED_MAX];
    cr_expect_str_eq(lsn_format_fixed(0, a), "0000000000000000");
    cr_expect_str_eq(lsn_format_fixed(UINT64_C(0x16B374D848), a), "00000016B374D848");
    cr_expect_str_eq(lsn_format_fixed(UINT64_MAX, a), "FFFFFFFFFFFFFFFF");
    /* text order = LSN order, where the "X/X" form gets it wrong ("0/A0" > "1/0" as text) */
    static const Lsn pairs[][2] = {{0xA0, UINT64_C(0x100000000)}, {0xF, 0x10}, {0x16B3748, 0x16B3780},
                                   {UINT64_C(0x1FFFFFFFF), UINT64_C(0x200000000)}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        lsn_format_fixed(pairs[i][0], a);
        lsn_format_fixed(pairs[i][1], b);
        cr_expect_lt(strcmp(a, b), 0, "%s < %s", a, b);
    }
}

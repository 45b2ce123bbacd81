/* Unit tests for snapshot/copytext (COPY text-format rows). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/mem.h"
#include "snapshot/copytext.h"

static bool split(const char *text, PgoCol *cols, size_t n, Err *err)
{
    static char row[4096];
    size_t len = strlen(text);
    cr_assert_lt(len, sizeof row);
    memcpy(row, text, len + 1);
    return copytext_split(row, len, cols, n, err);
}

static void expect_text(const PgoCol *c, const char *want, size_t want_len)
{
    cr_assert_eq(c->kind, PGO_COL_TEXT);
    cr_assert_eq(c->len, want_len, "length %u, want %zu", c->len, want_len);
    cr_assert_eq(memcmp(c->data, want, want_len), 0);
}

Test(copytext, plain_values_and_null)
{
    PgoCol c[4];
    Err err;
    cr_assert(split("1\tabc\t\\N\t\n", c, 4, &err), "%s", err.msg);
    expect_text(&c[0], "1", 1);
    expect_text(&c[1], "abc", 3);
    cr_assert_eq(c[2].kind, PGO_COL_NULL);
    expect_text(&c[3], "", 0); /* an empty string is not NULL */
}

Test(copytext, escapes)
{
    PgoCol c[3];
    Err err;
    cr_assert(split("a\\tb\\nc\\\\d\\re\\bf\\fg\\vh\t\\\\N\t\\101\\x41\\x4a\\xg\\7\\q", c, 3, &err), "%s", err.msg);
    expect_text(&c[0], "a\tb\nc\\d\re\bf\fg\vh", 15);
    expect_text(&c[1], "\\N", 2); /* the text "\N" is escaped, unlike NULL */
    expect_text(&c[2], "AAJxg\007q", 7);
}

Test(copytext, octal_and_hex_bytes)
{
    PgoCol c[1];
    Err err;
    cr_assert(split("\\0\\377\\xff\\x0", c, 1, &err), "%s", err.msg);
    expect_text(&c[0], "\0\377\377\0", 4);
}

Test(copytext, utf8_untouched)
{
    PgoCol c[2];
    Err err;
    cr_assert(split("ünïcode ✓\t\"q\"", c, 2, &err), "%s", err.msg);
    expect_text(&c[0], "ünïcode ✓", strlen("ünïcode ✓"));
    expect_text(&c[1], "\"q\"", 3);
}

Test(copytext, wrong_column_counts)
{
    PgoCol c[3];
    Err err;
    cr_assert_not(split("1\t2\n", c, 3, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert_not(split("1\t2\t3\t4\n", c, 3, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(split("\t\t", c, 3, &err), "%s", err.msg);
    cr_assert_not(split("x", c, 0, &err));
    cr_assert(split("", c, 0, &err));
}

Test(copytext, dangling_backslash)
{
    PgoCol c[2];
    Err err;
    cr_assert_not(split("a\tb\\", c, 2, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(strstr(err.msg, "column 2"), "%s", err.msg);
}

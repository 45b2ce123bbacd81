/* Unit tests for pg/conn's pure helper: libpq messages as one clean line. */
#include <criterion/criterion.h>
#include <string.h>

#include "pg/conn_intern.h"

static const char *line(const char *msg, size_t size)
{
    static char out[512];
    pg_message_line(out, size, msg);
    return out;
}

Test(conn, libpq_continuation_lines_become_one_space)
{
    cr_assert_str_eq(line("connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n"
                          "\tIs the server running on that host and accepting TCP/IP connections?\n",
                          512),
                     "connection to server at \"127.0.0.1\", port 1 failed: Connection refused Is the server "
                     "running on that host and accepting TCP/IP connections?");
    cr_assert_str_eq(line("ERROR:  publication \"p\" does not exist\nCONTEXT:  slot \"s\"\n", 512),
                     "ERROR:  publication \"p\" does not exist CONTEXT:  slot \"s\"");
    cr_assert_null(strchr(line("a\r\n\t\tb\n", 512), '\t'));
    cr_assert_str_eq(line("a\r\n\t\tb\n", 512), "a b");
}

Test(conn, empty_null_and_truncated)
{
    cr_assert_str_eq(line(NULL, 512), "");
    cr_assert_str_eq(line("\n\t", 512), "");
    cr_assert_str_eq(line("abcdef", 4), "abc");
    cr_assert_str_eq(line("ab\n\tcd", 4), "ab");
}

/* Unit tests for core/fs's file hash: a whole file, a range of it, an empty range, and the errors
 * for a missing file and a file shorter than the range. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/hex.h"

static char path[256];

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/w2e-fs-XXXXXX", base && base[0] ? base : ".");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert(fs_write_all(fd, "hello, world", 12));
    close(fd);
}

static void teardown(void) { unlink(path); }

TestSuite(fs, .init = setup, .fini = teardown);

Test(fs, sha256_of_a_file_and_of_a_range)
{
    Err e;
    char got[SHA256_HEX_SIZE], want[SHA256_HEX_SIZE];
    uint64_t size = 0;
    cr_assert(fs_sha256_hex(path, 0, FS_TO_END, got, &size, &e), "%s", e.msg);
    sha256_hex("hello, world", 12, want);
    cr_assert_str_eq(got, want);
    cr_assert_eq(size, 12);
    cr_assert(fs_sha256_hex(path, 7, 5, got, &size, &e), "%s", e.msg);
    sha256_hex("world", 5, want);
    cr_assert_str_eq(got, want);
    cr_assert_eq(size, 5);
    cr_assert(fs_sha256_hex(path, 12, FS_TO_END, got, &size, &e), "%s", e.msg);
    sha256_hex(NULL, 0, want);
    cr_assert_str_eq(got, want, "nothing past the end");
    cr_assert_eq(size, 0);
}

Test(fs, sha256_errors_name_the_file)
{
    Err e;
    char got[SHA256_HEX_SIZE];
    cr_assert_not(fs_sha256_hex(path, 7, 6, got, NULL, &e));
    cr_assert_eq(e.code, ERR_IO);
    cr_assert(strstr(e.msg, "is shorter than the range to hash") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, path) != NULL, "%s", e.msg);
    cr_assert_not(fs_sha256_hex("/nonexistent/w2e", 0, FS_TO_END, got, NULL, &e));
    cr_assert(strstr(e.msg, "cannot open \"/nonexistent/w2e\"") == e.msg, "%s", e.msg);
}

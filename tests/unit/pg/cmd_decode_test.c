#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "test_util.h"

static void redirect_both(void)
{
    cr_redirect_stdout();
    cr_redirect_stderr();
}

static int run_decode(int argc, const char *a1, const char *a2)
{
    CliCtx ctx = {CLI_DEFAULT_CONFIG, false};
    char *argv[] = {(char *)"decode", (char *)a1, (char *)a2, NULL};
    int rc = cmd_decode(&ctx, argc, argv);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

Test(cmd_decode, prints_the_expected_ndjson, .init = cr_redirect_stdout)
{
    size_t n;
    char path[1024];
    uint8_t *want = read_fixture("pgoutput/proto3_twophase.expected.ndjson", &n);
    cr_assert_not_null(want);
    snprintf(path, sizeof path, "%s/pgoutput/proto3_twophase.bin", WAL2EDGE_FIXTURES);
    cr_assert_eq(run_decode(2, path, NULL), 0);
    cr_assert_stdout_eq_str((const char *)want);
    free(want);
}

Test(cmd_decode, usage_errors_exit_2, .init = cr_redirect_stderr)
{
    cr_assert_eq(run_decode(1, NULL, NULL), 2);
    cr_assert_eq(run_decode(3, "a", "b"), 2);
    cr_assert_eq(run_decode(2, "--bogus", NULL), 2);
}

Test(cmd_decode, missing_file_exits_1, .init = cr_redirect_stderr)
{
    cr_assert_eq(run_decode(2, "/nonexistent/capture.bin", NULL), 1);
    cr_assert_stderr_eq_str("wal2edge: cannot open capture \"/nonexistent/capture.bin\": No such file or directory\n");
}

Test(cmd_decode, malformed_capture_exits_1_after_printing_what_decoded, .init = redirect_both)
{
    char path[] = "decode-test-XXXXXX"; /* in ctest's working directory */
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    /* F19 stream start, newline, then a truncated stream stop sequence. */
    static const uint8_t bytes[] = {0x53, 0, 0, 3, 0x30, 1, '\n', 0x49, 0, 0};
    cr_assert_eq(write(fd, bytes, sizeof bytes), (ssize_t)sizeof bytes);
    close(fd);
    cr_assert_eq(run_decode(2, path, NULL), 1);
    unlink(path);
    cr_assert_stdout_eq_str("{\"type\":\"stream_start\",\"lsn\":null,\"xid\":816,\"first_segment\":true}\n");
}

Test(cmd_decode, empty_file_prints_nothing, .init = cr_redirect_stdout)
{
    char path[] = "decode-test-XXXXXX"; /* in ctest's working directory */
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(run_decode(2, path, NULL), 0);
    unlink(path);
    cr_assert_stdout_eq_str("");
}

/*
 * cli/cmd_decode.c - `wal2edge decode FILE`: print a pg_recvlogical pgoutput
 * capture as NDJSON on stdout.
 *
 * Thin edge wrapper: maps the file read-only and hands the bytes to the pure
 * pg/decode_render, which owns the format (docs/internals/pgoutput.md).
 * Exit 0 ok, 1 unreadable or malformed capture, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "pg/decode_render.h"

static bool emit_stdout(void *ctx, const char *line, size_t len, Err *err)
{
    (void)ctx;
    if (fwrite(line, 1, len, stdout) != len)
        return err_sys(err, ERR_IO, "writing to stdout");
    return true;
}

int cmd_decode(CliCtx *ctx, int argc, char **argv)
{
    (void)ctx;
    Err err;
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    const char *path = a.operands[0];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_sys(&err, ERR_IO, "cannot open capture \"%s\"", path);
        return cli_fail(&err);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_sys(&err, ERR_IO, "cannot stat capture \"%s\"", path);
        close(fd);
        return cli_fail(&err);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        err_set(&err, ERR_IO, "capture \"%s\" is not a regular file", path);
        return cli_fail(&err);
    }
    size_t n = (size_t)st.st_size;
    const uint8_t *data = NULL;
    void *map = MAP_FAILED;
    if (n > 0) {
        /* Mapped, not read: captures of big streamed transactions can be large. */
        map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            err_sys(&err, ERR_IO, "cannot map capture \"%s\"", path);
            close(fd);
            return cli_fail(&err);
        }
        data = map;
    }
    close(fd);

    bool ok = decode_capture(data, n, emit_stdout, NULL, &err);
    if (map != MAP_FAILED)
        munmap(map, n);
    if (fflush(stdout) != 0 && ok) {
        err_sys(&err, ERR_IO, "writing to stdout");
        ok = false;
    }
    if (!ok) {
        err_prefix(&err, "decoding \"%s\"", path);
        return cli_fail(&err);
    }
    return 0;
}

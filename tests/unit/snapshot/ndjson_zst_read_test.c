/* Unit tests for snapshot/ndjson_zst's PartReader: parts written by PartWriter read back line by line. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "snapshot/ndjson_zst.h"

static char *write_part(int rows, size_t big, PartInfo *info, char **data, size_t *len)
{
    Err err;
    const char *dir = getenv("TMPDIR");
    char *path = xasprintf("%s/w2e-partr-XXXXXX", dir && *dir ? dir : ".");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    PartWriter *w = partw_new(3, &err);
    cr_assert(partw_open(w, path, &err), "%s", err.msg);
    char line[64];
    for (int i = 0; i < rows; i++) {
        int n = snprintf(line, sizeof line, "{\"id\":%d}", i);
        cr_assert(partw_add_row(w, line, (size_t)n, &err), "%s", err.msg);
        if (big && i == rows / 2) {
            char *b = xmalloc(big);
            memset(b, 'y', big);
            cr_assert(partw_add_row(w, b, big, &err), "%s", err.msg);
            free(b);
        }
    }
    cr_assert(partw_close(w, info, &err), "%s", err.msg);
    partw_free(w);
    FILE *f = fopen(path, "rb");
    *data = xmalloc(info->bytes + 1);
    *len = fread(*data, 1, info->bytes, f);
    fclose(f);
    cr_assert_eq(*len, info->bytes);
    return path;
}

/* Feed data in pieces of `step` bytes; count lines; check the one long line. */
static uint64_t read_all(PartReader *r, const char *data, size_t len, size_t step, size_t big, PartInfo *out,
                         Err *err, bool *ok)
{
    uint64_t lines = 0;
    int expect = 0;
    *ok = partr_reset(r, "test part", err);
    for (size_t off = 0; *ok && off < len; off += step) {
        partr_input(r, data + off, len - off < step ? len - off : step);
        const char *line;
        size_t n;
        int rc;
        while ((rc = partr_next(r, &line, &n, err)) == 1) {
            lines++;
            if (n == big) {
                cr_assert_eq(line[0], 'y');
                cr_assert_eq(line[big - 1], 'y');
                continue;
            }
            char want[64];
            int wn = snprintf(want, sizeof want, "{\"id\":%d}", expect++);
            cr_assert_eq(n, (size_t)wn, "line %" PRIu64 " has %zu bytes", lines, n);
            cr_assert_eq(memcmp(line, want, n), 0);
        }
        if (rc < 0)
            *ok = false;
    }
    *ok = *ok && partr_finish(r, out, err);
    return lines;
}

Test(ndjson_zst_read, lines_rows_and_checksum_match_the_writer_whatever_the_input_pieces)
{
    PartInfo w;
    char *data;
    size_t len;
    size_t big = 700 * 1024; /* longer than zstd's output block: assembled across blocks */
    char *path = write_part(30000, big, &w, &data, &len);
    Err err;
    PartReader *r = partr_new(&err);
    cr_assert_not_null(r);
    size_t steps[] = {1, 7, 4096, len};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        PartInfo got;
        bool ok;
        uint64_t lines = read_all(r, data, len, steps[s], big, &got, &err, &ok);
        cr_assert(ok, "step %zu: %s", steps[s], err.msg);
        cr_assert_eq(lines, 30001);
        cr_assert_eq(got.rows, w.rows);
        cr_assert_eq(got.raw_bytes, w.raw_bytes);
        cr_assert_eq(got.bytes, w.bytes);
        cr_assert_str_eq(got.sha256, w.sha256);
    }
    partr_free(r);
    unlink(path);
    free(path);
    free(data);
}

Test(ndjson_zst_read, truncated_or_damaged_parts_are_errors)
{
    PartInfo w;
    char *data;
    size_t len;
    char *path = write_part(5000, 0, &w, &data, &len);
    Err err;
    PartReader *r = partr_new(&err);
    PartInfo got;
    bool ok;
    read_all(r, data, len - 10, 4096, 0, &got, &err, &ok);
    cr_assert_not(ok, "a truncated part is refused");
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(strstr(err.msg, "test part"), "%s", err.msg);
    data[len - 2] ^= 0x55; /* the frame's content checksum */
    read_all(r, data, len, 4096, 0, &got, &err, &ok);
    cr_assert_not(ok, "a damaged part is refused");
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(partr_reset(r, "empty", &err));
    cr_assert_not(partr_finish(r, &got, &err));
    partr_free(r);
    unlink(path);
    free(path);
    free(data);
}

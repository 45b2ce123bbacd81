/* Unit tests for snapshot/ndjson_zst (part writer) and snapshot/manifest. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "core/fs.h"
#include "core/mem.h"
#include "snapshot/manifest.h"
#include "snapshot/ndjson_zst.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = xmalloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static char *tmp_path(void)
{
    const char *dir = getenv("TMPDIR");
    char *p = xasprintf("%s/w2e-part-XXXXXX", dir && *dir ? dir : ".");
    int fd = mkstemp(p);
    cr_assert(fd >= 0);
    close(fd);
    return p;
}

Test(ndjson_zst, rows_round_trip_through_one_zstd_frame_with_counts_and_checksum)
{
    Err err;
    PartWriter *w = partw_new(3, &err);
    cr_assert_not_null(w, "%s", err.msg);
    char *path = tmp_path();
    cr_assert(partw_open(w, path, &err), "%s", err.msg);
    size_t raw = 0;
    char line[128];
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(line, sizeof line, "{\"id\":%d,\"v\":\"row %d\"}", i, i * 7);
        cr_assert(partw_add_row(w, line, (size_t)n, &err), "%s", err.msg);
        raw += (size_t)n + 1;
    }
    /* one row larger than the input buffer goes through in slices */
    size_t big = 600 * 1024;
    char *b = xmalloc(big);
    memset(b, 'x', big);
    b[0] = '"';
    b[big - 1] = '"';
    cr_assert(partw_add_row(w, b, big, &err), "%s", err.msg);
    raw += big + 1;
    PartInfo info;
    cr_assert(partw_close(w, &info, &err), "%s", err.msg);
    cr_assert_eq(info.rows, 50001);
    cr_assert_eq(info.raw_bytes, raw);
    size_t clen;
    char *comp = read_file(path, &clen);
    cr_assert_eq(info.bytes, clen);
    unsigned long long fsize = ZSTD_getFrameContentSize(comp, clen);
    cr_assert(fsize == ZSTD_CONTENTSIZE_UNKNOWN || fsize == raw);
    char *plain = xmalloc(raw);
    size_t got = ZSTD_decompress(plain, raw, comp, clen);
    cr_assert(!ZSTD_isError(got), "%s", ZSTD_getErrorName(got));
    cr_assert_eq(got, raw);
    cr_assert(strncmp(plain, "{\"id\":0,\"v\":\"row 0\"}\n{\"id\":1,", 28) == 0);
    cr_assert_eq(plain[raw - 1], '\n');
    char sha[65];
    uint64_t size;
    cr_assert(fs_sha256_hex(path, 0, FS_TO_END, sha, &size, &err), "%s", err.msg);
    cr_assert_str_eq(sha, info.sha256);
    cr_assert_eq(size, clen);
    /* the writer is reusable for the next part */
    cr_assert(partw_open(w, path, &err), "%s", err.msg);
    cr_assert(partw_add_row(w, "{}", 2, &err));
    cr_assert(partw_close(w, &info, &err));
    cr_assert_eq(info.rows, 1);
    cr_assert_eq(info.raw_bytes, 3);
    unlink(path);
    free(path);
    free(plain);
    free(comp);
    free(b);
    partw_free(w);
}

Test(ndjson_zst, bad_level_is_a_usage_error)
{
    Err err;
    cr_assert_null(partw_new(99, &err));
    cr_assert_eq(err.code, ERR_USAGE);
    cr_assert(strstr(err.msg, "zstd level 99"), "%s", err.msg);
}

Test(manifest, names_point_schema_parts_and_every_table)
{
    ManifestColumn cols[] = {{"id", "bigint", 20, true}, {"email", "text", 25, false}};
    const char *key[] = {"id"};
    ManifestPart parts[] = {{(char *)"p/public.users/S1/part-00000.ndjson.zst", 10, 300, 120, "ab"},
                            {(char *)"p/public.users/S1/part-00001.ndjson.zst", 2, 60, 40, "cd"}};
    ManifestTable tables[] = {
        {"public.users", "lake", "p/public.users/S1", cols, 2, key, 1, parts, 2, 12, 360, 160},
        {"public.orders", "lake", "public.orders/S1", cols, 1, NULL, 0, NULL, 0, 0, 0, 0},
    };
    Manifest m = {"S1", ((Lsn)1 << 32) | 0x2A, "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z", NULL, "w2e", 3, tables,
                  2};
    char *text = manifest_json(&m, 0);
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    cr_assert_not_null(doc, "%s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "format")), MANIFEST_FORMAT);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "lsn")), "1/2A");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "table")), "public.users");
    cr_assert_eq(json_integer_value(json_object_get(doc, "rows")), 12);
    json_t *ps = json_object_get(doc, "parts");
    cr_assert_eq(json_array_size(ps), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(ps, 1), "rows")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ps, 0), "sha256")), "ab");
    json_t *cs = json_object_get(doc, "columns");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cs, 0), "type")), "bigint");
    json_t *all = json_object_get(doc, "tables");
    cr_assert_eq(json_array_size(all), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(all, 1), "manifest")),
                     "public.orders/S1/manifest.json");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "source"), "slot")), "w2e");
    json_decref(doc);
    free(text);
}

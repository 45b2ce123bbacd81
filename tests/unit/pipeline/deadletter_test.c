/* Unit tests for pipeline/deadletter: the line format, its bounds, stop vs skip, counting. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "pipeline/deadletter.h"

static int warnings;
static char last_warning[2048];

static void capture(LogLevel level, const char *line, void *user)
{
    (void)user;
    if (level == LOG_WARN) {
        warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", line);
    }
}

static char dir[64];

static void setup(void)
{
    warnings = 0;
    log_configure(LOG_INFO, LOG_FORMAT_TEXT);
    log_set_sink(capture, NULL);
    snprintf(dir, sizeof dir, "/tmp/w2e_dl_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    log_set_sink(NULL, NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, DEADLETTER_FILE);
    unlink(path);
    rmdir(dir);
}

TestSuite(deadletter, .init = setup, .fini = teardown);

static const DlEntry entry = {.target = "d1.app", .table = "public.big", .commit_lsn = 0x1A2B3C8, .xid = 771,
                              .key = "{\"id\":\"7\"}", .reason = "a row is 2500000 bytes, over D1's 2000000-byte limit",
                              .value = "{\"id\":7}", .value_len = 8};

Test(deadletter, line_has_every_field)
{
    Buf b;
    Err err;
    buf_init(&b, DEADLETTER_MAX_LINE);
    cr_assert(deadletter_line(&entry, 1793613600123456, &b, &err), "%s", err.msg);
    cr_expect_str_eq(b.data, "{\"time\":\"2026-11-02T10:00:00.123456Z\",\"target\":\"d1.app\",\"table\":\"public.big\","
                             "\"lsn\":\"0/1A2B3C8\",\"xid\":771,\"key\":{\"id\":\"7\"},\"reason\":\"a row is 2500000 "
                             "bytes, over D1's 2000000-byte limit\",\"value\":\"{\\\"id\\\":7}\",\"value_bytes\":8,"
                             "\"value_truncated\":false}\n");
    buf_free(&b);
}

Test(deadletter, value_is_bounded)
{
    size_t n = 3 * 1024 * 1024;
    char *big = malloc(n);
    memset(big, 'x', n);
    DlEntry e = entry;
    e.value = big;
    e.value_len = n;
    Buf b;
    Err err;
    buf_init(&b, DEADLETTER_MAX_LINE);
    cr_assert(deadletter_line(&e, 0, &b, &err), "%s", err.msg);
    json_t *doc = json_loadb(b.data, b.len, 0, NULL);
    cr_assert_not_null(doc);
    cr_expect_eq(json_string_length(json_object_get(doc, "value")), DEADLETTER_MAX_VALUE);
    cr_expect_eq(json_integer_value(json_object_get(doc, "value_bytes")), (json_int_t)n);
    cr_expect(json_is_true(json_object_get(doc, "value_truncated")));
    json_decref(doc);
    buf_free(&b);
    free(big);
}

Test(deadletter, stop_names_the_row_and_the_ways_out)
{
    DeadLetter *dl = deadletter_new(dir);
    DlPolicy p = {.skip = false, .mapping_file = "mappings/big.jsonc", .section = "d1",
                  .ways_out = "leave the column out (d1.exclude), or fix the row in Postgres", .code = ERR_TOO_LARGE};
    Err err;
    cr_assert_not(deadletter_refuse(dl, &p, &entry, &err));
    cr_expect_eq(err.code, ERR_TOO_LARGE);
    cr_expect_str_eq(err.msg, "d1.app: refused a change of public.big, key {\"id\":\"7\"}, transaction at commit LSN "
                              "0/1A2B3C8 (xid 771): a row is 2500000 bytes, over D1's 2000000-byte limit; the "
                              "checkpoint stays before it. Set \"on_error\": \"skip\" in the \"d1\" section of "
                              "mappings/big.jsonc to skip such rows (recorded in STATE_DIR/deadletter.ndjson), or "
                              "leave the column out (d1.exclude), or fix the row in Postgres");
    cr_expect_eq(deadletter_appended(dl), 0);
    /* skip without a file (a command that keeps none) still stops */
    p.skip = true;
    cr_assert_not(deadletter_refuse(NULL, &p, &entry, &err));
    cr_expect(strstr(err.msg, "this command keeps none"));
    deadletter_free(dl);
    size_t count = 9;
    DlCount counts[4];
    cr_assert(deadletter_count(dir, counts, 4, &count, &err), "%s", err.msg);
    cr_expect_eq(count, 0, "no file, no lines");
}

Test(deadletter, skip_appends_warns_once_and_counts_per_target)
{
    DeadLetter *dl = deadletter_new(dir);
    DlPolicy p = {.skip = true, .mapping_file = "mappings/big.jsonc", .section = "d1", .code = ERR_TOO_LARGE};
    Err err;
    cr_assert(deadletter_refuse(dl, &p, &entry, &err), "%s", err.msg);
    cr_expect_eq(warnings, 1);
    cr_expect(strstr(last_warning, "skipped a change of public.big, key {\"id\":\"7\"}, transaction 0/1A2B3C8"),
              "%s", last_warning);
    DlEntry e = entry;
    e.target = "kv.cache";
    e.key = NULL;
    e.value = NULL;
    cr_assert(deadletter_refuse(dl, &p, &e, &err), "%s", err.msg);
    cr_assert(deadletter_refuse(dl, &p, &entry, &err), "%s", err.msg);
    cr_expect_eq(warnings, 3);
    cr_expect_eq(deadletter_appended(dl), 3);
    deadletter_free(dl);

    DlCount counts[4];
    size_t count = 0;
    cr_assert(deadletter_count(dir, counts, 4, &count, &err), "%s", err.msg);
    cr_assert_eq(count, 2);
    cr_expect_str_eq(counts[0].target, "d1.app");
    cr_expect_eq(counts[0].lines, 2);
    cr_expect_str_eq(counts[1].target, "kv.cache");
    cr_expect_eq(counts[1].lines, 1);

    /* a second writer appends to the same file */
    dl = deadletter_new(dir);
    cr_assert(deadletter_refuse(dl, &p, &e, &err), "%s", err.msg);
    deadletter_free(dl);
    cr_assert(deadletter_count(dir, counts, 4, &count, &err), "%s", err.msg);
    cr_expect_eq(counts[1].lines, 2);
}

Test(deadletter, key_json_names_the_columns_and_is_bounded)
{
    static char n_id[] = "id", n_b[] = "b", n_c[] = "c", nsp[] = "public", relname[] = "t", qual[] = "public.t";
    RelCol cols[] = {{n_id, 20, -1, true}, {n_b, 25, -1, false}, {n_c, 25, -1, false}};
    Rel rel = {.oid = 1, .nspname = nsp, .relname = relname, .qualname = qual, .ncols = 3, .cols = cols};
    char big[600];
    memset(big, 'y', sizeof big);
    PgoCol vals[] = {{PGO_COL_TEXT, 2, (const uint8_t *)"42"}, {PGO_COL_NULL, 0, NULL},
                     {PGO_COL_TEXT, sizeof big, (const uint8_t *)big}};
    PgoTuple tup = {3, vals};
    Buf b;
    buf_init(&b, 1 << 16);
    const char *key[] = {"id", "b"};
    deadletter_cols_json(&rel, &tup, key, 2, DEADLETTER_MAX_KEY, &b);
    cr_expect_str_eq(b.data, "{\"id\":\"42\",\"b\":null}");
    const char *wide[] = {"c"};
    deadletter_cols_json(&rel, &tup, wide, 1, DEADLETTER_MAX_KEY, &b);
    json_t *doc = json_loads(b.data, 0, NULL);
    cr_assert_not_null(doc, "%s", b.data);
    const char *c = json_string_value(json_object_get(doc, "c"));
    cr_expect_eq(strlen(c), 256 + 3);
    cr_expect_str_eq(c + 256, "...");
    json_decref(doc);
    buf_free(&b);
}

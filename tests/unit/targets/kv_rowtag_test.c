/* Unit tests for targets/kv_rowtag: the row tag written into a key's metadata reads back as the
 * identity text kv_identity_json forms (composite keys, NULLs, characters JSON escapes), and
 * metadata without a well-formed tag is refused rather than indexed under a wrong row. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "targets/kv_rowtag.h"

static void roundtrip(const char *tbl, const char *pk)
{
    Buf meta, got;
    buf_init(&meta, 4096);
    buf_init(&got, 4096);
    Err err;
    cr_assert(buf_append_str(&meta, "{\"commit_lsn\":\"0/10\"", &err));
    cr_assert(kv_rowtag_append(&meta, tbl, pk, strlen(pk), &err), "%s", err.msg);
    cr_assert(buf_append_str(&meta, "}", &err));
    char *t = NULL;
    cr_assert(kv_rowtag_parse(meta.data, &t, &got), "%s", meta.data);
    cr_expect_str_eq(t, tbl);
    cr_expect_str_eq(got.data, pk);
    free(t);
    buf_free(&meta);
    buf_free(&got);
}

Test(kv_rowtag, the_identity_reads_back_as_written)
{
    roundtrip("public.users", "[\"1\"]");
    roundtrip("app.\"Odd\"", "[\"a\\\"b\",null,\"\\u0001\\n\"]");
    roundtrip("public.t", "[\"caf\xc3\xa9 / x\"]");
}

Test(kv_rowtag, the_tag_is_a_member_of_the_metadata)
{
    Buf meta;
    buf_init(&meta, 4096);
    Err err;
    cr_assert(buf_append_str(&meta, "{\"a\":\"1\"", &err) && kv_rowtag_append(&meta, "public.users", "[\"7\"]", 5, &err) &&
              buf_append_str(&meta, "}", &err));
    cr_expect_str_eq(meta.data, "{\"a\":\"1\",\"wal2edge_row\":{\"table\":\"public.users\",\"pk\":[\"7\"]}}");
    buf_free(&meta);
}

Test(kv_rowtag, metadata_without_a_well_formed_tag_is_refused)
{
    const char *bad[] = {
        NULL,
        "",
        "not json",
        "{\"commit_lsn\":\"0/10\"}",
        "{\"wal2edge_row\":{\"table\":\"public.users\"}}",
        "{\"wal2edge_row\":{\"table\":\"\",\"pk\":[\"1\"]}}",
        "{\"wal2edge_row\":{\"table\":\"public.users\",\"pk\":[]}}",
        "{\"wal2edge_row\":{\"table\":\"public.users\",\"pk\":[1]}}",
        "{\"wal2edge_row\":{\"table\":\"public.users\",\"pk\":\"1\"}}",
        "{\"wal2edge_row\":[\"public.users\",[\"1\"]]}",
    };
    Buf pk;
    buf_init(&pk, 4096);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = NULL;
        cr_expect_not(kv_rowtag_parse(bad[i], &t, &pk), "accepted: %s", bad[i] ? bad[i] : "(null)");
        cr_expect_null(t);
        cr_expect_eq(pk.len, 0);
    }
    buf_free(&pk);
}

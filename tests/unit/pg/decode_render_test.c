#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "pg/decode_render.h"
#include "test_util.h"

static bool emit_buf(void *ctx, const char *line, size_t len, Err *err)
{
    return buf_append(ctx, line, len, err);
}

static void check_fixture(const char *name)
{
    char bin[256], exp[256];
    size_t n = 0, en = 0;
    snprintf(bin, sizeof bin, "pgoutput/%s.bin", name);
    snprintf(exp, sizeof exp, "pgoutput/%s.expected.ndjson", name);
    uint8_t *data = read_fixture(bin, &n);
    uint8_t *want = read_fixture(exp, &en);
    cr_assert_not_null(data, "%s", bin);
    cr_assert_not_null(want, "%s", exp);
    Buf out;
    Err err = {0};
    buf_init(&out, 64 << 20);
    cr_assert(decode_capture(data, n, emit_buf, &out, &err), "%s: %s", name, err.msg);
    cr_assert_eq(out.len, en, "%s: output is %zu bytes, expected %zu", name, out.len, en);
    cr_assert(memcmp(out.data, want, en) == 0, "%s: output differs from %s", name, exp);
    buf_free(&out);
    free(data);
    free(want);
}

Test(decode_render, proto1_basic) { check_fixture("proto1_basic"); }
Test(decode_render, proto1_messages) { check_fixture("proto1_messages"); }
Test(decode_render, proto1_binary) { check_fixture("proto1_binary"); }
Test(decode_render, proto2_stream) { check_fixture("proto2_stream"); }
Test(decode_render, proto3_twophase) { check_fixture("proto3_twophase"); }
Test(decode_render, proto3_twophase_stream) { check_fixture("proto3_twophase_stream"); }
Test(decode_render, proto4_parallel) { check_fixture("proto4_parallel"); }

static bool decode_hex_capture(const char *hex, Buf *out, Err *err)
{
    size_t n;
    uint8_t *p = hex_bytes(hex, &n);
    bool ok = decode_capture(p, n, emit_buf, out, err);
    free(p);
    return ok;
}

Test(decode_render, empty_capture_prints_nothing)
{
    Buf out;
    Err err = {0};
    buf_init(&out, 1024);
    cr_assert(decode_capture((const uint8_t *)"", 0, emit_buf, &out, &err));
    cr_assert_eq(out.len, 0);
    buf_free(&out);
}

Test(decode_render, newline_inside_a_value_is_not_a_separator)
{
    /* Relation t(a text); Insert a = "x\ny" (0x0a inside the value). */
    Buf out;
    Err err = {0};
    buf_init(&out, 4096);
    cr_assert(decode_hex_capture("52 00000010 7300 7400 64 0001 00 6100 00000019 ffffffff 0a"
                                 "49 00000010 4e 0001 74 00000003 780a79 0a", &out, &err), "%s", err.msg);
    const char *want =
        "{\"type\":\"relation\",\"lsn\":null,\"xid\":null,\"table\":\"s.t\",\"relation_oid\":16,\"namespace\":\"s\","
        "\"name\":\"t\",\"replica_identity\":\"default\",\"columns\":[{\"name\":\"a\",\"type_oid\":25,"
        "\"type_name\":\"text\",\"typmod\":-1,\"key\":false}]}\n"
        "{\"type\":\"insert\",\"lsn\":null,\"xid\":null,\"table\":\"s.t\",\"relation_oid\":16,\"new\":{\"a\":\"x\\ny\"}}\n";
    cr_assert_str_eq(out.data, want);
    buf_free(&out);
}

Test(decode_render, unknown_relation_uses_positional_names)
{
    Buf out;
    Err err = {0};
    buf_init(&out, 4096);
    cr_assert(decode_hex_capture("44 00000063 4b 0002 74 00000001 37 6e 0a", &out, &err), "%s", err.msg);
    cr_assert_str_eq(out.data, "{\"type\":\"delete\",\"lsn\":null,\"xid\":null,\"table\":null,\"relation_oid\":99,"
                               "\"old_kind\":\"key\",\"old\":{\"$1\":\"7\",\"$2\":null}}\n");
    buf_free(&out);
}

Test(decode_render, column_count_mismatch_is_an_error)
{
    Buf out;
    Err err = {0};
    buf_init(&out, 4096);
    cr_assert_not(decode_hex_capture("52 00000010 7300 7400 64 0001 00 6100 00000019 ffffffff 0a"
                                     "49 00000010 4e 0002 6e 6e 0a", &out, &err));
    cr_assert(strstr(err.msg, "capture message 2 at file offset 24: new tuple for relation s.t (oid 16) has 2 "
                              "columns, its relation message has 1") != NULL, "%s", err.msg);
    buf_free(&out);
}

Test(decode_render, split_errors_name_message_and_offset)
{
    Buf out;
    Err err = {0};
    buf_init(&out, 4096);
    /* F23 stream stop is fine only inside a block. */
    cr_assert_not(decode_hex_capture("45 0a", &out, &err));
    cr_assert(strstr(err.msg, "capture message 1 at file offset 0: pgoutput stream_stop message outside a stream block")
              != NULL, "%s", err.msg);
    /* Missing newline at the end of file. */
    err_clear(&err);
    cr_assert_not(decode_hex_capture("530000033001", &out, &err));
    cr_assert(strstr(err.msg, "not followed by a newline (end of file at offset 6)") != NULL, "%s", err.msg);
    /* Something else where the newline should be. */
    err_clear(&err);
    cr_assert_not(decode_hex_capture("530000033001 0a 45 45", &out, &err));
    cr_assert(strstr(err.msg, "capture message 2 at file offset 7: stream_stop message is followed by byte 0x45 at offset 8")
              != NULL, "%s", err.msg);
    /* Garbage. */
    err_clear(&err);
    cr_assert_not(decode_hex_capture("0a", &out, &err));
    cr_assert(strstr(err.msg, "capture message 1 at file offset 0: unknown pgoutput message type 0x0a") != NULL,
              "%s", err.msg);
    buf_free(&out);
}

Test(decode_render, every_truncation_of_a_capture_fails_or_stops_at_a_boundary)
{
    size_t n;
    uint8_t *data = read_fixture("pgoutput/proto1_basic.bin", &n);
    cr_assert_not_null(data);
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, data, k);
        Buf out;
        Err err = {0};
        buf_init(&out, 1 << 20);
        bool ok = decode_capture(cut, k, emit_buf, &out, &err);
        /* Only a cut right after a message's newline is a valid (shorter) capture. */
        cr_assert_eq(ok, k == 0 || data[k - 1] == '\n' ? ok : false, "prefix %zu accepted", k);
        if (!ok)
            cr_assert_eq(err.code, ERR_PROTOCOL, "prefix %zu: %s", k, err.msg);
        buf_free(&out);
        free(cut);
    }
    free(data);
}

Test(decode_render, timestamps_and_special_values)
{
    /* Begin with ts = 0 (2000-01-01), commit with -1 us, begin prepare with infinity. */
    Buf out;
    Err err = {0};
    buf_init(&out, 4096);
    cr_assert(decode_hex_capture("42 0000000000000010 0000000000000000 00000005 0a"
                                 "43 00 0000000000000010 0000000000000020 ffffffffffffffff 0a"
                                 "62 0000000000000030 0000000000000040 7fffffffffffffff 00000006 6700 0a"
                                 "50 00 0000000000000030 0000000000000040 8000000000000000 00000006 6700 0a",
                                 &out, &err), "%s", err.msg);
    cr_assert(strstr(out.data, "\"commit_time\":\"2000-01-01T00:00:00.000000Z\"") != NULL, "%s", out.data);
    cr_assert(strstr(out.data, "\"commit_time\":\"1999-12-31T23:59:59.999999Z\"") != NULL, "%s", out.data);
    cr_assert(strstr(out.data, "\"prepare_time\":\"infinity\"") != NULL, "%s", out.data);
    cr_assert(strstr(out.data, "\"prepare_time\":\"-infinity\"") != NULL, "%s", out.data);
    /* The commit inherits the begin's xid. */
    cr_assert(strstr(out.data, "{\"type\":\"commit\",\"lsn\":\"0/10\",\"xid\":5,") != NULL, "%s", out.data);
    buf_free(&out);
}

Test(decode_render, message_content_text_or_base64)
{
    Buf out;
    Err err = {0};
    buf_init(&out, 4096);
    cr_assert(decode_hex_capture("4d 00 0000000000000001 7000 00000002 c3a9 0a"  /* "é" */
                                 "4d 00 0000000000000002 7000 00000002 c328 0a"  /* invalid UTF-8 */
                                 "4d 00 0000000000000003 7000 00000001 00 0a"    /* NUL is not text */
                                 "4d 00 0000000000000004 7000 00000000 0a",      /* empty */
                                 &out, &err), "%s", err.msg);
    cr_assert(strstr(out.data, "\"content\":\"\xc3\xa9\",\"content_base64\":false") != NULL, "%s", out.data);
    cr_assert(strstr(out.data, "\"content\":\"wyg=\",\"content_base64\":true") != NULL, "%s", out.data);
    cr_assert(strstr(out.data, "\"content\":\"AA==\",\"content_base64\":true") != NULL, "%s", out.data);
    cr_assert(strstr(out.data, "\"content\":\"\",\"content_base64\":false") != NULL, "%s", out.data);
    buf_free(&out);
}

Test(decode_render, extreme_timestamps_do_not_overflow)
{
    Buf out;
    Err err = {0};
    buf_init(&out, 4096);
    cr_assert(decode_hex_capture("42 0000000000000010 8000000000000001 00000005 0a"
                                 "43 00 0000000000000010 0000000000000020 7ffffffffffffffe 0a",
                                 &out, &err), "%s", err.msg);
    cr_assert(strstr(out.data, "\"commit_time\":\"-290278-12-22T19:59:05.224193Z\"") != NULL, "%s", out.data);
    cr_assert(strstr(out.data, "\"commit_time\":\"294277-01-09T04:00:54.775806Z\"") != NULL, "%s", out.data);
    buf_free(&out);
}

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pg/decode_render.h"
#include "pg/pgoutput.h"
#include "test_util.h"

/* Fixtures from the pgoutput reference §8.1: F* captured from PostgreSQL 15.18, S* built from proto.c layouts. */
typedef struct Fx {
    const char *name;
    bool in_stream;            /* decode inside a Stream Start..Stop block */
    PgoAbortInfo abort_info;
    char type;
    const char *hex;
} Fx;

static const Fx fixtures[] = {
    {"F1", false, PGO_ABORT_INFO_AUTO, 'B', "42000000000687482000030452b5a6abc100000320"},
    {"F2", false, PGO_ABORT_INFO_AUTO, 'R', "52000060327075626c6963007573657273006400030169640000000017ffffffff006e616d650000000413000000360062696f0000000019ffffffff"},
    {"F3", false, PGO_ABORT_INFO_AUTO, 'I', "49000060324e00037400000001317400000005616c69636574000000026869"},
    {"F4", false, PGO_ABORT_INFO_AUTO, 'C', "43000000000006874820000000000687485000030452b5a6abc1"},
    {"F5", false, PGO_ABORT_INFO_AUTO, 'U', "55000060324e00037400000001317400000006616c6963696174000000026869"},
    {"F6", false, PGO_ABORT_INFO_AUTO, 'U', "55000060324b00037400000001316e6e4e00037400000001327400000006616c6963696174000000026869"},
    {"F7", false, PGO_ABORT_INFO_AUTO, 'D', "44000060324b00037400000001326e6e"},
    {"F8", false, PGO_ABORT_INFO_AUTO, 'U', "55000060394e0003740000000137740000000566696e616c75"},
    {"F9", false, PGO_ABORT_INFO_AUTO, 'R', "52000060327075626c6963007573657273006600030169640000000017ffffffff016e616d650000000413000000360162696f0000000019ffffffff"},
    {"F10", false, PGO_ABORT_INFO_AUTO, 'U', "55000060324f000374000000013374000000056361726f6c6e4e000374000000013374000000086361726f6c696e656e"},
    {"F11", false, PGO_ABORT_INFO_AUTO, 'D', "44000060324f000374000000013374000000086361726f6c696e656e"},
    {"F12", false, PGO_ABORT_INFO_AUTO, 'T', "5400000002020000603200006039"},
    {"F13", false, PGO_ABORT_INFO_AUTO, 'M', "4d0000000000068774986865617274626561740000000014323032342d30352d30315431323a30303a30305a"},
    {"F14", false, PGO_ABORT_INFO_AUTO, 'M', "4d0100000000068774d86175646974000000000568656c6c6f"},
    {"F15", false, PGO_ABORT_INFO_AUTO, 'O', "4f0000000000aabbcc757073747265616d5f6100"},
    {"F16", false, PGO_ABORT_INFO_AUTO, 'Y', "590000401600696e743400"},
    {"F17", false, PGO_ABORT_INFO_AUTO, 'Y', "590000400f7075626c6963006d6f6f6400"},
    {"F18", false, PGO_ABORT_INFO_AUTO, 'I', "49000040184e00046200000004000000056200000005686170707962000000080002ba61fea15000620000000c0002000000000002000c1388"},
    {"F19", false, PGO_ABORT_INFO_AUTO, 'S', "530000033001"},
    {"F20", true, PGO_ABORT_INFO_AUTO, 'R', "5200000331000060327075626c6963007573657273006600030169640000000017ffffffff016e616d650000000413000000360162696f0000000019ffffffff"},
    {"F21", true, PGO_ABORT_INFO_AUTO, 'I', "4900000331000060324e00037400000004353030307400000001616e"},
    {"F22", true, PGO_ABORT_INFO_AUTO, 'I', "4900000332000060324e0003740000000435303031740000000573353030316e"},
    {"F23", true, PGO_ABORT_INFO_AUTO, 'E', "45"},
    {"F24", false, PGO_ABORT_INFO_NO, 'A', "410000033000000330"},
    {"F25", false, PGO_ABORT_INFO_NO, 'A', "410000033100000332"},
    {"F26", false, PGO_ABORT_INFO_AUTO, 'c', "6300000331000000000006938330000000000693836800030452b6334f9c"},
    {"F27", false, PGO_ABORT_INFO_AUTO, 'b', "620000000006877620000000000687771800030452b5faf7580000032c6769645f6100"},
    {"F28", false, PGO_ABORT_INFO_AUTO, 'P', "50000000000006877620000000000687771800030452b5faf7580000032c6769645f6100"},
    {"F29", false, PGO_ABORT_INFO_AUTO, 'K', "4b000000000006877718000000000687775000030452b5fafae40000032c6769645f6100"},
    {"F30", false, PGO_ABORT_INFO_AUTO, 'r', "720000000000068778c8000000000687790000030452b5faff9e00030452b5fb01e20000032d6769645f6200"},
    {"F31", false, PGO_ABORT_INFO_AUTO, 'p', "70000000000006996418000000000699651000030452cd62e67b00000345673300"},
    {"F32", false, PGO_ABORT_INFO_AUTO, 'T', "54000000010100006053"},
    {"F33", false, PGO_ABORT_INFO_AUTO, 'I', "490000605b4e0002740000000331353075"},
    {"S1", false, PGO_ABORT_INFO_YES, 'A', "41000002f8000002f9000000001b0001000002ba61fea15000"},
    {"S2", false, PGO_ABORT_INFO_AUTO, 'p', "7000000000001c000000000000001c0000400002ba61fea150000000030270675f6769645f3100"},
    {"S3", false, PGO_ABORT_INFO_AUTO, 'B', "42000000001a2b3c400002ba61fea15000000002ee"},
    {"S4", false, PGO_ABORT_INFO_AUTO, 'C', "4300000000001a2b3c40000000001a2b3c700002ba61fea15000"},
};

static void setup_decoder(PgoDecoder *d, const Fx *fx)
{
    pgo_decoder_free(d); /* reused across fixtures: release the previous scratch */
    pgo_decoder_init(d, fx->abort_info);
    d->in_stream = fx->in_stream;
    d->stream_xid = fx->in_stream ? 0x330 : 0;
}

static void decode_fx(const char *name, PgoDecoder *d, PgoEvent *ev, uint8_t **bytes)
{
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        if (strcmp(fixtures[i].name, name) == 0) {
            size_t n;
            Err err = {0};
            setup_decoder(d, &fixtures[i]);
            *bytes = hex_bytes(fixtures[i].hex, &n);
            cr_assert(pgo_decode_exact(d, *bytes, n, ev, &err), "%s: %s", name, err.msg);
            return;
        }
    }
    cr_assert_fail("no fixture %s", name);
}

Test(pgoutput, every_reference_fixture_decodes_exactly_and_no_prefix_does)
{
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        const Fx *fx = &fixtures[i];
        size_t n;
        uint8_t *p = hex_bytes(fx->hex, &n);
        PgoDecoder d = {0};
        PgoEvent ev;
        Err err = {0};
        setup_decoder(&d, fx);
        for (size_t k = 0; k < n; k++) {
            /* Exact size so ASan catches any read past the prefix. */
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, p, k);
            err_clear(&err);
            cr_assert_not(pgo_decode_exact(&d, cut, k, &ev, &err), "%s: prefix of %zu/%zu bytes accepted",
                          fx->name, k, n);
            cr_assert_eq(err.code, ERR_PROTOCOL, "%s", fx->name);
            cr_assert_eq(d.in_stream, fx->in_stream, "%s: state changed by a failed decode", fx->name);
            free(cut);
        }
        cr_assert(pgo_decode_exact(&d, p, n, &ev, &err), "%s: %s", fx->name, err.msg);
        cr_assert_eq(ev.type, (uint8_t)fx->type, "%s", fx->name);
        cr_assert_eq(ev.len, n);
        pgo_decoder_free(&d);
        free(p);
    }
}

Test(pgoutput, begin_commit_fields)
{
    PgoDecoder d = {0};
    PgoEvent ev;
    uint8_t *b;
    decode_fx("F1", &d, &ev, &b);
    cr_assert_eq(ev.u.begin.final_lsn, 0x6874820);
    cr_assert_eq(ev.u.begin.commit_ts, INT64_C(849178211560385));
    cr_assert(ev.has_xid);
    cr_assert_eq(ev.xid, 800);
    free(b);
    decode_fx("F4", &d, &ev, &b);
    cr_assert_eq(ev.u.commit.commit_lsn, 0x6874820);
    cr_assert_eq(ev.u.commit.end_lsn, 0x6874850);
    cr_assert_eq(ev.u.commit.commit_ts, INT64_C(849178211560385));
    cr_assert_not(ev.has_xid);
    free(b);
    pgo_decoder_free(&d);
}

Test(pgoutput, relation_fields)
{
    PgoDecoder d = {0};
    PgoEvent ev;
    uint8_t *b;
    decode_fx("F2", &d, &ev, &b);
    cr_assert_eq(ev.u.relation.oid, 24626);
    cr_assert_eq(ev.u.relation.nspname.len, 6);
    cr_assert_str_eq(ev.u.relation.nspname.p, "public");
    cr_assert_str_eq(ev.u.relation.relname.p, "users");
    cr_assert_eq(ev.u.relation.replident, 'd');
    cr_assert_eq(ev.u.relation.ncols, 3);
    cr_assert_eq(ev.u.relation.cols[0].flags, 1);
    cr_assert_str_eq(ev.u.relation.cols[0].name.p, "id");
    cr_assert_eq(ev.u.relation.cols[0].type_oid, 23);
    cr_assert_eq(ev.u.relation.cols[0].typmod, -1);
    cr_assert_eq(ev.u.relation.cols[1].type_oid, 1043);
    cr_assert_eq(ev.u.relation.cols[1].typmod, 54);
    cr_assert_not(ev.has_xid);
    free(b);
    decode_fx("F20", &d, &ev, &b);
    cr_assert(ev.has_xid && ev.in_stream);
    cr_assert_eq(ev.xid, 817);
    cr_assert_eq(ev.u.relation.replident, 'f');
    free(b);
    pgo_decoder_free(&d);
}

Test(pgoutput, tuple_kinds_and_update_forms)
{
    PgoDecoder d = {0};
    PgoEvent ev;
    uint8_t *b;
    decode_fx("F3", &d, &ev, &b);
    cr_assert_eq(ev.u.change.rel_oid, 24626);
    cr_assert_eq(ev.u.change.old_kind, 0);
    cr_assert_eq(ev.u.change.new_tup.ncols, 3);
    cr_assert_eq(ev.u.change.new_tup.cols[1].kind, 't');
    cr_assert_eq(ev.u.change.new_tup.cols[1].len, 5);
    cr_assert_arr_eq(ev.u.change.new_tup.cols[1].data, "alice", 5);
    free(b);

    decode_fx("F6", &d, &ev, &b);
    cr_assert_eq(ev.u.change.old_kind, 'K');
    cr_assert_eq(ev.u.change.old_tup.ncols, 3);
    cr_assert_eq(ev.u.change.old_tup.cols[0].data[0], '1');
    cr_assert_eq(ev.u.change.old_tup.cols[1].kind, 'n');
    cr_assert_eq(ev.u.change.new_tup.cols[0].data[0], '2');
    cr_assert_arr_eq(ev.u.change.new_tup.cols[1].data, "alicia", 6);
    free(b);

    decode_fx("F8", &d, &ev, &b);
    cr_assert_eq(ev.u.change.new_tup.cols[2].kind, 'u');
    cr_assert_null(ev.u.change.new_tup.cols[2].data);
    free(b);

    decode_fx("F10", &d, &ev, &b);
    cr_assert_eq(ev.u.change.old_kind, 'O');
    cr_assert_arr_eq(ev.u.change.old_tup.cols[1].data, "carol", 5);
    cr_assert_arr_eq(ev.u.change.new_tup.cols[1].data, "caroline", 8);
    free(b);

    decode_fx("F11", &d, &ev, &b);
    cr_assert_eq(ev.type, 'D');
    cr_assert_eq(ev.u.change.old_kind, 'O');
    cr_assert_not(ev.u.change.has_new);
    free(b);

    decode_fx("F18", &d, &ev, &b);
    cr_assert_eq(ev.u.change.new_tup.ncols, 4);
    cr_assert_eq(ev.u.change.new_tup.cols[0].kind, 'b');
    cr_assert_eq(ev.u.change.new_tup.cols[3].len, 12);
    free(b);

    decode_fx("F33", &d, &ev, &b); /* 'u' inside an INSERT (row filter) */
    cr_assert_eq(ev.u.change.new_tup.cols[1].kind, 'u');
    free(b);
    pgo_decoder_free(&d);
}

Test(pgoutput, truncate_message_origin_type)
{
    PgoDecoder d = {0};
    PgoEvent ev;
    uint8_t *b;
    decode_fx("F12", &d, &ev, &b);
    cr_assert_eq(ev.u.truncate.nrels, 2);
    cr_assert_eq(ev.u.truncate.options, PGO_TRUNCATE_RESTART_IDENTITY);
    cr_assert_eq(pgo_truncate_oid(&ev, 0), 24626);
    cr_assert_eq(pgo_truncate_oid(&ev, 1), 24633);
    free(b);
    decode_fx("F32", &d, &ev, &b);
    cr_assert_eq(ev.u.truncate.options, PGO_TRUNCATE_CASCADE);
    free(b);
    decode_fx("F13", &d, &ev, &b);
    cr_assert_eq(ev.u.message.flags, 0);
    cr_assert_eq(ev.u.message.lsn, 0x6877498);
    cr_assert_str_eq(ev.u.message.prefix.p, "heartbeat");
    cr_assert_eq(ev.u.message.len, 20);
    free(b);
    decode_fx("F14", &d, &ev, &b);
    cr_assert_eq(ev.u.message.flags, PGO_MESSAGE_TRANSACTIONAL);
    cr_assert_arr_eq(ev.u.message.content, "hello", 5);
    free(b);
    decode_fx("F15", &d, &ev, &b);
    cr_assert_eq(ev.u.origin.origin_lsn, 0xAABBCC);
    cr_assert_str_eq(ev.u.origin.name.p, "upstream_a");
    free(b);
    decode_fx("F17", &d, &ev, &b);
    cr_assert_eq(ev.u.type.oid, 16399);
    cr_assert_str_eq(ev.u.type.typname.p, "mood");
    free(b);
    pgo_decoder_free(&d);
}

Test(pgoutput, stream_and_two_phase_fields)
{
    PgoDecoder d = {0};
    PgoEvent ev;
    uint8_t *b;
    decode_fx("F19", &d, &ev, &b);
    cr_assert_eq(ev.xid, 816);
    cr_assert(ev.u.stream_start.first_segment);
    cr_assert(d.in_stream);
    cr_assert_eq(d.stream_xid, 816);
    free(b);
    decode_fx("F23", &d, &ev, &b);
    cr_assert_not(d.in_stream);
    free(b);
    decode_fx("F25", &d, &ev, &b);
    cr_assert_eq(ev.xid, 817);
    cr_assert_eq(ev.u.stream_abort.subxid, 818);
    cr_assert_not(ev.u.stream_abort.has_abort_info);
    free(b);
    decode_fx("S1", &d, &ev, &b);
    cr_assert(ev.u.stream_abort.has_abort_info);
    cr_assert_eq(ev.u.stream_abort.abort_lsn, 0x1B000100);
    cr_assert_eq(ev.u.stream_abort.abort_ts, INT64_C(767880000000000));
    free(b);
    decode_fx("F26", &d, &ev, &b);
    cr_assert_eq(ev.xid, 817);
    cr_assert_eq(ev.u.commit.commit_lsn, 0x6938330);
    cr_assert_eq(ev.u.commit.end_lsn, 0x6938368);
    free(b);
    decode_fx("F27", &d, &ev, &b);
    cr_assert_eq(ev.u.prepare.lsn, 0x6877620);
    cr_assert_eq(ev.u.prepare.end_lsn, 0x6877718);
    cr_assert_eq(ev.xid, 812);
    cr_assert_str_eq(ev.u.prepare.gid.p, "gid_a");
    free(b);
    decode_fx("F29", &d, &ev, &b);
    cr_assert_eq(ev.u.prepare.lsn, 0x6877718);
    free(b);
    decode_fx("F30", &d, &ev, &b);
    cr_assert_eq(ev.u.rollback_prepared.prepare_end_lsn, 0x68778C8);
    cr_assert_eq(ev.u.rollback_prepared.rollback_end_lsn, 0x6877900);
    cr_assert_eq(ev.xid, 813);
    cr_assert_str_eq(ev.u.rollback_prepared.gid.p, "gid_b");
    free(b);
    decode_fx("S2", &d, &ev, &b);
    cr_assert_eq(ev.xid, 770);
    cr_assert_str_eq(ev.u.prepare.gid.p, "pg_gid_1");
    free(b);
    pgo_decoder_free(&d);
}

Test(pgoutput, abort_info_auto_detection)
{
    PgoDecoder d = {0};
    PgoEvent ev;
    Err err = {0};
    size_t n;
    uint8_t *v4 = hex_bytes("41000002f8000002f9000000001b0001000002ba61fea15000", &n);
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    cr_assert(pgo_decode_exact(&d, v4, n, &ev, &err), "%s", err.msg);
    cr_assert(ev.u.stream_abort.has_abort_info);
    /* Short form followed by the capture separator. */
    cr_assert(pgo_decode(&d, (const uint8_t *)"A\0\0\0\1\0\0\0\2\nB0123456789abcdef", 27, &ev, &err));
    cr_assert_not(ev.u.stream_abort.has_abort_info);
    cr_assert_eq(ev.len, 9);
    /* Forced off: the trailer is trailing garbage in exact mode. */
    pgo_decoder_init(&d, PGO_ABORT_INFO_NO);
    cr_assert_not(pgo_decode_exact(&d, v4, n, &ev, &err));
    cr_assert(strstr(err.msg, "16 unexpected trailing bytes") != NULL, "%s", err.msg);
    free(v4);
    pgo_decoder_free(&d);
}

static void expect_error(PgoDecoder *d, const char *hex, const char *needle)
{
    size_t n;
    uint8_t *p = hex_bytes(hex, &n);
    PgoEvent ev;
    Err err = {0};
    bool in_stream = d->in_stream;
    cr_assert_not(pgo_decode_exact(d, p, n, &ev, &err), "accepted %s", hex);
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(strstr(err.msg, needle) != NULL, "for %s: got \"%s\", want \"%s\"", hex, err.msg, needle);
    cr_assert_eq(d->in_stream, in_stream);
    free(p);
}

Test(pgoutput, malformed_input_errors_are_precise)
{
    PgoDecoder d = {0};
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    expect_error(&d, "", "empty");
    expect_error(&d, "5a", "unknown pgoutput message type 0x5a at byte 0");
    expect_error(&d, "00", "unknown pgoutput message type 0x00");
    /* Truncation names the field and the byte offset. */
    expect_error(&d, "4200000000", "begin message truncated at byte 1: final lsn needs 8 bytes, 4 left");
    expect_error(&d, "49000060324e0003740000000131", "column 2 kind");
    /* Negative and oversized value lengths. */
    expect_error(&d, "49000060324e000174ffffffff", "column 1 has negative length at byte 9");
    expect_error(&d, "49000060324e00017400000009616263", "column 1 value needs 9 bytes, 3 left");
    /* Counts larger than the bytes that follow. */
    expect_error(&d, "49000060324e ffff 6e6e", "declares 65535 columns at byte 6 but only 2 bytes are left");
    expect_error(&d, "5200006032 7300 7400 64 ffff 00", "65535 columns declared");
    expect_error(&d, "54 ffffffff 00", "negative relation count -1 at byte 1");
    expect_error(&d, "54 00000100 00 00006032", "relation count 256 at byte 1 exceeds");
    expect_error(&d, "4d 00 0000000000000000 7000 80000000", "negative content length");
    expect_error(&d, "4d 00 0000000000000000 7000 00000005 6869", "content length 5 at byte 12 exceeds the 2 bytes left");
    /* Unknown kinds and tags. */
    expect_error(&d, "49000060324e00017800", "unknown new tuple column 1 kind 0x78 at byte 8");
    expect_error(&d, "4900006032580001 6e", "unexpected tuple tag 0x58 at byte 5");
    expect_error(&d, "5500006032 4b 0001 6e 4b 0001 6e", "unexpected new tuple tag 0x4b at byte 9");
    expect_error(&d, "4400006032 4e 0001 6e", "unexpected tuple tag 0x4e");
    expect_error(&d, "5200006032 7300 7400 78 0000", "unknown replica identity 0x78 at byte 9");
    /* Strings without a NUL. */
    expect_error(&d, "4f 0000000000aabbcc 7570", "origin name has no NUL terminator");
    /* Flags the protocol defines as zero. */
    expect_error(&d, "43 01 0000000000000000 0000000000000000 0000000000000000", "unsupported flags 0x01 at byte 1");
    expect_error(&d, "53 00000001 02", "invalid first segment flag 2 at byte 5");
    /* Stream state. */
    expect_error(&d, "45", "stream_stop message outside a stream block");
    expect_error(&d, "42000000000687482000030452b5a6abc100000320 00", "1 unexpected trailing bytes at byte 21");
    d.in_stream = true;
    d.stream_xid = 7;
    expect_error(&d, "42000000000687482000030452b5a6abc100000320", "begin message inside a stream block (xid 7)");
    expect_error(&d, "530000000701", "stream_start message inside a stream block");
    expect_error(&d, "49000060", "insert message truncated at byte 1: stream xid prefix needs 4 bytes, 3 left");
    expect_error(&d, "4900006032", "relation oid needs 4 bytes, 0 left"); /* a prefix-less insert inside a block */
    pgo_decoder_free(&d);
}

Test(pgoutput, scratch_is_reused_and_grows)
{
    /* An insert with 1000 NULL columns, then an update with 2 x 300 columns. */
    size_t n1 = 1 + 4 + 1 + 2 + 1000;
    uint8_t *m1 = malloc(n1);
    memcpy(m1, "I\0\0\0\1N\x03\xe8", 8);
    memset(m1 + 8, 'n', 1000);
    size_t n2 = 1 + 4 + 2 * (1 + 2 + 300);
    uint8_t *m2 = malloc(n2);
    memcpy(m2, "U\0\0\0\1O\x01\x2c", 8);
    memset(m2 + 8, 'u', 300);
    memcpy(m2 + 308, "N\x01\x2c", 3);
    memset(m2 + 311, 'n', 300);
    PgoDecoder d = {0};
    PgoEvent ev;
    Err err = {0};
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    cr_assert(pgo_decode_exact(&d, m1, n1, &ev, &err), "%s", err.msg);
    cr_assert_eq(ev.u.change.new_tup.ncols, 1000);
    size_t cap = d.cols_cap;
    cr_assert(pgo_decode_exact(&d, m2, n2, &ev, &err), "%s", err.msg);
    cr_assert_eq(d.cols_cap, cap);
    cr_assert_eq(ev.u.change.old_tup.ncols, 300);
    cr_assert_eq(ev.u.change.new_tup.ncols, 300);
    cr_assert_eq(ev.u.change.old_tup.cols[299].kind, 'u');
    cr_assert_eq(ev.u.change.new_tup.cols[0].kind, 'n');
    pgo_decoder_free(&d);
    free(m1);
    free(m2);
}

/* Every message of every real capture: exact decode works, every prefix fails cleanly. */
static void check_capture_prefixes(const char *file, PgoAbortInfo mode)
{
    size_t n;
    uint8_t *data = read_fixture(file, &n);
    cr_assert_not_null(data, "missing fixture %s", file);
    CaptureSplitter s;
    PgoDecoder split, d;
    PgoEvent ev, ev2;
    Err err = {0};
    int rc;
    size_t msgs = 0;
    capture_splitter_init(&s, data, n);
    pgo_decoder_init(&split, mode);
    pgo_decoder_init(&d, mode);
    while ((rc = capture_next(&s, &split, &ev, &err)) == 1) {
        const uint8_t *msg = s.data + s.pos - ev.len - 1;
        size_t len = ev.len;
        for (size_t k = 0; k < len; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, msg, k);
            cr_assert_not(pgo_decode_exact(&d, cut, k, &ev2, &err), "%s message %zu: prefix %zu/%zu accepted",
                          file, s.index, k, len);
            free(cut);
        }
        uint8_t *copy = malloc(len);
        memcpy(copy, msg, len);
        cr_assert(pgo_decode_exact(&d, copy, len, &ev2, &err), "%s message %zu: %s", file, s.index, err.msg);
        cr_assert_eq(ev2.type, ev.type);
        free(copy);
        msgs++;
    }
    cr_assert_eq(rc, 0, "%s: %s", file, err.msg);
    cr_assert_gt(msgs, 0);
    pgo_decoder_free(&split);
    pgo_decoder_free(&d);
    free(data);
}

Test(pgoutput, real_capture_messages_all_prefixes)
{
    check_capture_prefixes("pgoutput/proto1_basic.bin", PGO_ABORT_INFO_AUTO);
    check_capture_prefixes("pgoutput/proto1_messages.bin", PGO_ABORT_INFO_AUTO);
    check_capture_prefixes("pgoutput/proto1_binary.bin", PGO_ABORT_INFO_AUTO);
    check_capture_prefixes("pgoutput/proto2_stream.bin", PGO_ABORT_INFO_NO);
    check_capture_prefixes("pgoutput/proto3_twophase.bin", PGO_ABORT_INFO_AUTO);
    check_capture_prefixes("pgoutput/proto3_twophase_stream.bin", PGO_ABORT_INFO_AUTO);
    check_capture_prefixes("pgoutput/proto4_parallel.bin", PGO_ABORT_INFO_YES);
}

Test(pgoutput, type_names)
{
    cr_assert_str_eq(pgo_type_name('c'), "stream_commit");
    cr_assert_str_eq(pgo_type_name('r'), "rollback_prepared");
    cr_assert_null(pgo_type_name('Z'));
}

/* Regressions found by tests/fuzz/pgoutput_fuzz. */
Test(pgoutput, zero_column_tuples_on_a_fresh_decoder)
{
    PgoDecoder d = {0};
    PgoEvent ev;
    Err err = {0};
    size_t n;
    uint8_t *p = hex_bytes("55 00000001 4f 0000 4e 0000", &n);
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    cr_assert(pgo_decode_exact(&d, p, n, &ev, &err), "%s", err.msg);
    cr_assert_eq(ev.u.change.old_tup.ncols, 0);
    cr_assert_eq(ev.u.change.new_tup.ncols, 0);
    cr_assert_null(ev.u.change.new_tup.cols);
    free(p);
    pgo_decoder_free(&d);
}

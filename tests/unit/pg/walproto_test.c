#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pg/walproto.h"
#include "test_util.h"

/* Real frames captured from PostgreSQL 15 (pgoutput reference, §8.2). */
Test(walproto, decodes_real_keepalive)
{
    size_t n;
    uint8_t *p = hex_bytes("6b 00000000069383d8 00030452b905df91 00", &n);
    WalMsg m;
    Err err = {0};
    cr_assert(walproto_decode(p, n, &m, &err), "%s", err.msg);
    cr_assert_eq(m.kind, WAL_MSG_KEEPALIVE);
    cr_assert_eq(m.u.keepalive.wal_end, UINT64_C(0x69383D8));
    cr_assert_eq(m.u.keepalive.send_time, INT64_C(0x00030452b905df91));
    cr_assert_not(m.u.keepalive.reply_requested);
    p[17] = 1;
    cr_assert(walproto_decode(p, n, &m, &err));
    cr_assert(m.u.keepalive.reply_requested);
    p[17] = 2;
    cr_assert_not(walproto_decode(p, n, &m, &err));
    for (size_t k = 0; k < n; k++)
        cr_assert_not(walproto_decode(p, k, &m, &err), "prefix %zu accepted", k);
    free(p);
}

Test(walproto, decodes_real_xlogdata)
{
    size_t n;
    uint8_t *p = hex_bytes("77 00000000069383d8 00000000069383d8 00030452b91dd12f"
                           "42 0000000006938458 00030452b91dc1e6 00000334", &n);
    WalMsg m;
    Err err = {0};
    cr_assert_eq(n, 46);
    cr_assert(walproto_decode(p, n, &m, &err), "%s", err.msg);
    cr_assert_eq(m.kind, WAL_MSG_XLOGDATA);
    cr_assert_eq(m.u.xlog.wal_start, UINT64_C(0x69383D8));
    cr_assert_eq(m.u.xlog.wal_end, UINT64_C(0x69383D8));
    cr_assert_eq(m.u.xlog.send_time, INT64_C(0x00030452b91dd12f));
    cr_assert_eq(m.u.xlog.payload_len, 21);
    cr_assert_eq(m.u.xlog.payload, p + 25);
    cr_assert_eq(m.u.xlog.payload[0], 'B');
    for (size_t k = 0; k <= 25; k++)
        cr_assert_not(walproto_decode(p, k, &m, &err), "prefix %zu accepted", k);
    free(p);
}

Test(walproto, rejects_unknown_and_bad_lengths)
{
    Err err = {0};
    WalMsg m;
    uint8_t junk[40] = {'x'};
    cr_assert_not(walproto_decode(junk, sizeof junk, &m, &err));
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert(strstr(err.msg, "0x78") != NULL, "%s", err.msg);
    junk[0] = 'k';
    cr_assert_not(walproto_decode(junk, 19, &m, &err)); /* trailing byte */
    cr_assert_not(walproto_decode(junk, 0, &m, &err));
}

Test(walproto, encodes_status_update_known_answer)
{
    /* The acknowledgement the research client sent (reference §8.2). */
    size_t n;
    uint8_t *want = hex_bytes("72 0000000006938488 0000000006938488 0000000006938488 00030452b92d2514 00", &n);
    uint8_t out[WALPROTO_STATUS_LEN];
    cr_assert_eq(n, WALPROTO_STATUS_LEN);
    walproto_encode_status(0x6938488, 0x6938488, 0x6938488, INT64_C(0x00030452b92d2514), false, out);
    cr_assert_arr_eq(out, want, n);
    walproto_encode_status(0, 0, 0, 0, true, out);
    cr_assert_eq(out[0], 'r');
    cr_assert_eq(out[33], 1);
    for (int i = 1; i < 33; i++)
        cr_assert_eq(out[i], 0);
    free(want);
}

Test(walproto, epoch_conversion)
{
    /* 2024-05-01 12:00:00 UTC: Unix 1714564800 s; PG 767880000000000 us (reference S3). */
    cr_assert_eq(walproto_unix_to_pg_us(INT64_C(1714564800000000)), INT64_C(767880000000000));
    cr_assert_eq(walproto_pg_to_unix_us(INT64_C(767880000000000)), INT64_C(1714564800000000));
    cr_assert_eq(walproto_unix_to_pg_us(INT64_MIN), INT64_MIN);
    cr_assert_eq(walproto_pg_to_unix_us(INT64_MAX), INT64_MAX);
}

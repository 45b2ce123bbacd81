/*
 * pg/walproto.c - see walproto.h.
 *
 * Pure framing of the CopyData payloads of streaming replication: 'w' (XLogData:
 * three big-endian 64-bit fields, then the pgoutput message) and 'k' (keepalive,
 * exactly 18 bytes, its reply flag only 0 or 1); any other length or type is a
 * protocol error naming what was wrong. The status update 'r' is written into a
 * fixed 34-byte array. Postgres timestamps count microseconds from 2000-01-01; the
 * conversions saturate instead of overflowing.
 */
#include "pg/walproto.h"

#include <string.h>

#include "core/buf.h"

static int64_t as_i64(uint64_t u)
{
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

bool walproto_decode(const uint8_t *p, size_t n, WalMsg *out, Err *err)
{
    Rd r = rd_make(p, n);
    uint8_t kind;
    uint64_t ts;

    if (!rd_u8(&r, &kind))
        return err_set(err, ERR_PROTOCOL, "replication copy message is empty");
    out->kind = kind;
    switch (kind) {
    case WAL_MSG_XLOGDATA:
        if (n < WALPROTO_XLOGDATA_HDR)
            return err_set(err, ERR_PROTOCOL, "xlogdata message too short: %zu bytes, header needs %d",
                           n, WALPROTO_XLOGDATA_HDR);
        if (!rd_be64(&r, &out->u.xlog.wal_start) || !rd_be64(&r, &out->u.xlog.wal_end) || !rd_be64(&r, &ts))
            return err_set(err, ERR_INTERNAL, "xlogdata header read failed");
        out->u.xlog.send_time = as_i64(ts);
        out->u.xlog.payload = r.p;
        out->u.xlog.payload_len = r.left;
        if (r.left == 0)
            return err_set(err, ERR_PROTOCOL, "xlogdata message at %s has an empty payload",
                           lsn_format(out->u.xlog.wal_start, (char[LSN_STR_MAX]){0}));
        return true;
    case WAL_MSG_KEEPALIVE: {
        uint8_t reply;
        if (n != WALPROTO_KEEPALIVE_LEN)
            return err_set(err, ERR_PROTOCOL, "keepalive message has %zu bytes, expected %d", n,
                           WALPROTO_KEEPALIVE_LEN);
        if (!rd_be64(&r, &out->u.keepalive.wal_end) || !rd_be64(&r, &ts) || !rd_u8(&r, &reply))
            return err_set(err, ERR_INTERNAL, "keepalive read failed");
        if (reply > 1)
            return err_set(err, ERR_PROTOCOL, "keepalive reply-requested flag is %u, expected 0 or 1", reply);
        out->u.keepalive.send_time = as_i64(ts);
        out->u.keepalive.reply_requested = reply == 1;
        return true;
    }
    default:
        return err_set(err, ERR_PROTOCOL, "unknown replication copy message type 0x%02x", kind);
    }
}

static uint8_t *put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(v >> (i * 8));
    return p;
}

void walproto_encode_status(Lsn write, Lsn flush, Lsn apply, int64_t now_pg_us, bool reply_requested,
                            uint8_t out[WALPROTO_STATUS_LEN])
{
    uint64_t now;
    memcpy(&now, &now_pg_us, sizeof now);
    uint8_t *p = out;
    *p++ = 'r';
    p = put_be64(p, write);
    p = put_be64(p, flush);
    p = put_be64(p, apply);
    p = put_be64(p, now);
    *p = reply_requested ? 1 : 0;
}

int64_t walproto_unix_to_pg_us(int64_t unix_us)
{
    if (unix_us < INT64_MIN + WALPROTO_PG_EPOCH_OFFSET_US)
        return INT64_MIN;
    return unix_us - WALPROTO_PG_EPOCH_OFFSET_US;
}

int64_t walproto_pg_to_unix_us(int64_t pg_us)
{
    if (pg_us > INT64_MAX - WALPROTO_PG_EPOCH_OFFSET_US)
        return INT64_MAX;
    return pg_us + WALPROTO_PG_EPOCH_OFFSET_US;
}

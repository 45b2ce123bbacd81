/*
 * pg/walproto.h - CopyBoth sub-messages of the streaming replication protocol.
 *
 * Owns:     decoding the server's 'w' XLogData and 'k' primary keepalive
 *           frames, encoding the client's 'r' standby status update, and the
 *           Postgres epoch (microseconds since 2000-01-01 00:00:00 UTC).
 * Not mine: the pgoutput payload inside 'w' (pg/pgoutput), libpq and the
 *           socket (pg/stream), deciding which LSNs to report (daemon).
 * Pure:     yes; no allocation, no clock (callers pass `now`).
 * Trust:    frames come from the server and are untrusted: lengths are exact,
 *           and an unknown sub-message type is an error.
 */
#ifndef WAL2EDGE_PG_WALPROTO_H
#define WAL2EDGE_PG_WALPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/lsn.h"

/* Seconds from the Unix epoch to 2000-01-01, times 10^6. */
#define WALPROTO_PG_EPOCH_OFFSET_US INT64_C(946684800000000)

#define WALPROTO_XLOGDATA_HDR 25
#define WALPROTO_KEEPALIVE_LEN 18
#define WALPROTO_STATUS_LEN 34

typedef enum WalMsgKind {
    WAL_MSG_XLOGDATA = 'w',
    WAL_MSG_KEEPALIVE = 'k',
} WalMsgKind;

typedef struct WalMsg {
    uint8_t kind;                  /* WalMsgKind */
    union {
        struct {
            Lsn wal_start;         /* logical mode: the LSN tagged on the message (0 for Relation/Type) */
            Lsn wal_end;           /* logical mode: equal to wal_start */
            int64_t send_time;     /* Postgres-epoch microseconds */
            const uint8_t *payload;/* borrowed from the frame: one pgoutput message */
            size_t payload_len;
        } xlog;
        struct {
            Lsn wal_end;           /* the walsender's sent position */
            int64_t send_time;
            bool reply_requested;  /* answer with a status update now */
        } keepalive;
    } u;
} WalMsg;

/* Decode one CopyData payload from the server. */
bool walproto_decode(const uint8_t *p, size_t n, WalMsg *out, Err *err) WARN_UNUSED;

/*
 * Build the 34-byte 'r' standby status update into out. `flush` is the only
 * field that moves a logical slot; report only durably applied LSNs there.
 */
void walproto_encode_status(Lsn write, Lsn flush, Lsn apply, int64_t now_pg_us, bool reply_requested,
                            uint8_t out[WALPROTO_STATUS_LEN]);

/* Convert between Unix-epoch and Postgres-epoch microseconds (saturating). */
int64_t walproto_unix_to_pg_us(int64_t unix_us);
int64_t walproto_pg_to_unix_us(int64_t pg_us);

#endif

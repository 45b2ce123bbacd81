/*
 * pg/stream.h - the replication connection: the only libpq code that speaks the
 *               streaming replication protocol.
 *
 * Owns:     opening a `replication=database` connection with pinned output
 *           settings (UTC, ISO dates, ISO 8601 intervals, full float precision,
 *           hex bytea, UTF8), IDENTIFY_SYSTEM, CREATE/DROP_REPLICATION_SLOT,
 *           START_REPLICATION with pgoutput options, reading CopyData frames
 *           on a reader thread into a bounded queue (so the server never waits
 *           for wal2edge's own work), sending standby status updates, and the
 *           wire seam (PgWire) under the reader, which a test can drive.
 * Not mine: what the frames mean (pg/walproto, pg/pgoutput) and which LSN is
 *           safe to confirm (daemon/run decides; this module sends what it is told).
 * Trust:    frames are returned raw; callers decode them with bounds checks.
 * Threads:  while streaming, the reader thread alone calls libpq on the
 *           connection; the caller's calls talk to it through a mutex.
 */
#ifndef WAL2EDGE_PG_STREAM_H
#define WAL2EDGE_PG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/secret.h"
#include "pg/lsn.h"
#include "pg/slotcmd.h"

typedef struct PgStream PgStream;

typedef struct PgSystemInfo {
    char system_id[32];
    int timeline;
    Lsn xlogpos;
    char dbname[64];
    int server_version_num;
} PgSystemInfo;

typedef struct PgSlotCreated {
    char slot_name[64];
    Lsn consistent_point;
    char snapshot_name[64];        /* "" unless a snapshot was exported */
} PgSlotCreated;

typedef struct PgStreamOptions {
    const char *slot;
    const char *publication;
    int proto_version;             /* 0: the highest the server supports */
    bool streaming;                /* stream in-progress transactions (proto >= 2) */
    bool messages;                 /* pg_logical_emit_message */
    bool two_phase;                /* decode PREPARE (proto >= 3; marks the slot two-phase) */
    bool binary;
} PgStreamOptions;

/* Connect; the error says why (never shows the DSN). */
PgStream *pgstream_connect(const Secret *dsn, Err *err) WARN_UNUSED;
void pgstream_close(PgStream *s);

bool pgstream_identify(PgStream *s, PgSystemInfo *out, Err *err) WARN_UNUSED;
int pgstream_server_version(const PgStream *s);
/* SHOW name (before pgstream_start): the setting's text as the server prints it ("60s"). */
bool pgstream_show(PgStream *s, const char *name, char *out, size_t size, Err *err) WARN_UNUSED;
/* The highest pgoutput protocol this server speaks: 4 (16+), 3 (15), 2 (14), 1. */
int pgstream_max_proto_version(const PgStream *s);

/* CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL pgoutput, with PGSLOT_* flags (pg/slotcmd). */
bool pgstream_create_slot(PgStream *s, const char *slot, unsigned flags, PgSlotCreated *out, Err *err) WARN_UNUSED;
bool pgstream_drop_slot(PgStream *s, const char *slot, Err *err) WARN_UNUSED;

/* START_REPLICATION SLOT ... LOGICAL start (...). On success the connection is
 * streaming, and a reader thread owns it from then on: it reads frames as soon
 * as they arrive into a bounded queue (16 MiB; when full the server waits), sends
 * the status updates handed to pgstream_send_status, and answers a keepalive that
 * asks for a reply at once by repeating the last position handed over. Until
 * pgstream_finish or pgstream_close, use only the calls below on this stream. */
bool pgstream_start(PgStream *s, const PgStreamOptions *opts, Lsn start, Err *err) WARN_UNUSED;

/*
 * Wait up to timeout_ms (at most 100 ms in one call) for the next CopyData frame.
 * Returns 1 with frame and len set (borrowed until the next call), 0 on timeout,
 * -1 on error or end of stream (*err says which; frames received before it come first).
 */
int pgstream_next(PgStream *s, int timeout_ms, const uint8_t **frame, size_t *len, Err *err) WARN_UNUSED;

/* Send a standby status update ('r'): queued for the reader thread while streaming;
 * false only when the stream already broke. */
bool pgstream_send_status(PgStream *s, Lsn write, Lsn flush, bool reply_requested, Err *err) WARN_UNUSED;

/*
 * The seam under the reader thread: the few calls it makes on the connection once
 * streaming. pgstream_start uses libpq's; a test drives the reader, pgstream_next and
 * pgstream_send_status with its own (frames captured from a server, status updates
 * recorded) through pgstream_over_wire.
 */
typedef struct PgWire {
    void *ctx;
    int (*socket)(void *ctx);                  /* the fd to poll for input; < 0: lost */
    bool (*consume)(void *ctx, Err *err);      /* take in what the socket holds */
    /* The next complete CopyData payload: its length (> 0, *frame owned), 0 when none is
     * complete yet, -1 when the stream ended or broke (*err says which). */
    int (*get_frame)(void *ctx, char **frame, Err *err);
    bool (*put_frame)(void *ctx, const char *data, int len, Err *err); /* send one CopyData */
    void (*free_frame)(void *ctx, char *frame);
} PgWire;

/* A stream already streaming over wire (copied) from start: the reader thread starts at once. */
PgStream *pgstream_over_wire(const PgWire *wire, Lsn start, Err *err) WARN_UNUSED;

/*
 * When the server last heard this client for certain (monotonic ms, core/clock): the time
 * the last status update went out that a frame came in after, in a later wait for the
 * socket (a cut drops packets both ways, so that status got through; the frame may have
 * crossed it on the wire, so this is good to one round trip). The start of replication
 * before any. 0 when not streaming. The walsender ends (wal_sender_timeout) no sooner than
 * this plus its timeout.
 */
int64_t pgstream_heard_ms(PgStream *s);
/* every_ms > 0: the reader thread asks the server for a reply (a status update repeating the
 * position last handed over, reply requested) whenever it has sent nothing for every_ms, and
 * its answers to keepalives ask for one too, so pgstream_heard_ms stays within about every_ms
 * plus a round trip of now on a healthy connection, however busy the caller is. 0: off. */
void pgstream_set_ping(PgStream *s, int64_t every_ms);

/* Whether frames have arrived that pgstream_next has not returned yet. */
bool pgstream_has_queued(PgStream *s);
/* Stop the reader and end the COPY cleanly (CopyDone, then drain); the connection is done either way. */
bool pgstream_finish(PgStream *s, Err *err) WARN_UNUSED;

#endif

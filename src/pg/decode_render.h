/*
 * pg/decode_render.h - split a pg_recvlogical capture into pgoutput messages
 *                      and render each one as a line of NDJSON.
 *
 * Owns:     the capture file format (what `pg_recvlogical -f FILE` writes with
 *           pgoutput: each message's bytes followed by one '\n', no other
 *           framing) and the `wal2edge decode` JSON format, documented in
 *           docs/internals/pgoutput.md.
 * Not mine: the message layouts (pg/pgoutput), relation metadata
 *           (pg/relcache), reading the file and writing stdout (cli/cmd_decode.c).
 * Pure:     yes; bytes in, lines out through a callback.
 * Trust:    the capture is untrusted. Messages carry no length, and values may
 *           contain 0x0A, so a message is split by parsing its own structure
 *           and only then is the '\n' after it required.
 */
#ifndef WAL2EDGE_PG_DECODE_RENDER_H
#define WAL2EDGE_PG_DECODE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "pg/pgoutput.h"
#include "pg/relcache.h"

/* Longest JSON line we build (a 1 GB text value with escapes fits). */
#define DECODE_LINE_MAX ((size_t)1 << 33)

/* Walks a capture held in memory; messages borrow from `data`. */
typedef struct CaptureSplitter {
    const uint8_t *data;
    size_t n;
    size_t pos;            /* offset of the next message */
    size_t index;          /* number of messages returned so far */
} CaptureSplitter;

void capture_splitter_init(CaptureSplitter *s, const uint8_t *data, size_t n);

/*
 * Decode the next message with d and consume its trailing '\n'.
 * Returns 1 with *ev filled, 0 at the end of the capture, -1 on error
 * (the message says which message, at which file offset, and why).
 */
int capture_next(CaptureSplitter *s, PgoDecoder *d, PgoEvent *ev, Err *err) WARN_UNUSED;

/* Rendering state: relation cache and the current transaction's xid. */
typedef struct DecodeRender {
    RelCache *rc;
    bool in_txn;           /* between Begin/Begin Prepare and Commit/Prepare */
    uint32_t txn_xid;
} DecodeRender;

void decode_render_init(DecodeRender *r);
void decode_render_free(DecodeRender *r);

/*
 * Append one JSON object (no newline) for ev to out, and update the relation
 * cache and transaction state. Fails with ERR_PROTOCOL when a row's column
 * count disagrees with its Relation message, or ERR_TOO_LARGE past out's cap.
 */
bool decode_render_event(DecodeRender *r, const PgoEvent *ev, Buf *out, Err *err) WARN_UNUSED;

/* Called with each NDJSON line, including its trailing '\n'. */
typedef bool (*DecodeEmitFn)(void *ctx, const char *line, size_t len, Err *err);

/*
 * Decode a whole capture, calling emit once per message, in order. Stops at
 * the first error; lines already emitted stay emitted.
 */
bool decode_capture(const uint8_t *data, size_t n, DecodeEmitFn emit, void *ctx, Err *err) WARN_UNUSED;

#endif

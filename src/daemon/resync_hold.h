/*
 * daemon/resync_hold.h - no checkpoint between a resync chunk's watermarks.
 *
 * Owns:     when `run` must not make its targets durable: from a resync low
 *           watermark (pipeline/resync) until the transaction of its high one
 *           commits. A target's window (the keys the stream changed between the
 *           two) lives in memory only; a checkpoint inside it would make a
 *           restart after a crash begin past the low watermark, and the chunk
 *           would be left out. Held, a restart begins before the low watermark
 *           and every target sees the whole window again. A high watermark that
 *           never comes (the resync was stopped between the two) releases the
 *           hold after RESYNC_HOLD_MAX_MS, or the next low watermark replaces it.
 * Not mine: flushing (daemon/fanout), the windows themselves (the targets).
 * Pure:     yes (the caller gives the clock).
 */
#ifndef WAL2EDGE_DAEMON_RESYNC_HOLD_H
#define WAL2EDGE_DAEMON_RESYNC_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline/change.h"

#define RESYNC_HOLD_MAX_MS 30000

typedef struct ResyncHold {
    char *run;                 /* the open window's resync run; NULL: none */
    char *attempt;             /* and its attempt (pipeline/resync_same_window); NULL: none sent */
    long chunk;
    int64_t since_ms;
    bool closing;              /* its high watermark is in the transaction being delivered */
} ResyncHold;

/* A change of the transaction being delivered: a low watermark opens the hold, its high one closes it at commit. */
void resync_hold_change(ResyncHold *h, const Change *c, int64_t now_ms);
/* The transaction committed: true when that closed the hold (flush now: the window is whole). */
bool resync_hold_commit(ResyncHold *h);
/* The transaction was abandoned (it comes again). */
void resync_hold_rollback(ResyncHold *h);
/* Whether the targets must not flush now; a hold older than RESYNC_HOLD_MAX_MS is released (*expired). */
bool resync_hold_active(ResyncHold *h, int64_t now_ms, bool *expired);
void resync_hold_clear(ResyncHold *h);

#endif

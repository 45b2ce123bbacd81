/*
 * daemon/lease.h - the active's lease on its replication slot: how long after the
 *                  walsender last heard it the active may still write to targets.
 *
 * Owns:     reading wal_sender_timeout's text ("60s", "3000", "1min", "0"), the
 *           lease's numbers (docs/scale.md, "A network cut"): the walsender ends no
 *           sooner than T = wal_sender_timeout after it last heard this client
 *           (pg/stream's pgstream_heard_ms), so the lease ends at heard + T - slack;
 *           a flush starts only while at least a margin of it is left, a request
 *           never runs past its end (cf/client's deadline), and past the margin the
 *           session ends (the lease lapsed: what was not flushed is dropped); when
 *           the loop pings the server so that a quiet, healthy stream keeps it.
 * Not mine: the connection and the clock (callers pass heard and now), what a
 *           lapse does to the run (daemon/run, cli/cmd_run).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_DAEMON_LEASE_H
#define WAL2EDGE_DAEMON_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

/* The slack kept off the lease's end: at least this, or T/10 when more. */
#define LEASE_MIN_SLACK_MS 200

typedef struct Lease {
    int64_t timeout_ms;            /* wal_sender_timeout; 0: the server never ends a silent walsender, no lease */
    int64_t last_ping_ms;          /* when the loop last asked the server for a reply */
} Lease;

/* wal_sender_timeout as SHOW prints it (a number with an optional unit ms, s, min, h, d;
 * no unit: ms) in milliseconds. ERR_PROTOCOL for anything else. */
bool lease_parse_timeout(const char *text, int64_t *ms, Err *err) WARN_UNUSED;

/* A new session's lease; timeout_ms 0: off (every check passes). */
void lease_start(Lease *l, int64_t timeout_ms);
bool lease_on(const Lease *l);
/* Kept off the end for what the clocks and the network may differ by: max(T/10, 200 ms). */
int64_t lease_slack_ms(const Lease *l);
/* The room a flush needs left to start, T/4 (beyond it the session ends). */
int64_t lease_margin_ms(const Lease *l);
/* Where the lease ends, heard + T - slack (monotonic ms); INT64_MAX when off. */
int64_t lease_end_ms(const Lease *l, int64_t heard_ms);
/* Whether a flush may start now: false (ERR_LEASE, saying why with the numbers) once less
 * than the margin is left. */
bool lease_check(const Lease *l, int64_t heard_ms, int64_t now_ms, Err *err) WARN_UNUSED;
/* Whether the loop should ask the server for a reply now (not heard for T/4, and not asked
 * in the last T/4); records the ping when it says yes. */
bool lease_ping_due(Lease *l, int64_t heard_ms, int64_t now_ms);
/* How long the loop may wait before the next ping or check is due (cap when that is sooner). */
int64_t lease_wait_ms(const Lease *l, int64_t heard_ms, int64_t now_ms, int64_t cap);

#endif

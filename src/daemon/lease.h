/*
 * daemon/lease.h - the active's lease on its replication slot: how long after the
 *                  walsender last heard it the active may still write to targets.
 *
 * Owns:     reading wal_sender_timeout's text ("60s", "3000", "1min", "0"), the
 *           lease's numbers (docs/scale.md, "The lease"): the walsender ends no
 *           sooner than T = wal_sender_timeout after it last heard this client
 *           (pg/stream's pgstream_heard_ms), so writes must be over by heard + T
 *           less a slack; since a running request is cut up to LEASE_CUT_GRAIN_MS
 *           late (cf/client, net/http), the deadline is heard + T - slack - grain:
 *           no flush starts at or after it (the lease lapsed: the session ends and
 *           what was not flushed is dropped), no request runs past it; how often the
 *           stream's reader asks the server for a reply to keep it fresh.
 * Not mine: the connection and the clock (callers pass heard and now), what a
 *           lapse does to the run (daemon/run, cli/cmd_run).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_DAEMON_LEASE_H
#define WAL2EDGE_DAEMON_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

/* The slack kept off the lease's end for the clocks and the network: T/10, at least this. */
#define LEASE_MIN_SLACK_MS 200
/* How late a running request may be cut after the deadline (libcurl's progress callback
 * comes at least once a second). */
#define LEASE_CUT_GRAIN_MS 1000
/* The shortest wal_sender_timeout a lease can be held on with a healthy stream. */
#define LEASE_MIN_TIMEOUT_MS 2000

typedef struct Lease {
    int64_t timeout_ms;            /* wal_sender_timeout; 0: the server never ends a silent walsender, no lease */
} Lease;

/* wal_sender_timeout as SHOW prints it (a number with an optional unit ms, s, min, h, d;
 * no unit: ms) in milliseconds. ERR_PROTOCOL for anything else. */
bool lease_parse_timeout(const char *text, int64_t *ms, Err *err) WARN_UNUSED;

/* A new session's lease; timeout_ms 0: off (every check passes). ERR_CONFIG for a timeout
 * under LEASE_MIN_TIMEOUT_MS (no healthy stream could keep the lease). */
bool lease_start(Lease *l, int64_t timeout_ms, Err *err) WARN_UNUSED;
bool lease_on(const Lease *l);
/* max(T/10, LEASE_MIN_SLACK_MS). */
int64_t lease_slack_ms(const Lease *l);
/* How long before the walsender may end nothing starts and nothing runs: slack + grain. */
int64_t lease_margin_ms(const Lease *l);
/* The writes' deadline, heard + T - margin (monotonic ms); INT64_MAX when off. */
int64_t lease_deadline_ms(const Lease *l, int64_t heard_ms);
/* Whether a flush may start now: false (ERR_LEASE, saying why with the numbers) once the
 * deadline has come. */
bool lease_check(const Lease *l, int64_t heard_ms, int64_t now_ms, Err *err) WARN_UNUSED;
/* How often the stream's reader asks the server for a reply (pgstream_set_ping): T/6; 0 when off. */
int64_t lease_ping_ms(const Lease *l);

#endif

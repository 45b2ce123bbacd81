/*
 * daemon/walguard.h - the slot seen from the server while `run` streams:
 *                     heartbeats and the WAL guard.
 *
 * Owns:     reading the slot's row of pg_replication_slots every few seconds
 *           on an ordinary connection (retained WAL, safe_wal_size,
 *           wal_status; handed to metrics/metrics), the WAL guard (above
 *           source.max_retained_wal_bytes: a warning every minute and /readyz
 *           fails; wal_status unreserved: a warning, lost: an error), and
 *           heartbeats: when the stream has been quiet for
 *           source.heartbeat_interval_ms, a transactional logical message
 *           (prefix wal2edge.heartbeat) so the slot advances on an idle
 *           database and liveness is proved end to end.
 * Not mine: the stream (daemon/run sees the heartbeat come back and reports
 *           it), what metrics are exported (metrics/metrics).
 * Pure:     no (one libpq connection, the clock, the log).
 */
#ifndef WAL2EDGE_DAEMON_WALGUARD_H
#define WAL2EDGE_DAEMON_WALGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "metrics/metrics.h"

#define WALGUARD_POLL_MS 5000
#define WALGUARD_WARN_EVERY_MS 60000

typedef struct WalGuard WalGuard;

/* cfg and metrics (may be NULL) are borrowed. */
WalGuard *walguard_new(const Config *cfg, Metrics *metrics);
void walguard_free(WalGuard *g);

/*
 * Call from the loop: polls the slot when due, and emits a heartbeat when nothing
 * arrived on the stream since quiet_since_ms (monotonic) for the heartbeat interval.
 * Failures are logged, never fatal (the stream notices a server that is gone).
 */
void walguard_tick(WalGuard *g, int64_t quiet_since_ms);
typedef enum { WALGUARD_OK, WALGUARD_WARNING, WALGUARD_ERROR } WalGuardLevel;

/* The guard's verdict on a slot's figures (pure; `status` uses it too): lost is an error;
 * unreserved, or retained WAL above max_retained, a warning. *what (may be NULL) gets one
 * line saying why, without the slot's name. */
WalGuardLevel walguard_judge(const char *wal_status, int64_t retained_bytes, int64_t max_retained, char *what,
                             size_t size);

#endif

/*
 * daemon/standby.h - `wal2edge run --standby`: waiting for the replication slot
 *                    that another instance holds, and taking it when it is free.
 *
 * Owns:     the standby's rule (take the slot when it is missing or no walsender
 *           holds it; wait while one does), its polling with backoff
 *           (STANDBY_POLL_MIN_MS up to STANDBY_POLL_MAX_MS, so a kill -9 of the
 *           active is noticed within about a second), the standby's metrics and
 *           stats.json (state "standby", wal2edge_role{role="standby"}) and the
 *           state directory's lock while waiting.
 * Not mine: running once the slot is free (daemon/run; a race for the slot that
 *           this instance loses ends its run with ERR_SLOT_BUSY, and cli/cmd_run
 *           waits here again); the slot's exclusivity itself, which Postgres
 *           guarantees (one walsender per slot).
 * Pure:     standby_check_config and standby_judge are; standby_wait polls
 *           Postgres and sleeps.
 */
#ifndef WAL2EDGE_DAEMON_STANDBY_H
#define WAL2EDGE_DAEMON_STANDBY_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "pg/conn.h"

#define STANDBY_POLL_MIN_MS 200
#define STANDBY_POLL_MAX_MS 1000

typedef enum {
    STANDBY_WAIT,  /* a walsender holds the slot */
    STANDBY_TAKE,  /* nobody holds it (or it does not exist yet: run creates it) */
} StandbyVerdict;

/*
 * A standby group shares its targets: each must be one every instance reaches (REST D1, KV,
 * queues), not a file of one machine (an embedded target, the change log: --target-log or
 * "changelog"). ERR_CONFIG naming the first that is not; r2 targets (snapshots) do not matter.
 */
bool standby_check_config(const Config *cfg, const char *target_log, Err *err) WARN_UNUSED;

/* The rule, and why in `why` (for the log and the standby's reason). */
StandbyVerdict standby_judge(const PgSlotFacts *slot, const char *slot_name, char *why, size_t why_size);

/*
 * Wait until the slot may be taken. Serves the standby's metrics (cfg->metrics.listen) and
 * stats.json meanwhile. Postgres being unreachable is waited out like a held slot. Returns
 * true when the slot is free; false with *stopped on SIGINT/SIGTERM, or with *err when the
 * state directory is held by another process or the metrics endpoint cannot start.
 */
bool standby_wait(const Config *cfg, bool *stopped, Err *err) WARN_UNUSED;

#endif

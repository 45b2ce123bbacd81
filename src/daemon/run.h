/*
 * daemon/run.h - `wal2edge run`: the replication loop.
 *
 * Owns:     the session: connecting, checking the source and each target's gap,
 *           starting the stream at the slowest target's checkpoint, wiring the
 *           stream (pg/stream) through the assembler to the fan-out; the
 *           durability rule (confirm to Postgres only what every target has
 *           made durable; when idle, confirm the server's position so a quiet
 *           slot does not pin WAL, and fence the targets there); the one place
 *           that decides standby status updates; reconnecting with backoff and
 *           jitter; clean shutdown on SIGINT/SIGTERM (a long replay abandoned);
 *           the resyncer's life (started with the run, every target's ResyncHook);
 *           on SIGHUP, ending cleanly between transactions when the caller's
 *           new config is good (the caller runs again from it).
 * Not mine: decoding and staging (pipeline/assembler); which target gets what,
 *           a target falling behind alone and its retries (daemon/fanout); each
 *           target's storage; the metrics endpoint (metrics/metrics, fed from
 *           here), heartbeats and the WAL guard (daemon/walguard, ticked here).
 */
#ifndef WAL2EDGE_DAEMON_RUN_H
#define WAL2EDGE_DAEMON_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "daemon/resyncer.h"
#include "daemon/source_watch.h"
#include "metrics/metrics.h"
#include "pipeline/target.h"

typedef struct RunOptions {
    bool exit_when_caught_up;      /* stop once everything committed before the start is applied */
    int status_interval_ms;        /* standby status update period (default 10 s) */
    int flush_interval_ms;         /* how long a target may hold unflushed work once the stream is
                                      quiet (default 200 ms; 5x that under a continuous load) */
    int max_reconnects;            /* 0: unlimited */
    /* The publication is created with these tables ("schema.name") when it does not exist;
     * with none, FOR ALL TABLES. */
    const char *const *publication_tables;
    size_t publication_table_count;
    /* Targets ("kv.cache") whose gap (pipeline/gap) the user accepts: they go on from the
     * slot's position instead of stopping the run. */
    const char *const *accept_gap;
    size_t accept_gap_count;
    /* The mapped tables, checked at every start and every status interval (daemon/source_watch). */
    const SourceWatchTable *watch_tables;
    size_t watch_table_count;
    /* Called with the run's metrics once they exist and with NULL before they go, so the
     * caller can feed them what the run cannot see (cli/cmd_run: the Cloudflare client's
     * requests per target). May be NULL. */
    void (*on_metrics)(void *user, Metrics *metrics);
    void *on_metrics_user;
    /* Called with the run's resyncer (daemon/resyncer: the re-copies run makes beside the
     * stream) once it exists and with NULL before it goes, so the caller can ask it for
     * re-copies and read their progress. May be NULL. */
    void (*on_resyncer)(void *user, Resyncer *resyncer);
    void *on_resyncer_user;
    /* Called with the run's write deadline once (and with NULL before the run goes), so the
     * caller can hand it to what writes to the targets (cli/cmd_run: cf_client_set_deadline):
     * while a flush runs, the end of the replication lease (daemon/lease); INT64_MAX otherwise.
     * May be NULL. */
    void (*on_deadline)(void *user, int64_t (*deadline)(void *), void *deadline_user);
    void *on_deadline_user;
    /* run --standby: the slot held by another walsender (ERR_SLOT_BUSY) ends the run at once
     * with that error instead of reconnecting, so the caller waits as a standby again
     * (daemon/standby) and builds its targets afresh when it takes over. */
    bool standby;
    /* SIGHUP: on_reload (may be NULL: SIGHUP is ignored) loads and checks the new config; false:
     * it logged why, and the run goes on with the one it has. True: the run ends like a stop -
     * the transaction being received finished (abandoned after RUN_RELOAD_WAIT_MS, the slot sends
     * it again), every target flushed, the slot kept - with *reloaded set, so the caller builds the
     * targets from the new config and runs again (cli/cmd_run). */
    bool (*on_reload)(void *user);
    void *on_reload_user;
    bool *reloaded;
} RunOptions;

#define RUN_RELOAD_WAIT_MS 5000

/*
 * Run until stopped (or caught up). Takes ownership of targets[0..count).
 * Returns true on a clean stop; false with *err on a failure that retrying
 * cannot cure (bad config, protocol error, a target's permanent error); a
 * target's retryable errors only make it lag.
 */
bool run_pipeline(const Config *cfg, const RunOptions *opts, Target **targets, size_t count, Err *err) WARN_UNUSED;

#endif

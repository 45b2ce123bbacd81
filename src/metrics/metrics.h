/*
 * metrics/metrics.h - what `wal2edge run` tells its operators over HTTP:
 *                     Prometheus metrics, health and readiness.
 *
 * Owns:     the metric names (a contract: docs/operations.md; extend, never
 *           rename), the run's state as /healthz and /readyz see it, the routes
 *           of the endpoint, and keeping STATE_DIR/stats.json (metrics/stats)
 *           up to date for `status` while `run` runs.
 * Not mine: the exposition format (metrics/registry), HTTP (net/httpd), the
 *           replication loop that reports here (daemon/run), reading the slot
 *           and judging its WAL (daemon/walguard).
 * Pure:     no (a listening socket and its thread; for run, the thread that
 *           writes the stats file).
 * Threads:  every function may be called from the replication loop while the
 *           HTTP thread reads; all are no-ops on a NULL Metrics.
 * Secrets:  no label or page carries a secret or row data; label values are
 *           table and target names from the config and publication only.
 */
#ifndef WAL2EDGE_METRICS_METRICS_H
#define WAL2EDGE_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "metrics/stats.h"
#include "pg/conn.h"

typedef enum {
    METRICS_STARTING,       /* before the first session */
    METRICS_CONNECTING,     /* (re)connecting to Postgres */
    METRICS_STREAMING,
    METRICS_STOPPING,
    METRICS_FATAL,          /* a failure retrying cannot cure: /healthz answers 503 */
    METRICS_JOB,            /* snapshot or warm running (not streaming: /readyz answers 503) */
    METRICS_STANDBY,        /* run --standby waiting for the slot another instance holds
                               (wal2edge_role{role="standby"}; /readyz answers 503) */
} MetricsState;

typedef struct Metrics Metrics;

/*
 * Start the endpoint when cfg->metrics.listen is set (*out NULL otherwise).
 * targets: the configured target names (the only values of the target label).
 */
bool metrics_start(const Config *cfg, const char *const *targets, size_t count, Metrics **out, Err *err) WARN_UNUSED;
/*
 * For `run`: always made (the figures feed `status` too), the endpoint started when
 * cfg->metrics.listen is set, and STATE_DIR/stats.json (metrics/stats) written now, every
 * STATS_INTERVAL_MS by a thread of its own, and once more by metrics_stop (marked stopped).
 */
bool metrics_open(const Config *cfg, const char *const *targets, size_t count, Metrics **out, Err *err) WARN_UNUSED;
void metrics_stop(Metrics *m);

void metrics_set_state(Metrics *m, MetricsState state, const char *reason);
/* The re-copies run's resyncer has queued, is copying or retrying, for stats.json (copied). */
void metrics_resyncs(Metrics *m, const StatsResync *resyncs, size_t count);
/* An error an operator should see on the status page (kept: the last few). */
void metrics_error(Metrics *m, const char *msg);

void metrics_transaction(Metrics *m);
/* op: "insert", "update", "delete", "truncate"; table "schema.name". */
void metrics_change(Metrics *m, const char *table, const char *op);

/* A flush (one durable write, a batch of requests for a REST target): outcome "ok",
 * "retryable" or "fatal"; seconds it took. */
void metrics_target_flush(Metrics *m, const char *target, const char *outcome, double seconds);
/* One HTTP request of a REST target (each attempt, retries included): outcome "ok", "retryable"
 * or "fatal", NULL when none went out (the account's request budget ran out); attempt 1 for a
 * first try; throttled: the answer was a 429 or the budget ran out. A CfObserver (cf/client),
 * set by `run` on its Cloudflare client. */
void metrics_target_http(void *metrics, const char *target, const char *outcome, double seconds, unsigned attempt,
                         bool throttled);
/* The target made a transaction committed at commit_time_us (wall clock) durable. */
void metrics_target_durable(Metrics *m, const char *target, int64_t commit_time_us);
/* A change the target skipped (on_error skip): reason "too_large" (over a limit) or "refused"
 * (the destination refused it, e.g. a constraint). A DlObserver (pipeline/deadletter). */
void metrics_skipped(void *metrics, const char *target, ErrCode code);
/* The target is retried after falling behind (wal2edge_target_behind_retries_total). */
void metrics_target_retry(Metrics *m, const char *target);
/* error: why the target is failing (it falls behind alone), NULL once it takes writes again;
 * one that was an HTTP 429 counts as rate-limited. */
void metrics_target_failing(Metrics *m, const char *target, const Err *error);
void metrics_target_lag_bytes(Metrics *m, const char *target, uint64_t bytes);

/* lag_seconds: now - commit time of the last transaction every target has (0 when caught up),
 * negative when unknown yet. */
void metrics_lag_seconds(Metrics *m, double lag_seconds);
void metrics_spool_bytes(Metrics *m, uint64_t bytes);
/* The jobs that serve the endpoint too: rows a snapshot has exported so far from a table,
 * keys a warm has written so far into a namespace. */
void metrics_snapshot_rows(void *metrics, const char *table, uint64_t rows);
void metrics_warm_keys(Metrics *m, const char *namespace_name, uint64_t keys);
/* The slot's row (daemon/walguard); problem: the WAL guard's finding ("is unreserved ...",
 * "retains N bytes ..."), which fails /readyz, or NULL. */
void metrics_slot(Metrics *m, const PgSlotFacts *facts, const char *problem);
/* A heartbeat came back through the stream. */
void metrics_heartbeat(Metrics *m, double unix_seconds);

/* For tests and `status`: the exposition text (owned), and the health/readiness answers. */
char *metrics_render(Metrics *m);
int metrics_health(Metrics *m, char *reason, size_t size);
int metrics_ready(Metrics *m, char *reason, size_t size);

#endif

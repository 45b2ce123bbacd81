/*
 * metrics/stats.h - the live figures `run` leaves in STATE_DIR/stats.json
 *                   for `wal2edge status`, a separate process.
 *
 * Owns:     the stats file: its name, its JSON shape (docs/operations.md,
 *           "status"), writing it whole (a reader never sees half of it),
 *           reading it back with every field checked, and whether its
 *           figures are live (run still writing them) or the last ones of a
 *           run that stopped.
 * Not mine: the figures themselves (metrics/metrics collects them, the same
 *           ones /metrics serves), when to write (metrics/metrics' thread),
 *           printing them (cli/cmd_status).
 * Pure:     stats_to_json, stats_from_json and stats_live are; stats_write
 *           and stats_read do the file I/O.
 * Secrets:  none: counters, positions and target names from the config.
 */
#ifndef WAL2EDGE_METRICS_STATS_H
#define WAL2EDGE_METRICS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

#define STATS_FILE "stats.json"
#define STATS_INTERVAL_MS 2000     /* run rewrites the file this often */
#define STATS_STALE_MS 10000       /* older than this: the writer is gone (killed, hung host) */
#define STATS_MAX_TARGETS 64
#define STATS_NAME_MAX 128

typedef struct StatsTarget {
    char name[STATS_NAME_MAX];     /* "d1.app" */
    double requests_ok, requests_retryable, requests_fatal; /* HTTP requests (REST targets only) */
    double retries, rate_limited;  /* HTTP retries, 429s and budget give-ups */
    double flushes;                /* durable writes that succeeded */
    double skipped;                /* on_error skip, every reason */
    double lag_bytes;              /* WAL received - the target's durable position */
    bool failing;
} StatsTarget;

#define STATS_MAX_RESYNCS 16
#define STATS_RESYNC_TARGETS 8

/* A re-copy `run`'s resyncer has queued, is copying or is retrying (daemon/resyncer). */
typedef struct StatsResync {
    char table[STATS_NAME_MAX];
    char state[16];                /* "queued", "copying", "retrying" */
    char why[128];
    char targets[STATS_RESYNC_TARGETS][STATS_NAME_MAX]; /* none: every target of the table */
    size_t ntargets;
    double rows, chunks;           /* sent so far */
    double attempts;               /* failed attempts */
    char last_error[256];          /* "" when none */
} StatsResync;

typedef struct Stats {
    bool running;                  /* false: the last write of a run that stopped cleanly */
    long pid;
    int64_t written_at_us;         /* wall clock */
    char state[16];                /* "streaming", "connecting", ... */
    double lag_seconds;            /* < 0: unknown (nothing applied yet) */
    double lag_bytes;              /* < 0: unknown (the slot not read yet) */
    double heartbeat_unix;         /* 0: none came back yet */
    double transactions, changes, spool_bytes;
    StatsTarget targets[STATS_MAX_TARGETS];
    size_t target_count;
    StatsResync resyncs[STATS_MAX_RESYNCS]; /* "resyncs" (absent in a file of an older run: none) */
    size_t resync_count;
} Stats;

/* The file's document (owned), and back: ERR_PROTOCOL naming the field that is missing or of the
 * wrong type. */
json_t *stats_to_json(const Stats *s);
bool stats_from_json(const json_t *doc, Stats *s, Err *err) WARN_UNUSED;

/* Live: written by a run that has not stopped, less than STATS_STALE_MS ago. */
bool stats_live(const Stats *s, int64_t now_us);

/* STATE_DIR/stats.json, replaced whole (written aside, renamed over). */
bool stats_write(const char *state_dir, const Stats *s, Err *err) WARN_UNUSED;
/* *found false (and true returned) when there is no file: no run ever wrote one. ERR_IO or
 * ERR_PROTOCOL naming the file when it cannot be read or is not a stats file. */
bool stats_read(const char *state_dir, Stats *s, bool *found, Err *err) WARN_UNUSED;

#endif

/*
 * metrics/page.h - the status page of the metrics endpoint (`GET /`).
 *
 * Owns:     its HTML: one server-rendered page with inline CSS and SVG (no
 *           script, no external asset), the sparklines, HTML escaping of
 *           every text that comes from outside (error messages, names).
 * Not mine: the figures (metrics/metrics fills PageData).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_METRICS_PAGE_H
#define WAL2EDGE_METRICS_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct PageTarget {
    const char *name;
    double lag_bytes;
    double writes_ok;
    double requests, retries, rate_limited;  /* HTTP requests of a REST target (0 for an embedded one) */
    double commit_to_durable_avg;  /* seconds; < 0 when none yet */
    const char *failing;           /* the error, "" when it works */
} PageTarget;

typedef struct PageData {
    const char *version;
    const char *state;             /* "streaming" */
    const char *slot;
    int ready_status;              /* 200 / 503 */
    const char *ready_reason;
    const char *wal_status;        /* "" when unknown */
    double retained_bytes;         /* < 0 when unknown */
    double safe_wal_bytes;         /* < 0 when unknown or unlimited */
    double max_retained_bytes;
    double lag_bytes;              /* < 0 when unknown */
    double lag_seconds;            /* < 0 when unknown */
    double heartbeat_age_seconds;  /* < 0 when none yet */
    double transactions;
    const PageTarget *targets;
    size_t target_count;
    /* the last hour, oldest first, one sample every sample_seconds */
    const double *throughput;      /* transactions per second */
    const double *lag_history;     /* seconds */
    size_t samples;
    int sample_seconds;
    const char *const *errors;     /* newest first */
    size_t error_count;
} PageData;

bool page_render(const PageData *d, Buf *out, Err *err) WARN_UNUSED;

#endif

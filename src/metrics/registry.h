/*
 * metrics/registry.h - Prometheus metric families and their text exposition.
 *
 * Owns:     counters, gauges and histograms with labels; the text exposition
 *           format 0.0.4 (HELP/TYPE lines, label value escaping, histogram
 *           buckets, +Inf/NaN); the cap on series per family, so label values
 *           can never grow the registry without bound.
 * Not mine: which metrics wal2edge exports (metrics/metrics), HTTP (net/httpd).
 * Pure:     yes (no I/O).
 * Threads:  every call takes the registry's mutex: the replication loop
 *           updates while the HTTP thread renders.
 */
#ifndef WAL2EDGE_METRICS_REGISTRY_H
#define WAL2EDGE_METRICS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define METRIC_MAX_LABELS 4
#define METRIC_MAX_SERIES 512         /* per family; further label sets are dropped */
#define METRIC_MAX_BUCKETS 16

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } MetricType;

typedef struct MetricReg MetricReg;
typedef struct MetricFamily MetricFamily;

MetricReg *metricreg_new(void);
void metricreg_free(MetricReg *reg);

/*
 * Register a family (rendered in registration order). label_names is NULL-terminated
 * (NULL: no labels; such a family shows 0 from the start). buckets: ascending upper
 * bounds of a histogram (+Inf is implicit), else NULL/0.
 */
MetricFamily *metricreg_family(MetricReg *reg, const char *name, const char *help, MetricType type,
                               const char *const *label_names, const double *buckets, size_t bucket_count);

/* label_values: one per label name, in order (NULL when the family has none). */
void metric_add(MetricFamily *f, const char *const *label_values, double delta);  /* counter, gauge */
void metric_set(MetricFamily *f, const char *const *label_values, double value);  /* gauge */
void metric_observe(MetricFamily *f, const char *const *label_values, double value); /* histogram */
/* Drop every series of the family (a gauge whose label set changes, e.g. wal_status). */
void metric_clear(MetricFamily *f);
/* The value of a counter or gauge series, 0 when it does not exist (tests, the status page). */
double metric_value(MetricFamily *f, const char *const *label_values);
/* The sum of a counter's or gauge's series whose label number label_index has label_value (every
 * series when label_value is NULL): changes of every table, skipped changes of every reason. */
double metric_sum(MetricFamily *f, size_t label_index, const char *label_value);
/* A histogram series' mean (sum / count), -1 when it has no observation. */
double metric_mean(MetricFamily *f, const char *const *label_values);

/* Append the whole registry in the text exposition format. */
bool metricreg_render(MetricReg *reg, Buf *out, Err *err) WARN_UNUSED;

#endif

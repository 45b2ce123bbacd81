/*
 * metrics/metrics.c - see metrics.h.
 *
 * The registry holds every figure; the few facts health and readiness judge
 * by (state, lag, failing targets, wal_status) are also kept here under one
 * mutex, so an answer never mixes two moments.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "metrics/page.h"
#include "metrics/registry.h"
#include "metrics/stats.h"
#include "net/httpd.h"

#define METRICS_ERRORS_KEPT 5
#define METRICS_SAMPLE_MS 10000        /* the status page's history: one sample every 10 s ... */
#define METRICS_SAMPLES 360            /* ... for an hour */

typedef struct TargetState {
    char *name;
    char failing[ERR_MSG_MAX];     /* "" when healthy */
} TargetState;

struct Metrics {
    const Config *cfg;
    MetricReg *reg;
    Httpd *httpd;
    LogCtx log;
    bool stats_on;                 /* the stats file's writer thread runs (metrics_open) */
    pthread_t stats_thread;
    pthread_cond_t stats_wake;     /* with mu: the writer's sleep, cut short by metrics_stop */
    bool stopping;
    bool stats_warned;
    pthread_mutex_t mu;            /* the fields below */
    MetricsState state;
    char reason[256];
    double lag_seconds;            /* < 0: unknown */
    double lag_bytes;              /* the slot's, < 0: not read yet */
    char wal_status[16];
    TargetState *targets;
    size_t target_count;
    char errors[METRICS_ERRORS_KEPT][ERR_MSG_MAX];
    size_t error_count;            /* ever recorded; the ring holds the last METRICS_ERRORS_KEPT */
    char slot_problem[256];        /* the WAL guard's, "" when none */
    StatsResync resyncs[STATS_MAX_RESYNCS]; /* run's resyncer's jobs, for stats.json */
    size_t resync_count;
    double heartbeat_mono_s;       /* when the last heartbeat came back (monotonic s), < 0 none */
    /* the status page's last hour: a ring of samples */
    double tput[METRICS_SAMPLES], lag_hist[METRICS_SAMPLES];
    size_t sample_count, sample_next;
    int64_t last_sample_ms;
    double last_sample_tx;
    /* families */
    MetricFamily *build_info, *connected, *slot_active, *retained, *safe_wal, *wal_status_f, *repl_lag_bytes,
        *repl_lag_seconds, *target_lag_bytes, *transactions, *changes, *requests, *retries, *rate_limited,
        *request_duration, *commit_to_durable, *spool_bytes, *skipped, *heartbeat, *target_failing, *snapshot_rows,
        *warm_keys, *flushes, *flush_duration, *behind_retries, *role;
};

static const double duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const size_t duration_bucket_count = sizeof duration_buckets / sizeof duration_buckets[0];

static const char *const l_slot[] = {"slot", NULL};
static const char *const l_target[] = {"target", NULL};

static void register_families(Metrics *m)
{
    static const char *const l_version[] = {"version", NULL};
    static const char *const l_slot_status[] = {"slot", "wal_status", NULL};
    static const char *const l_table_op[] = {"table", "op", NULL};
    static const char *const l_target_outcome[] = {"target", "outcome", NULL};
    static const char *const l_target_reason[] = {"target", "reason", NULL};
    MetricReg *r = m->reg;
    m->build_info = metricreg_family(r, "wal2edge_build_info", "Always 1; the version of this wal2edge.",
                                     METRIC_GAUGE, l_version, NULL, 0);
    m->connected = metricreg_family(r, "wal2edge_replication_connected",
                                    "1 while the replication connection streams.", METRIC_GAUGE, l_slot, NULL, 0);
    m->slot_active = metricreg_family(r, "wal2edge_slot_active", "1 while the slot is in use by a walsender.",
                                      METRIC_GAUGE, l_slot, NULL, 0);
    static const char *const l_role[] = {"role", NULL};
    m->role = metricreg_family(r, "wal2edge_role",
                               "1 for this instance's role: active (holds or takes the slot) or standby (run "
                               "--standby waiting while another instance holds it).",
                               METRIC_GAUGE, l_role, NULL, 0);
    m->retained = metricreg_family(r, "wal2edge_slot_retained_wal_bytes",
                                   "WAL the slot keeps on the server (current WAL position - restart_lsn).",
                                   METRIC_GAUGE, l_slot, NULL, 0);
    m->safe_wal = metricreg_family(r, "wal2edge_slot_safe_wal_size_bytes",
                                   "WAL that can still be written before the slot is in danger of being lost "
                                   "(absent: max_slot_wal_keep_size is unlimited).",
                                   METRIC_GAUGE, l_slot, NULL, 0);
    m->wal_status_f = metricreg_family(r, "wal2edge_slot_wal_status",
                                       "1 for the slot's current wal_status (reserved, extended, unreserved, lost).",
                                       METRIC_GAUGE, l_slot_status, NULL, 0);
    m->repl_lag_bytes = metricreg_family(r, "wal2edge_replication_lag_bytes",
                                         "Server WAL end - the slot's confirmed flush position.", METRIC_GAUGE,
                                         l_slot, NULL, 0);
    m->repl_lag_seconds = metricreg_family(r, "wal2edge_replication_lag_seconds",
                                           "Now - commit time of the last transaction every target has "
                                           "(0 when caught up).",
                                           METRIC_GAUGE, l_slot, NULL, 0);
    m->target_lag_bytes = metricreg_family(r, "wal2edge_target_lag_bytes",
                                           "WAL received - the target's durable position.", METRIC_GAUGE, l_target,
                                           NULL, 0);
    m->transactions = metricreg_family(r, "wal2edge_transactions_total", "Source transactions delivered.",
                                       METRIC_COUNTER, NULL, NULL, 0);
    m->changes = metricreg_family(r, "wal2edge_changes_total", "Row changes delivered, by table and operation.",
                                  METRIC_COUNTER, l_table_op, NULL, 0);
    m->requests = metricreg_family(r, "wal2edge_target_requests_total",
                                   "HTTP requests a REST target sent to the API, every attempt (retries included), "
                                   "by the answer: ok, retryable (429, 5xx, transport error) or fatal.",
                                   METRIC_COUNTER, l_target_outcome, NULL, 0);
    m->retries = metricreg_family(r, "wal2edge_target_retries_total",
                                  "HTTP requests a REST target sent again after a retryable answer.", METRIC_COUNTER,
                                  l_target, NULL, 0);
    m->rate_limited = metricreg_family(r, "wal2edge_target_rate_limited_total",
                                       "HTTP 429 answers a REST target got, and its calls that gave up waiting for "
                                       "the account's request budget.",
                                       METRIC_COUNTER, l_target, NULL, 0);
    m->request_duration = metricreg_family(r, "wal2edge_target_request_duration_seconds",
                                           "Duration of each HTTP request (attempt) of a REST target.",
                                           METRIC_HISTOGRAM, l_target, duration_buckets, duration_bucket_count);
    m->flushes = metricreg_family(r, "wal2edge_target_flushes_total",
                                  "Durable writes (flushes) to a target by outcome (ok, retryable, fatal); a REST "
                                  "target's flush is one or more requests.",
                                  METRIC_COUNTER, l_target_outcome, NULL, 0);
    m->flush_duration = metricreg_family(r, "wal2edge_target_flush_duration_seconds",
                                         "Duration of durable writes (flushes) to a target.", METRIC_HISTOGRAM,
                                         l_target, duration_buckets, duration_bucket_count);
    m->behind_retries = metricreg_family(r, "wal2edge_target_behind_retries_total",
                                         "Flushes of a target that fell behind, tried again after its backoff.",
                                         METRIC_COUNTER, l_target, NULL, 0);
    m->commit_to_durable = metricreg_family(r, "wal2edge_commit_to_durable_seconds",
                                            "Commit time in Postgres to durable in the target.", METRIC_HISTOGRAM,
                                            l_target, duration_buckets, duration_bucket_count);
    m->spool_bytes = metricreg_family(r, "wal2edge_spool_bytes", "Bytes in the spool files being written now (streamed and prepared transactions).",
                                      METRIC_GAUGE, NULL, NULL, 0);
    m->skipped = metricreg_family(r, "wal2edge_skipped_changes_total",
                                  "Changes a target skipped (on_error skip: dead letters), by reason.",
                                  METRIC_COUNTER, l_target_reason, NULL, 0);
    m->heartbeat = metricreg_family(r, "wal2edge_last_heartbeat_timestamp_seconds",
                                    "Unix time of the last heartbeat seen back from the stream (0: none yet).",
                                    METRIC_GAUGE, NULL, NULL, 0);
    m->target_failing = metricreg_family(r, "wal2edge_target_failing",
                                         "1 while a target fails and falls behind alone.", METRIC_GAUGE, l_target,
                                         NULL, 0);
    static const char *const l_table[] = {"table", NULL};
    static const char *const l_namespace[] = {"namespace", NULL};
    m->snapshot_rows = metricreg_family(r, "wal2edge_snapshot_rows_total",
                                        "Rows a running snapshot has exported, by table.", METRIC_COUNTER, l_table,
                                        NULL, 0);
    m->warm_keys = metricreg_family(r, "wal2edge_warm_keys_total", "Keys a running warm has written, by namespace.",
                                    METRIC_COUNTER, l_namespace, NULL, 0);
    metric_set(m->build_info, (const char *const[]){WAL2EDGE_VERSION}, 1);
    const char *const slot[] = {m->cfg->source.slot};
    metric_set(m->connected, slot, 0);
    metric_set(m->repl_lag_seconds, slot, 0);
    metric_set(m->role, (const char *const[]){"active"}, 1); /* until run --standby says otherwise */
    metric_set(m->role, (const char *const[]){"standby"}, 0);
    for (size_t i = 0; i < m->target_count; i++) {
        const char *const t[] = {m->targets[i].name};
        metric_add(m->requests, (const char *const[]){m->targets[i].name, "ok"}, 0);
        metric_add(m->retries, t, 0);
        metric_add(m->rate_limited, t, 0);
        metric_add(m->flushes, (const char *const[]){m->targets[i].name, "ok"}, 0);
        metric_add(m->behind_retries, t, 0);
        metric_set(m->target_failing, t, 0);
        metric_set(m->target_lag_bytes, t, 0);
    }
}

static TargetState *target_state(Metrics *m, const char *name)
{
    for (size_t i = 0; i < m->target_count; i++)
        if (strcmp(m->targets[i].name, name) == 0)
            return &m->targets[i];
    return NULL;
}

static const char *state_name(MetricsState s)
{
    static const char *const names[] = {"starting", "connecting", "streaming", "stopping",
                                        "failed",   "running",    "standby"};
    return names[s];
}

int metrics_health(Metrics *m, char *reason, size_t size)
{
    pthread_mutex_lock(&m->mu);
    int status = 200;
    if (m->state == METRICS_FATAL) {
        status = 503;
        snprintf(reason, size, "failed: %s", m->reason);
    } else if (strcmp(m->wal_status, "lost") == 0) {
        status = 503;
        snprintf(reason, size, "replication slot \"%s\" is lost (wal_status lost)", m->cfg->source.slot);
    } else {
        snprintf(reason, size, "ok: %s", state_name(m->state));
    }
    pthread_mutex_unlock(&m->mu);
    return status;
}

int metrics_ready(Metrics *m, char *reason, size_t size)
{
    pthread_mutex_lock(&m->mu);
    int status = 503;
    const TargetState *failing = NULL;
    for (size_t i = 0; i < m->target_count && !failing; i++)
        if (m->targets[i].failing[0])
            failing = &m->targets[i];
    if (m->state != METRICS_STREAMING)
        snprintf(reason, size, "%s%s%s", state_name(m->state), m->reason[0] ? ": " : "", m->reason);
    else if (m->slot_problem[0])
        snprintf(reason, size, "replication slot \"%s\" %s", m->cfg->source.slot, m->slot_problem);
    else if (failing)
        snprintf(reason, size, "target %s is failing: %s", failing->name, failing->failing);
    else if (m->lag_seconds < 0)
        snprintf(reason, size, "catching up (no transaction applied yet)");
    else if (m->lag_seconds > m->cfg->metrics.ready_max_lag_seconds)
        snprintf(reason, size, "catching up: lag %.0f s is over metrics.ready_max_lag_seconds (%d)",
                 m->lag_seconds, m->cfg->metrics.ready_max_lag_seconds);
    else {
        status = 200;
        snprintf(reason, size, "ready: streaming, lag %.1f s", m->lag_seconds);
    }
    pthread_mutex_unlock(&m->mu);
    return status;
}

char *metrics_render(Metrics *m)
{
    Buf b;
    Err err;
    buf_init(&b, 16u << 20);
    if (!metricreg_render(m->reg, &b, &err) || !buf_append(&b, "", 1, &err)) {
        buf_free(&b);
        return xasprintf("# %s\n", err.msg);
    }
    return b.data;
}

/* The status page, from one moment's figures. */
static char *render_page(Metrics *m)
{
    const char *const slot[] = {m->cfg->source.slot};
    char ready_reason[ERR_MSG_MAX + 64];
    int ready = metrics_ready(m, ready_reason, sizeof ready_reason);
    PageTarget *targets = xcalloc(m->target_count ? m->target_count : 1, sizeof *targets);
    char (*failing)[ERR_MSG_MAX] = xcalloc(m->target_count ? m->target_count : 1, sizeof *failing);
    for (size_t i = 0; i < m->target_count; i++) {
        const char *const t[] = {m->targets[i].name};
        targets[i].name = m->targets[i].name;
        targets[i].lag_bytes = metric_value(m->target_lag_bytes, t);
        targets[i].writes_ok = metric_value(m->flushes, (const char *const[]){m->targets[i].name, "ok"});
        targets[i].requests = metric_sum(m->requests, 0, m->targets[i].name);
        targets[i].retries = metric_value(m->retries, t);
        targets[i].rate_limited = metric_value(m->rate_limited, t);
        targets[i].commit_to_durable_avg = metric_mean(m->commit_to_durable, t);
        targets[i].failing = failing[i];
    }
    double safe = metric_value(m->safe_wal, slot);
    PageData d = {
        .version = WAL2EDGE_VERSION,
        .slot = m->cfg->source.slot,
        .ready_status = ready,
        .ready_reason = ready_reason,
        .retained_bytes = metric_value(m->retained, slot),
        .safe_wal_bytes = safe != 0 ? safe : -1,
        .max_retained_bytes = (double)m->cfg->source.max_retained_wal_bytes,
        .lag_bytes = metric_value(m->repl_lag_bytes, slot),
        .transactions = metric_value(m->transactions, NULL),
        .targets = targets,
        .target_count = m->target_count,
        .sample_seconds = METRICS_SAMPLE_MS / 1000,
    };
    double *tput = xcalloc(METRICS_SAMPLES, sizeof *tput), *lag = xcalloc(METRICS_SAMPLES, sizeof *lag);
    const char *errors[METRICS_ERRORS_KEPT];
    char (*error_copies)[ERR_MSG_MAX] = xcalloc(METRICS_ERRORS_KEPT, sizeof *error_copies);
    char wal_status[16];
    pthread_mutex_lock(&m->mu);
    d.state = state_name(m->state);
    snprintf(wal_status, sizeof wal_status, "%s", m->wal_status);
    d.wal_status = wal_status;
    d.lag_seconds = m->lag_seconds;
    d.heartbeat_age_seconds = m->heartbeat_mono_s < 0 ? -1 : (double)clock_mono_ms() / 1e3 - m->heartbeat_mono_s;
    for (size_t i = 0; i < m->target_count; i++)
        snprintf(failing[i], ERR_MSG_MAX, "%s", m->targets[i].failing);
    /* oldest first */
    for (size_t i = 0; i < m->sample_count; i++) {
        size_t at = (m->sample_next + METRICS_SAMPLES - m->sample_count + i) % METRICS_SAMPLES;
        tput[i] = m->tput[at];
        lag[i] = m->lag_hist[at];
    }
    d.samples = m->sample_count;
    /* newest first */
    size_t kept = m->error_count < METRICS_ERRORS_KEPT ? m->error_count : METRICS_ERRORS_KEPT;
    for (size_t i = 0; i < kept; i++) {
        snprintf(error_copies[i], ERR_MSG_MAX, "%s", m->errors[(m->error_count - 1 - i) % METRICS_ERRORS_KEPT]);
        errors[i] = error_copies[i];
    }
    pthread_mutex_unlock(&m->mu);
    d.throughput = tput;
    d.lag_history = lag;
    d.errors = errors;
    d.error_count = kept;
    Buf b;
    Err err;
    buf_init(&b, 4u << 20);
    char *html = page_render(&d, &b, &err) && buf_append(&b, "", 1, &err) ? b.data : NULL;
    if (!html) {
        buf_free(&b);
        html = xasprintf("<!doctype html><p>%s</p>\n", err.msg);
    }
    free(targets);
    free(failing);
    free(tput);
    free(lag);
    free(error_copies);
    return html;
}

static void reply_text(HttpdReply *reply, int status, const char *content_type, char *body)
{
    reply->status = status;
    reply->content_type = content_type;
    reply->body = body;
    reply->len = strlen(body);
}

static void serve(void *user, const char *path, HttpdReply *reply)
{
    Metrics *m = user;
    char reason[ERR_MSG_MAX + 64];
    if (strcmp(path, "/metrics") == 0) {
        reply_text(reply, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_render(m));
    } else if (strcmp(path, "/healthz") == 0) {
        int status = metrics_health(m, reason, sizeof reason);
        reply_text(reply, status, "text/plain; charset=utf-8", xasprintf("%s\n", reason));
    } else if (strcmp(path, "/readyz") == 0) {
        int status = metrics_ready(m, reason, sizeof reason);
        reply_text(reply, status, "text/plain; charset=utf-8", xasprintf("%s\n", reason));
    } else if (strcmp(path, "/") == 0) {
        reply_text(reply, 200, "text/html; charset=utf-8", render_page(m));
    } else {
        reply_text(reply, 404, "text/plain; charset=utf-8",
                   xstrdup("not found: try /metrics, /healthz, /readyz or /\n"));
    }
}

static Metrics *metrics_new(const Config *cfg, const char *const *targets, size_t count)
{
    Metrics *m = xcalloc(1, sizeof *m);
    m->cfg = cfg;
    m->log.component = "metrics";
    m->lag_seconds = -1;
    m->lag_bytes = -1;
    m->heartbeat_mono_s = -1;
    m->last_sample_ms = clock_mono_ms();
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->stats_wake, NULL);
    m->targets = xcalloc(count ? count : 1, sizeof *m->targets);
    m->target_count = count;
    for (size_t i = 0; i < count; i++)
        m->targets[i].name = xstrdup(targets[i]);
    m->reg = metricreg_new();
    register_families(m);
    return m;
}

static bool serve_endpoint(Metrics *m, Err *err)
{
    m->httpd = httpd_start(m->cfg->metrics.listen, serve, m, err);
    if (!m->httpd)
        return false;
    log_info(&m->log, "serving /metrics, /healthz, /readyz and / on %s (port %u)", m->cfg->metrics.listen,
             httpd_port(m->httpd));
    return true;
}

bool metrics_start(const Config *cfg, const char *const *targets, size_t count, Metrics **out, Err *err)
{
    *out = NULL;
    if (!cfg->metrics.listen)
        return true;
    Metrics *m = metrics_new(cfg, targets, count);
    if (!serve_endpoint(m, err)) {
        metrics_stop(m);
        return false;
    }
    *out = m;
    return true;
}

/* The figures `status` shows, from the same families /metrics serves. */
static void collect(Metrics *m, bool running, Stats *s)
{
    memset(s, 0, sizeof *s);
    s->running = running;
    s->pid = (long)getpid();
    s->written_at_us = clock_wall_us();
    s->heartbeat_unix = metric_value(m->heartbeat, NULL);
    s->transactions = metric_value(m->transactions, NULL);
    s->changes = metric_sum(m->changes, 0, NULL);
    s->spool_bytes = metric_value(m->spool_bytes, NULL);
    s->target_count = m->target_count < STATS_MAX_TARGETS ? m->target_count : STATS_MAX_TARGETS;
    for (size_t i = 0; i < s->target_count; i++) {
        StatsTarget *t = &s->targets[i];
        const char *name = m->targets[i].name;
        const char *const l[] = {name};
        snprintf(t->name, sizeof t->name, "%s", name);
        t->requests_ok = metric_value(m->requests, (const char *const[]){name, "ok"});
        t->requests_retryable = metric_value(m->requests, (const char *const[]){name, "retryable"});
        t->requests_fatal = metric_value(m->requests, (const char *const[]){name, "fatal"});
        t->retries = metric_value(m->retries, l);
        t->rate_limited = metric_value(m->rate_limited, l);
        t->flushes = metric_value(m->flushes, (const char *const[]){name, "ok"});
        t->skipped = metric_sum(m->skipped, 0, name);
        t->lag_bytes = metric_value(m->target_lag_bytes, l);
    }
    pthread_mutex_lock(&m->mu);
    snprintf(s->state, sizeof s->state, "%s", state_name(m->state));
    s->lag_seconds = m->lag_seconds;
    s->lag_bytes = m->lag_bytes;
    for (size_t i = 0; i < s->target_count; i++)
        s->targets[i].failing = m->targets[i].failing[0] != '\0';
    s->resync_count = m->resync_count;
    memcpy(s->resyncs, m->resyncs, m->resync_count * sizeof *s->resyncs);
    pthread_mutex_unlock(&m->mu);
}

void metrics_resyncs(Metrics *m, const StatsResync *resyncs, size_t count)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->resync_count = count < STATS_MAX_RESYNCS ? count : STATS_MAX_RESYNCS;
    if (m->resync_count)
        memcpy(m->resyncs, resyncs, m->resync_count * sizeof *m->resyncs);
    pthread_mutex_unlock(&m->mu);
}

static void write_stats(Metrics *m, bool running)
{
    Stats *s = xcalloc(1, sizeof *s);
    collect(m, running, s);
    Err err;
    if (!stats_write(m->cfg->state_dir, s, &err) && !m->stats_warned) {
        m->stats_warned = true; /* once: status then says it has no live figures */
        log_warn(&m->log, "%s (status cannot show the live figures)", err.msg);
    }
    free(s);
}

static void *stats_loop(void *arg)
{
    Metrics *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += STATS_INTERVAL_MS / 1000;
        (void)pthread_cond_timedwait(&m->stats_wake, &m->mu, &until);
        if (m->stopping)
            break;
        pthread_mutex_unlock(&m->mu);
        write_stats(m, true);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

bool metrics_open(const Config *cfg, const char *const *targets, size_t count, Metrics **out, Err *err)
{
    Metrics *m = metrics_new(cfg, targets, count);
    *out = NULL;
    if (cfg->metrics.listen && !serve_endpoint(m, err)) {
        metrics_stop(m);
        return false;
    }
    write_stats(m, true); /* status sees this run from its first moment */
    m->stats_on = pthread_create(&m->stats_thread, NULL, stats_loop, m) == 0;
    *out = m;
    return true;
}

void metrics_stop(Metrics *m)
{
    if (!m)
        return;
    if (m->stats_on) {
        pthread_mutex_lock(&m->mu);
        m->stopping = true;
        pthread_cond_signal(&m->stats_wake);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->stats_thread, NULL);
        write_stats(m, false); /* the last figures, marked as a run that stopped */
    }
    httpd_stop(m->httpd);
    metricreg_free(m->reg);
    for (size_t i = 0; i < m->target_count; i++)
        free(m->targets[i].name);
    free(m->targets);
    pthread_cond_destroy(&m->stats_wake);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- what the loop reports ---- */

static void set_role(Metrics *m, bool standby)
{
    metric_set(m->role, (const char *const[]){"active"}, !standby);
    metric_set(m->role, (const char *const[]){"standby"}, standby);
}

void metrics_set_state(Metrics *m, MetricsState state, const char *reason)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->state = state;
    snprintf(m->reason, sizeof m->reason, "%s", reason ? reason : "");
    pthread_mutex_unlock(&m->mu);
    metric_set(m->connected, (const char *const[]){m->cfg->source.slot}, state == METRICS_STREAMING);
    set_role(m, state == METRICS_STANDBY);
}

void metrics_error(Metrics *m, const char *msg)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    snprintf(m->errors[m->error_count++ % METRICS_ERRORS_KEPT], ERR_MSG_MAX, "%s", msg);
    pthread_mutex_unlock(&m->mu);
}

void metrics_transaction(Metrics *m)
{
    if (m)
        metric_add(m->transactions, NULL, 1);
}

void metrics_change(Metrics *m, const char *table, const char *op)
{
    if (m)
        metric_add(m->changes, (const char *const[]){table, op}, 1);
}

void metrics_target_flush(Metrics *m, const char *target, const char *outcome, double seconds)
{
    if (!m)
        return;
    metric_add(m->flushes, (const char *const[]){target, outcome}, 1);
    metric_observe(m->flush_duration, (const char *const[]){target}, seconds);
}

void metrics_target_http(void *metrics, const char *target, const char *outcome, double seconds, unsigned attempt,
                         bool throttled)
{
    Metrics *m = metrics;
    if (!m || !target)
        return;
    const char *const t[] = {target};
    if (outcome) {
        metric_add(m->requests, (const char *const[]){target, outcome}, 1);
        metric_observe(m->request_duration, t, seconds);
        if (attempt > 1)
            metric_add(m->retries, t, 1);
    }
    if (throttled)
        metric_add(m->rate_limited, t, 1);
}

void metrics_target_durable(Metrics *m, const char *target, int64_t commit_time_us)
{
    if (!m || commit_time_us <= 0)
        return;
    double age = (double)(clock_wall_us() - commit_time_us) / 1e6;
    metric_observe(m->commit_to_durable, (const char *const[]){target}, age > 0 ? age : 0);
}

void metrics_skipped(void *metrics, const char *target, ErrCode code)
{
    Metrics *m = metrics;
    if (m)
        metric_add(m->skipped, (const char *const[]){target, code == ERR_TOO_LARGE ? "too_large" : "refused"}, 1);
}

void metrics_target_retry(Metrics *m, const char *target)
{
    if (m)
        metric_add(m->behind_retries, (const char *const[]){target}, 1);
}

void metrics_target_failing(Metrics *m, const char *target, const Err *error)
{
    if (!m)
        return;
    metric_set(m->target_failing, (const char *const[]){target}, error != NULL);
    pthread_mutex_lock(&m->mu);
    TargetState *t = target_state(m, target);
    if (t)
        snprintf(t->failing, sizeof t->failing, "%s", error ? error->msg : "");
    pthread_mutex_unlock(&m->mu);
    if (error)
        metrics_error(m, error->msg);
}

void metrics_target_lag_bytes(Metrics *m, const char *target, uint64_t bytes)
{
    if (m)
        metric_set(m->target_lag_bytes, (const char *const[]){target}, (double)bytes);
}

void metrics_lag_seconds(Metrics *m, double lag_seconds)
{
    if (!m)
        return;
    double tx = metric_value(m->transactions, NULL);
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&m->mu);
    m->lag_seconds = lag_seconds;
    if (now - m->last_sample_ms >= METRICS_SAMPLE_MS) {
        m->tput[m->sample_next] = (tx - m->last_sample_tx) * 1000.0 / (double)(now - m->last_sample_ms);
        m->lag_hist[m->sample_next] = lag_seconds > 0 ? lag_seconds : 0;
        m->sample_next = (m->sample_next + 1) % METRICS_SAMPLES;
        if (m->sample_count < METRICS_SAMPLES)
            m->sample_count++;
        m->last_sample_ms = now;
        m->last_sample_tx = tx;
    }
    pthread_mutex_unlock(&m->mu);
    if (lag_seconds >= 0)
        metric_set(m->repl_lag_seconds, (const char *const[]){m->cfg->source.slot}, lag_seconds);
}

void metrics_spool_bytes(Metrics *m, uint64_t bytes)
{
    if (m)
        metric_set(m->spool_bytes, NULL, (double)bytes);
}

void metrics_slot(Metrics *m, const PgSlotFacts *s, const char *problem)
{
    if (!m)
        return;
    const char *const slot[] = {m->cfg->source.slot};
    metric_clear(m->wal_status_f);
    metric_clear(m->safe_wal);
    if (s->exists) {
        metric_set(m->slot_active, slot, s->active);
        if (s->retained_bytes >= 0)
            metric_set(m->retained, slot, (double)s->retained_bytes);
        if (s->has_safe_wal_size)
            metric_set(m->safe_wal, slot, (double)s->safe_wal_size);
        if (s->flush_lag_bytes >= 0)
            metric_set(m->repl_lag_bytes, slot, (double)s->flush_lag_bytes);
        if (s->wal_status[0])
            metric_set(m->wal_status_f, (const char *const[]){m->cfg->source.slot, s->wal_status}, 1);
    }
    pthread_mutex_lock(&m->mu);
    if (s->exists && s->flush_lag_bytes >= 0)
        m->lag_bytes = (double)s->flush_lag_bytes;
    snprintf(m->wal_status, sizeof m->wal_status, "%s", s->exists ? s->wal_status : "");
    snprintf(m->slot_problem, sizeof m->slot_problem, "%s", problem ? problem : "");
    pthread_mutex_unlock(&m->mu);
}

void metrics_snapshot_rows(void *metrics, const char *table, uint64_t rows)
{
    Metrics *m = metrics;
    if (m)
        metric_set(m->snapshot_rows, (const char *const[]){table}, (double)rows);
}

void metrics_warm_keys(Metrics *m, const char *namespace_name, uint64_t keys)
{
    if (m)
        metric_set(m->warm_keys, (const char *const[]){namespace_name}, (double)keys);
}

void metrics_heartbeat(Metrics *m, double unix_seconds)
{
    if (!m)
        return;
    metric_set(m->heartbeat, NULL, unix_seconds);
    pthread_mutex_lock(&m->mu);
    m->heartbeat_mono_s = (double)clock_mono_ms() / 1e3;
    pthread_mutex_unlock(&m->mu);
}

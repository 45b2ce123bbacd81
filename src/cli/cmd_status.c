/*
 * cli/cmd_status.c - `wal2edge status [--json]`: how far behind the source are we?
 *
 * lag_bytes   = pg_current_wal_lsn() - the slot's confirmed_flush_lsn
 * lag_seconds = 0 when lag_bytes is 0; otherwise now - the commit time of the
 *               last transaction every target has (as wal2edge_replication_lag_seconds),
 *               or null when nothing was ever applied.
 * gap         = per target, when the slot has confirmed past where the target is
 *               complete (pipeline/gap); any gap makes status exit 1.
 *
 * Exit 1 when the slot is lost (its WAL is gone), with the problem in "problems".
 * An unreserved slot (its WAL may soon be gone) is a warning (daemon/walguard):
 * in "warnings", on a "warning" line and on stderr, and status exits 1 ("ok":
 * false) so a monitor acts before the next checkpoint invalidates the slot. A
 * slot retaining more WAL than source.max_retained_wal_bytes is a warning, exit 0. With --json an error is a JSON document too
 * ({"ok": false, "error": ...}) besides the one line on stderr.
 *
 * The re-copies under way or stopped half way ("resyncs": `wal2edge resync` by hand, and
 * the copies `run` makes itself, e.g. of a new mapping) come from their progress files in
 * STATE_DIR/resync/ (resync/progress): table, targets, rows and chunks sent, the last key, why,
 * when, and whether the process copying it is alive.
 *
 * The live figures (the same as /metrics: lag, heartbeat, counters, requests per target) come
 * from STATE_DIR/stats.json, which `run` rewrites every 2 s (metrics/stats); they are shown only
 * while that run is alive ("run": {"running": true}: the file is fresh and its pid exists), never
 * as live when it stopped or died.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "daemon/walguard.h"
#include "metrics/stats.h"
#include "pg/conn.h"
#include "pg/slotcmd.h"
#include "pipeline/deadletter.h"
#include "pipeline/gap.h"
#include "resync/progress.h"
#include "state/store.h"

#define STATUS_MAX_TARGETS 64

static json_t *iso_time(int64_t unix_us)
{
    char text[TIMEFMT_ISO_MAX];
    return unix_us > 0 ? json_string(timefmt_iso(unix_us, 0, text)) : json_null();
}

/* A failure before there is anything to report: with --json, a document saying so. */
static int status_fail(bool as_json, const Err *err)
{
    int rc = cli_fail(err);
    if (as_json) {
        char *clean = log_redact(err->msg);
        json_t *doc = json_pack("{s:b, s:s, s:s, s:i}", "ok", false, "error", clean, "error_code",
                                err_code_name(err->code), "exit_code", rc);
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
        json_decref(doc);
        free(clean);
    }
    return rc;
}

/* Why the slot is in trouble, or NULL: a lost slot cannot resume (an unreserved one is a warning). */
static const char *slot_problem(const PgSlotFacts *s)
{
    if (s->exists && strcmp(s->wal_status, "lost") == 0)
        return "the slot is invalidated (wal_status lost): its WAL was removed; recreate it and resync the "
               "targets (see wal2edge doctor)";
    return NULL;
}

/* Per target, from the last run: {"lagging", "retries", "lagging_since", "next_retry_at", "last_error"}. */
static json_t *target_health(Store *store)
{
    json_t *out = json_object();
    Err err;
    StoreTargetHealth *hs = xcalloc(STATUS_MAX_TARGETS, sizeof *hs);
    size_t n = 0;
    if (store && !store_list_target_health(store, hs, STATUS_MAX_TARGETS, &n, &err))
        n = 0;
    for (size_t i = 0; i < n && i < STATUS_MAX_TARGETS; i++)
        json_object_set_new(out, hs[i].target,
                            json_pack("{s:b, s:i, s:o, s:o, s:o}", "lagging", hs[i].lagging, "retries",
                                      (int)hs[i].retries, "lagging_since", iso_time(hs[i].since_us),
                                      "next_retry_at", iso_time(hs[i].next_retry_us), "last_error",
                                      hs[i].last_error[0] ? json_string(hs[i].last_error) : json_null()));
    free(hs);
    return out;
}

static const char *text_or_dash(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "-";
}

static void print_lagging(json_t *health)
{
    const char *name;
    json_t *h;
    json_object_foreach(health, name, h) {
        if (!json_is_true(json_object_get(h, "lagging")))
            continue;
        printf("lagging              %s: since %s, %d failed attempts, next retry %s; last error: %s\n", name,
               text_or_dash(h, "lagging_since"),
               (int)json_integer_value(json_object_get(h, "retries")),
               text_or_dash(h, "next_retry_at"), text_or_dash(h, "last_error"));
    }
}

/* "run" (is one running, and since when are its figures) and "live" (its figures, null unless
 * it runs) from STATE_DIR/stats.json. */
static void live_figures(const Config *cfg, json_t *doc)
{
    Stats *st = xcalloc(1, sizeof *st);
    bool found = false;
    Err err;
    int64_t now = clock_wall_us();
    json_t *run = json_object(), *live = json_null();
    if (!stats_read(cfg->state_dir, st, &found, &err)) {
        json_object_set_new(run, "running", json_null());
        json_object_set_new(run, "error", json_string(err.msg));
    } else {
        /* a run killed outright leaves "running" behind: its pid must still be there too */
        bool running = found && stats_live(st, now) && st->pid > 0 && (kill((pid_t)st->pid, 0) == 0 || errno == EPERM);
        json_object_set_new(run, "running", json_boolean(running));
        json_object_set_new(run, "pid", running ? json_integer(st->pid) : json_null());
        json_object_set_new(run, "state", running ? json_string(st->state) : json_null());
        /* run --standby waits as "standby" (docs/scale.md); every other running run is the active one */
        json_object_set_new(run, "role",
                            running ? json_string(strcmp(st->state, "standby") == 0 ? "standby" : "active") : json_null());
        json_object_set_new(run, "figures_at", found ? iso_time(st->written_at_us) : json_null());
        if (running) {
            live = stats_to_json(st);
            const char *const run_keys[] = {"version", "running", "pid", "written_at", "written_at_unix_ms", "state",
                                            "role"};
            for (size_t i = 0; i < sizeof run_keys / sizeof run_keys[0]; i++)
                json_object_del(live, run_keys[i]);
            int64_t hb_us = (int64_t)(st->heartbeat_unix * 1e6);
            json_object_set_new(live, "last_heartbeat_at", iso_time(hb_us));
            json_object_set_new(live, "heartbeat_age_seconds",
                                hb_us > 0 ? json_real((double)(now - hb_us) / 1e6) : json_null());
        }
    }
    json_object_set_new(doc, "run", run);
    json_object_set_new(doc, "live", live);
    free(st);
}

/* resync public.items   copying: 12000 rows in 12 chunks, up to key 12000, into d1.app (new mapping) */
static void print_resync(json_t *r)
{
    const char *table = json_string_value(json_object_get(r, "table"));
    const char *state = json_string_value(json_object_get(r, "state"));
    const char *why = json_string_value(json_object_get(r, "why"));
    const char *key = json_string_value(json_object_get(r, "last_key"));
    const char *error = json_string_value(json_object_get(r, "last_error"));
    json_t *targets = json_object_get(r, "targets");
    printf("resync %-13s %s: %" JSON_INTEGER_FORMAT " rows in %" JSON_INTEGER_FORMAT " chunks, up to key %s, into ",
           table, state, json_integer_value(json_object_get(r, "rows")),
           json_integer_value(json_object_get(r, "chunks")), key ? key : "-");
    for (size_t k = 0; k < json_array_size(targets); k++)
        printf("%s%s", k ? ", " : "", json_string_value(json_array_get(targets, k)));
    printf("%s%s%s%s\n", json_array_size(targets) ? "" : "every target of the table", why ? " (" : "",
           why ? why : "", why ? ")" : "");
    if (error)
        printf("  failed %" JSON_INTEGER_FORMAT " time(s), retried by run: %s\n",
               json_integer_value(json_object_get(r, "attempts")), error);
    if (strcmp(state, "stopped") != 0)
        return;
    printf("  (stopped half way: `wal2edge resync %s", table);
    for (size_t k = 0; k < json_array_size(targets); k++)
        printf(" --target %s", json_string_value(json_array_get(targets, k)));
    printf("` resumes it%s)\n", why && strcmp(why, "by hand") != 0 ? ", or the next start of `wal2edge run`" : "");
}

/* The live run's resyncer (stats.json) says what each of its jobs is doing: queued, copying or
 * retrying after a failure (attempts, last_error); a job with no progress file yet is added. */
static void merge_live_resyncs(json_t *doc)
{
    json_t *arr = json_object_get(doc, "resyncs"), *live = json_object_get(json_object_get(doc, "live"), "resyncs");
    json_t *pid = json_object_get(json_object_get(doc, "run"), "pid");
    size_t i;
    json_t *lr;
    json_array_foreach(live, i, lr) {
        const char *table = json_string_value(json_object_get(lr, "table"));
        json_t *entry = NULL, *e;
        size_t k;
        json_array_foreach(arr, k, e)
            if (table && strcmp(json_string_value(json_object_get(e, "table")), table) == 0)
                entry = e;
        if (!entry) {
            entry = json_pack("{s:O, s:O, s:O, s:O, s:I, s:I, s:n, s:n, s:n, s:O}", "table", json_object_get(lr, "table"),
                              "targets", json_object_get(lr, "targets"), "state", json_object_get(lr, "state"), "why",
                              json_object_get(lr, "why"), "rows", (json_int_t)json_number_value(json_object_get(lr, "rows")),
                              "chunks", (json_int_t)json_number_value(json_object_get(lr, "chunks")), "last_key",
                              "started_at", "updated_at", "pid", pid);
            if (!entry)
                continue;
            json_array_append_new(arr, entry);
        }
        json_object_set(entry, "state", json_object_get(lr, "state"));
        json_object_set_new(entry, "attempts", json_integer((json_int_t)json_number_value(json_object_get(lr, "attempts"))));
        json_object_set(entry, "last_error", json_object_get(lr, "last_error"));
    }
}

static double num_or(const json_t *obj, const char *key, double dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void print_live(const json_t *run, const json_t *live)
{
    const char *error = json_string_value(json_object_get(run, "error"));
    if (error) {
        printf("run                  unknown: %s\n", error);
        return;
    }
    if (!json_is_true(json_object_get(run, "running"))) {
        const char *at = json_string_value(json_object_get(run, "figures_at"));
        printf("run                  not running%s%s%s\n", at ? " (its last figures are of " : "", at ? at : "",
               at ? ")" : "");
        return;
    }
    printf("run                  running (pid %lld, %s)\n", (long long)json_integer_value(json_object_get(run, "pid")),
           json_string_value(json_object_get(run, "state")));
    double lag_s = num_or(live, "lag_seconds", -1), lag_b = num_or(live, "lag_bytes", -1);
    double hb_age = num_or(live, "heartbeat_age_seconds", -1);
    char lag[48] = "- s (nothing applied yet)", bytes[32] = "- bytes", heartbeat[48] = "no heartbeat yet";
    if (lag_s >= 0)
        snprintf(lag, sizeof lag, "%.1f s", lag_s);
    if (lag_b >= 0)
        snprintf(bytes, sizeof bytes, "%.0f bytes", lag_b);
    if (hb_age >= 0)
        snprintf(heartbeat, sizeof heartbeat, "last heartbeat %.0f s ago", hb_age);
    printf("live lag             %s, %s; %s\n", lag, bytes, heartbeat);
    printf("live totals          %.0f transactions, %.0f changes, %.0f bytes spooled\n", num_or(live, "transactions", 0),
           num_or(live, "changes", 0), num_or(live, "spool_bytes", 0));
    const char *name;
    json_t *t;
    json_object_foreach(json_object_get(live, "targets"), name, t) {
        const json_t *req = json_object_get(t, "requests");
        printf("live %-15s %.0f flushes; requests %.0f ok, %.0f retryable, %.0f fatal; %.0f retries, %.0f "
               "rate-limited, %.0f skipped%s\n",
               name, num_or(t, "flushes", 0), num_or(req, "ok", 0), num_or(req, "retryable", 0),
               num_or(req, "fatal", 0), num_or(t, "retries", 0), num_or(t, "rate_limited", 0),
               num_or(t, "skipped", 0), json_is_true(json_object_get(t, "failing")) ? "; FAILING" : "");
    }
}

int cmd_status(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    bool as_json = cli_args_flag(&a, "--json");
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return status_fail(as_json, &err);
    PgConn *conn = pgconn_open(cfg->source.dsn, &err);
    PgServerFacts facts;
    Lsn current = 0;
    bool ok = conn && pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, &err) &&
              pgconn_current_wal_lsn(conn, &current, &err);
    pgconn_close(conn);
    if (!ok) {
        config_free(cfg);
        return status_fail(as_json, &err);
    }
    StoreCheckpoint cps[STATUS_MAX_TARGETS];
    size_t cp_count = 0;
    Err store_err;
    Store *store = store_open_existing(cfg->state_dir, &store_err);
    if (store && !store_list_checkpoints(store, cps, STATUS_MAX_TARGETS, &cp_count, &store_err))
        cp_count = 0;
    Lsn incarnation = store ? store_incarnation(store) : 0;
    json_t *health = target_health(store);
    store_close(store);
    if (cp_count > STATUS_MAX_TARGETS)
        cp_count = STATUS_MAX_TARGETS;

    const PgSlotFacts *s = &facts.slot;
    Lsn confirmed = 0;
    Err lsn_err;
    bool have_confirmed = s->exists && s->confirmed_flush_lsn[0] && lsn_parse(s->confirmed_flush_lsn, &confirmed, &lsn_err);
    int64_t lag_bytes = have_confirmed && current >= confirmed ? (int64_t)(current - confirmed) : -1;
    /* as wal2edge_replication_lag_seconds: now - commit time of the last transaction every
     * target has (when a target's commit time is unknown, when its checkpoint was recorded) */
    int64_t oldest = 0;
    for (size_t i = 0; i < cp_count; i++) {
        int64_t t = cps[i].commit_time_us ? cps[i].commit_time_us : cps[i].updated_at_us;
        if (t && (!oldest || t < oldest))
            oldest = t;
    }
    int64_t now = clock_wall_us();
    double lag_seconds = lag_bytes == 0 ? 0.0 : oldest ? (double)(now - oldest) / 1e6 : -1.0;

    char current_text[LSN_STR_MAX];
    lsn_format(current, current_text);
    const char *problem = slot_problem(s);
    /* the WAL guard (daemon/walguard): retained WAL over source.max_retained_wal_bytes */
    char guard[256];
    bool guard_warns = s->exists && !problem &&
                       walguard_judge(s->wal_status, s->retained_bytes, cfg->source.max_retained_wal_bytes, guard,
                                      sizeof guard) == WALGUARD_WARNING;
    /* unreserved: a warning (its WAL is still there), but status fails so a monitor sees it
     * before the next checkpoint invalidates the slot */
    bool unreserved = s->exists && strcmp(s->wal_status, "unreserved") == 0;
    json_t *doc = json_object();
    json_object_set_new(doc, "ok", json_boolean(problem == NULL && !unreserved));
    json_object_set_new(doc, "problems", problem ? json_pack("[s]", problem) : json_array());
    json_object_set_new(doc, "slot", json_string(cfg->source.slot));
    json_object_set_new(doc, "slot_exists", json_boolean(s->exists));
    json_object_set_new(doc, "active", json_boolean(s->active));
    /* null before 17 and while the slot does not exist */
    json_object_set_new(doc, "failover_slot", s->exists && facts.server_version_num >= SLOTCMD_FAILOVER_MIN_VERSION
                                                  ? json_boolean(s->failover)
                                                  : json_null());
    json_object_set_new(doc, "current_wal_lsn", json_string(current_text));
    json_object_set_new(doc, "confirmed_flush_lsn", s->exists ? json_string(s->confirmed_flush_lsn) : json_null());
    json_object_set_new(doc, "restart_lsn", s->exists && s->restart_lsn[0] ? json_string(s->restart_lsn) : json_null());
    json_object_set_new(doc, "lag_bytes", lag_bytes >= 0 ? json_integer(lag_bytes) : json_null());
    json_object_set_new(doc, "lag_seconds", lag_seconds >= 0 ? json_real(lag_seconds) : json_null());
    json_object_set_new(doc, "wal_status", s->exists && s->wal_status[0] ? json_string(s->wal_status) : json_null());
    json_object_set_new(doc, "safe_wal_size", s->has_safe_wal_size ? json_integer(s->safe_wal_size) : json_null());
    json_object_set_new(doc, "retained_wal_bytes", s->retained_bytes >= 0 ? json_integer(s->retained_bytes) : json_null());
    json_object_set_new(doc, "max_retained_wal_bytes", json_integer(cfg->source.max_retained_wal_bytes));
    json_object_set_new(doc, "warnings", guard_warns ? json_pack("[s+]", "the slot ", guard) : json_array());
    /* the gap rule (pipeline/gap), judged on what this state directory recorded: each
     * target's description of its gap (and way back), NULL when it has none */
    char *gap_text[STATUS_MAX_TARGETS] = {0};
    size_t gaps = 0;
    for (size_t i = 0; have_confirmed && i < cp_count; i++) {
        GapInput in = {.target = cps[i].target, .own = cps[i].checkpoint, .recorded = true,
                       .rec_commit_lsn = cps[i].checkpoint.commit_lsn, .rec_through_known = cps[i].through_known,
                       .rec_through = cps[i].through, .rec_incarnation = cps[i].incarnation};
        GapVerdict v = gap_judge(&in, confirmed, incarnation);
        if (!gap_is_gap(v.kind))
            continue;
        Buf why;
        buf_init(&why, 4096);
        Err cut; /* a description too long for its buffer is cut, never fatal */
        if (!gap_describe(cps[i].target, &v, cfg->source.slot, confirmed, &why, &cut) && !why.data)
            gap_text[i] = xstrdup(cut.msg);
        else
            gap_text[i] = buf_take(&why);
        buf_free(&why);
        gaps++;
    }
    json_t *targets = json_array();
    for (size_t i = 0; i < cp_count; i++) {
        char commit[LSN_STR_MAX], end[LSN_STR_MAX];
        json_t *t = json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}", "target", cps[i].target, "commit_lsn",
                              lsn_format(cps[i].checkpoint.commit_lsn, commit), "end_lsn",
                              lsn_format(cps[i].checkpoint.end_lsn, end), "commit_time",
                              iso_time(cps[i].commit_time_us), "updated_at", iso_time(cps[i].updated_at_us),
                              "behind_bytes",
                              (json_int_t)(current > cps[i].checkpoint.end_lsn ? current - cps[i].checkpoint.end_lsn : 0));
        json_object_set_new(t, "gap", gap_text[i] ? json_string(gap_text[i]) : json_null());
        json_array_append_new(targets, t);
    }
    json_object_set_new(doc, "targets_with_gap", json_integer((json_int_t)gaps));
    if (gaps) {
        json_object_set_new(doc, "ok", json_false());
        json_array_append_new(json_object_get(doc, "problems"),
                              json_sprintf("%zu target%s cannot be brought up to date from the slot (see \"gap\")",
                                           gaps, gaps == 1 ? "" : "s"));
    }
    json_object_set_new(doc, "targets", targets);
    /* changes skipped under "on_error": "skip", per target (docs/mappings.md) */
    DlCount dead[STATUS_MAX_TARGETS];
    size_t dead_count = 0;
    Err dead_err;
    if (!deadletter_count(cfg->state_dir, dead, STATUS_MAX_TARGETS, &dead_count, &dead_err))
        dead_count = 0;
    json_t *dead_obj = json_object();
    for (size_t i = 0; i < dead_count; i++)
        json_object_set_new(dead_obj, dead[i].target, json_integer((json_int_t)dead[i].lines));
    json_object_set_new(doc, "dead_letters", dead_obj);
    json_object_set(doc, "target_health", health);
    ResyncStatus *resyncs = NULL;
    size_t resync_count = 0;
    Err rs_err;
    if (!resync_progress_list(cfg->state_dir, &resyncs, &resync_count, &rs_err))
        fprintf(stderr, "wal2edge: status: %s\n", rs_err.msg);
    json_t *rs_arr = json_array();
    for (size_t i = 0; i < resync_count; i++)
        json_array_append_new(rs_arr, resync_progress_json(&resyncs[i]));
    resync_progress_free(resyncs, resync_count);
    json_object_set_new(doc, "resyncs", rs_arr);
    live_figures(cfg, doc);
    merge_live_resyncs(doc);

    if (as_json) {
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
    } else {
        printf("slot                 %s", cfg->source.slot);
        if (!s->exists)
            printf(" (does not exist: wal2edge slot create)\n");
        else
            printf(" (%s)\nfailover slot        %s\nconfirmed_flush_lsn  %s\nrestart_lsn          %s\n",
                   s->active ? "active" : "inactive", slotcmd_failover_label(facts.server_version_num, s->failover),
                   s->confirmed_flush_lsn, s->restart_lsn[0] ? s->restart_lsn : "-");
        printf("current_wal_lsn      %s\n", current_text);
        if (lag_bytes >= 0)
            printf("lag                  %" PRId64 " bytes", lag_bytes);
        if (lag_bytes >= 0 && lag_seconds >= 0)
            printf(", %.1f s", lag_seconds);
        if (lag_bytes >= 0)
            printf("\n");
        if (s->exists)
            printf("wal_status           %s%s", s->wal_status[0] ? s->wal_status : "-",
                   s->has_safe_wal_size ? "" : "\n");
        if (s->exists && s->has_safe_wal_size)
            printf(" (safe_wal_size %" PRId64 " bytes)\n", s->safe_wal_size);
        if (s->exists && s->retained_bytes >= 0)
            printf("retained WAL         %" PRId64 " bytes (source.max_retained_wal_bytes %" PRId64 ")\n",
                   s->retained_bytes, cfg->source.max_retained_wal_bytes);
        if (guard_warns)
            printf("warning              the slot %s\n", guard);
        if (cp_count == 0)
            printf("targets              none recorded yet\n");
        for (size_t i = 0; i < cp_count; i++) {
            char commit[LSN_STR_MAX];
            printf("target %-13s commit %s, %" PRIu64 " bytes behind\n", cps[i].target,
                   lsn_format(cps[i].checkpoint.commit_lsn, commit),
                   current > cps[i].checkpoint.end_lsn ? current - cps[i].checkpoint.end_lsn : 0);
            if (gap_text[i])
                printf("  GAP: %s\n", gap_text[i]);
        }
        for (size_t i = 0; i < dead_count; i++)
            printf("dead letters         %s: %" PRIu64 " skipped change%s (%s/" DEADLETTER_FILE ")\n", dead[i].target,
                   dead[i].lines, dead[i].lines == 1 ? "" : "s", cfg->state_dir);
        for (size_t i = 0; i < json_array_size(rs_arr); i++)
            print_resync(json_array_get(rs_arr, i));
        print_lagging(health);
        print_live(json_object_get(doc, "run"), json_object_get(doc, "live"));
        if (problem)
            printf("problem              %s\n", problem);
    }
    json_decref(health);
    for (size_t i = 0; i < cp_count; i++)
        free(gap_text[i]);
    if (problem)
        fprintf(stderr, "wal2edge: replication slot \"%s\": %s\n", cfg->source.slot, problem);
    else if (guard_warns)
        fprintf(stderr, "wal2edge: warning: replication slot \"%s\" %s\n", cfg->source.slot, guard);
    json_decref(doc);
    config_free(cfg);
    return problem || unreserved || gaps ? 1 : 0; /* a gap needs a rebuild: not a healthy state either */
}

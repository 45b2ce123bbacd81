/*
 * metrics/stats.c - see stats.h.
 *
 * One JSON object, the targets keyed by name. Numbers are written as JSON reals or
 * integers and read back as either; an unknown figure is null. The file is replaced
 * through core/fs (written aside, renamed over), so `status` reads one moment whole.
 */
#include "metrics/stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define STATS_VERSION 1

static json_t *figure(double v) { return v < 0 ? json_null() : json_real(v); }

json_t *stats_to_json(const Stats *s)
{
    char at[TIMEFMT_ISO_MAX];
    json_t *targets = json_object();
    for (size_t i = 0; i < s->target_count; i++) {
        const StatsTarget *t = &s->targets[i];
        json_object_set_new(
            targets, t->name,
            json_pack("{s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:o, s:o, s:b}", "requests", "ok",
                      figure(t->requests_ok), "retryable", figure(t->requests_retryable), "fatal",
                      figure(t->requests_fatal), "retries", figure(t->retries), "rate_limited",
                      figure(t->rate_limited), "flushes", figure(t->flushes), "skipped", figure(t->skipped),
                      "lag_bytes", figure(t->lag_bytes), "failing", t->failing));
    }
    json_t *resyncs = json_array();
    for (size_t i = 0; i < s->resync_count; i++) {
        const StatsResync *r = &s->resyncs[i];
        json_t *names = json_array();
        for (size_t k = 0; k < r->ntargets; k++)
            json_array_append_new(names, json_string(r->targets[k]));
        json_array_append_new(resyncs, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "table", r->table, "state",
                                                 r->state, "why", r->why, "targets", names, "rows", figure(r->rows),
                                                 "chunks", figure(r->chunks), "attempts", figure(r->attempts),
                                                 "last_error",
                                                 r->last_error[0] ? json_string(r->last_error) : json_null()));
    }
    return json_pack("{s:i, s:b, s:I, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "version", STATS_VERSION,
                     "running", s->running, "pid", (json_int_t)s->pid, "written_at",
                     timefmt_iso(s->written_at_us, 0, at), "written_at_unix_ms", (json_int_t)(s->written_at_us / 1000),
                     "state", s->state, "lag_seconds", figure(s->lag_seconds),
                     "lag_bytes", figure(s->lag_bytes), "last_heartbeat_unix",
                     s->heartbeat_unix > 0 ? json_real(s->heartbeat_unix) : json_null(), "transactions",
                     figure(s->transactions), "changes", figure(s->changes), "spool_bytes", figure(s->spool_bytes),
                     "targets", targets, "resyncs", resyncs);
}

/* A figure: a number, or null for unknown (-1). */
static bool read_figure(const json_t *obj, const char *key, double *out, Err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_null(v)) {
        *out = -1;
        return true;
    }
    if (!json_is_number(v) || json_number_value(v) < 0)
        return err_set(err, ERR_PROTOCOL, "\"%s\" is not a non-negative number or null", key);
    *out = json_number_value(v);
    return true;
}

static bool read_target(const char *name, const json_t *t, StatsTarget *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(name) >= sizeof out->name)
        return err_set(err, ERR_PROTOCOL, "a target name is over %d bytes", STATS_NAME_MAX - 1);
    snprintf(out->name, sizeof out->name, "%s", name);
    const json_t *req = json_object_get(t, "requests");
    const json_t *failing = json_object_get(t, "failing");
    bool ok = json_is_object(t) && json_is_object(req) && json_is_boolean(failing);
    if (!ok)
        return err_set(err, ERR_PROTOCOL, "target \"%s\" lacks \"requests\" or \"failing\"", name);
    out->failing = json_is_true(failing);
    ok = read_figure(req, "ok", &out->requests_ok, err) && read_figure(req, "retryable", &out->requests_retryable, err) &&
         read_figure(req, "fatal", &out->requests_fatal, err) && read_figure(t, "retries", &out->retries, err) &&
         read_figure(t, "rate_limited", &out->rate_limited, err) && read_figure(t, "flushes", &out->flushes, err) &&
         read_figure(t, "skipped", &out->skipped, err) && read_figure(t, "lag_bytes", &out->lag_bytes, err);
    if (!ok)
        err_prefix(err, "target \"%s\"", name);
    return ok;
}

/* One of "resyncs"; a string too long for its field is cut (figures for status, not data). */
static bool read_resync(const json_t *r, StatsResync *out, Err *err)
{
    memset(out, 0, sizeof *out);
    const char *table = json_string_value(json_object_get(r, "table"));
    const char *state = json_string_value(json_object_get(r, "state"));
    const char *why = json_string_value(json_object_get(r, "why"));
    const char *last_error = json_string_value(json_object_get(r, "last_error"));
    const json_t *targets = json_object_get(r, "targets");
    if (!table || !state || !json_is_array(targets))
        return err_set(err, ERR_PROTOCOL, "a resync lacks \"table\", \"state\" or \"targets\"");
    snprintf(out->table, sizeof out->table, "%s", table);
    snprintf(out->state, sizeof out->state, "%s", state);
    snprintf(out->why, sizeof out->why, "%s", why ? why : "");
    snprintf(out->last_error, sizeof out->last_error, "%s", last_error ? last_error : "");
    for (size_t k = 0; k < json_array_size(targets) && out->ntargets < STATS_RESYNC_TARGETS; k++) {
        const char *t = json_string_value(json_array_get(targets, k));
        if (t)
            snprintf(out->targets[out->ntargets++], sizeof out->targets[0], "%s", t);
    }
    return read_figure(r, "rows", &out->rows, err) && read_figure(r, "chunks", &out->chunks, err) &&
           read_figure(r, "attempts", &out->attempts, err);
}

bool stats_from_json(const json_t *doc, Stats *s, Err *err)
{
    memset(s, 0, sizeof *s);
    const json_t *version = json_object_get(doc, "version");
    if (!json_is_object(doc) || !json_is_integer(version))
        return err_set(err, ERR_PROTOCOL, "not a stats document (no \"version\")");
    if (json_integer_value(version) != STATS_VERSION)
        return err_set(err, ERR_PROTOCOL, "stats version %lld, this wal2edge reads %d (a newer run wrote it?)",
                       (long long)json_integer_value(version), STATS_VERSION);
    const json_t *running = json_object_get(doc, "running"), *pid = json_object_get(doc, "pid");
    const json_t *at = json_object_get(doc, "written_at_unix_ms");
    const char *state = json_string_value(json_object_get(doc, "state"));
    const json_t *targets = json_object_get(doc, "targets");
    if (!json_is_boolean(running) || !json_is_integer(pid) || !json_is_integer(at) || !state || !json_is_object(targets))
        return err_set(err, ERR_PROTOCOL, "\"running\", \"pid\", \"written_at_unix_ms\", \"state\" or \"targets\" is missing");
    s->written_at_us = (int64_t)json_integer_value(at) * 1000;
    if (strlen(state) >= sizeof s->state)
        return err_set(err, ERR_PROTOCOL, "\"state\" is not a run state");
    snprintf(s->state, sizeof s->state, "%s", state);
    s->running = json_is_true(running);
    s->pid = (long)json_integer_value(pid);
    bool ok = read_figure(doc, "lag_seconds", &s->lag_seconds, err) && read_figure(doc, "lag_bytes", &s->lag_bytes, err) &&
              read_figure(doc, "last_heartbeat_unix", &s->heartbeat_unix, err) &&
              read_figure(doc, "transactions", &s->transactions, err) && read_figure(doc, "changes", &s->changes, err) &&
              read_figure(doc, "spool_bytes", &s->spool_bytes, err);
    if (s->heartbeat_unix < 0)
        s->heartbeat_unix = 0;
    const char *name;
    const json_t *t;
    json_object_foreach((json_t *)targets, name, t) {
        if (!ok)
            break;
        if (s->target_count == STATS_MAX_TARGETS)
            return err_set(err, ERR_PROTOCOL, "more than %d targets", STATS_MAX_TARGETS);
        ok = read_target(name, t, &s->targets[s->target_count++], err);
    }
    const json_t *resyncs = json_object_get(doc, "resyncs");
    for (size_t i = 0; ok && json_is_array(resyncs) && i < json_array_size(resyncs) && i < STATS_MAX_RESYNCS; i++)
        ok = read_resync(json_array_get(resyncs, i), &s->resyncs[s->resync_count++], err);
    return ok;
}

bool stats_live(const Stats *s, int64_t now_us)
{
    return s->running && now_us - s->written_at_us < (int64_t)STATS_STALE_MS * 1000;
}

bool stats_write(const char *state_dir, const Stats *s, Err *err)
{
    json_t *doc = stats_to_json(s);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(doc);
    char *path = xasprintf("%s/" STATS_FILE, state_dir);
    bool ok = text && fs_write_file_durably(path, ".tmp", text, strlen(text), 0644, err);
    if (!text)
        err_set(err, ERR_INTERNAL, "rendering %s failed", path);
    free(text);
    free(path);
    return ok;
}

bool stats_read(const char *state_dir, Stats *s, bool *found, Err *err)
{
    memset(s, 0, sizeof *s);
    *found = false;
    char *path = xasprintf("%s/" STATS_FILE, state_dir);
    json_error_t je;
    bool exists = access(path, F_OK) == 0 || errno != ENOENT;
    json_t *doc = exists ? json_load_file(path, 0, &je) : NULL;
    bool ok = true;
    if (!exists) {
        /* no run wrote one yet */
    } else if (!doc) {
        ok = err_set(err, ERR_IO, "reading %s: %s", path, je.text);
    } else {
        *found = true;
        ok = stats_from_json(doc, s, err);
        if (!ok)
            err_prefix(err, "%s", path);
    }
    json_decref(doc);
    free(path);
    return ok;
}

/* Unit tests for metrics/stats: the stats file round trip (through a real file), unknown
 * figures as null, liveness, and a clear error for a file that is not one of ours. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "metrics/stats.h"

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/w2e-stats-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static void sample(Stats *s)
{
    memset(s, 0, sizeof *s);
    s->running = true;
    s->pid = 4242;
    s->written_at_us = 1764650000123000;
    snprintf(s->state, sizeof s->state, "streaming");
    s->lag_seconds = 1.5;
    s->lag_bytes = -1; /* the slot not read yet */
    s->heartbeat_unix = 1764649990.25;
    s->transactions = 120;
    s->changes = 240;
    s->spool_bytes = 0;
    s->target_count = 2;
    snprintf(s->targets[0].name, STATS_NAME_MAX, "d1.app");
    s->targets[0].flushes = 7;
    s->targets[0].skipped = 1;
    snprintf(s->targets[1].name, STATS_NAME_MAX, "queues.changes");
    s->targets[1].requests_ok = 10;
    s->targets[1].requests_retryable = 3;
    s->targets[1].retries = 3;
    s->targets[1].rate_limited = 1;
    s->targets[1].lag_bytes = 512;
    s->targets[1].failing = true;
    s->resync_count = 1;
    StatsResync *r = &s->resyncs[0];
    snprintf(r->table, sizeof r->table, "public.items");
    snprintf(r->state, sizeof r->state, "retrying");
    snprintf(r->why, sizeof r->why, "new mapping");
    snprintf(r->targets[0], sizeof r->targets[0], "kv.cache");
    r->ntargets = 1;
    r->rows = 2000;
    r->chunks = 2;
    r->attempts = 1;
    snprintf(r->last_error, sizeof r->last_error, "postgres connection error");
}

Test(stats, round_trip_through_the_file)
{
    char *dir = temp_dir();
    Stats in, out;
    sample(&in);
    Err err;
    bool found = true;
    cr_assert(stats_read(dir, &out, &found, &err), "%s", err.msg);
    cr_assert_not(found, "no file yet: not found, not an error");
    cr_assert(stats_write(dir, &in, &err), "%s", err.msg);
    cr_assert(stats_read(dir, &out, &found, &err), "%s", err.msg);
    cr_assert(found);
    cr_assert(out.running);
    cr_assert_eq(out.pid, 4242);
    cr_assert_eq(out.written_at_us, 1764650000123000);
    cr_assert_str_eq(out.state, "streaming");
    cr_assert_float_eq(out.lag_seconds, 1.5, 1e-9);
    cr_assert_float_eq(out.lag_bytes, -1, 0, "unknown stays unknown");
    cr_assert_float_eq(out.heartbeat_unix, 1764649990.25, 1e-6);
    cr_assert_float_eq(out.changes, 240, 0);
    cr_assert_eq(out.target_count, 2);
    cr_assert_str_eq(out.targets[1].name, "queues.changes");
    cr_assert_float_eq(out.targets[1].requests_retryable, 3, 0);
    cr_assert_float_eq(out.targets[1].rate_limited, 1, 0);
    cr_assert(out.targets[1].failing);
    cr_assert_not(out.targets[0].failing);
    cr_assert_float_eq(out.targets[0].skipped, 1, 0);
    cr_assert_eq(out.resync_count, 1);
    cr_assert_str_eq(out.resyncs[0].table, "public.items");
    cr_assert_str_eq(out.resyncs[0].state, "retrying");
    cr_assert_str_eq(out.resyncs[0].why, "new mapping");
    cr_assert_eq(out.resyncs[0].ntargets, 1);
    cr_assert_str_eq(out.resyncs[0].targets[0], "kv.cache");
    cr_assert_float_eq(out.resyncs[0].rows, 2000, 0);
    cr_assert_float_eq(out.resyncs[0].attempts, 1, 0);
    cr_assert_str_eq(out.resyncs[0].last_error, "postgres connection error");
    char *path = xasprintf("%s/" STATS_FILE, dir);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

Test(stats, live_only_while_running_and_fresh)
{
    Stats s;
    sample(&s);
    cr_assert(stats_live(&s, s.written_at_us + 1000000));
    cr_assert_not(stats_live(&s, s.written_at_us + (int64_t)STATS_STALE_MS * 1000 + 1), "a writer gone quiet");
    s.running = false;
    cr_assert_not(stats_live(&s, s.written_at_us), "the last write of a run that stopped");
}

Test(stats, a_file_that_is_not_ours_is_refused_clearly)
{
    Stats s;
    Err err;
    json_t *doc = json_pack("{s:i}", "version", 99);
    cr_assert_not(stats_from_json(doc, &s, &err));
    cr_assert(strstr(err.msg, "stats version 99"), "%s", err.msg);
    json_decref(doc);
    sample(&s);
    doc = stats_to_json(&s);
    json_object_set_new(json_object_get(json_object_get(doc, "targets"), "queues.changes"), "retries",
                        json_string("3"));
    cr_assert_not(stats_from_json(doc, &s, &err));
    cr_assert(strstr(err.msg, "target \"queues.changes\"") && strstr(err.msg, "\"retries\""), "%s", err.msg);
    json_decref(doc);
    char *dir = temp_dir();
    char *path = xasprintf("%s/" STATS_FILE, dir);
    FILE *f = fopen(path, "w");
    fputs("{ not json", f);
    fclose(f);
    bool found;
    cr_assert_not(stats_read(dir, &s, &found, &err));
    cr_assert_eq(err.code, ERR_IO);
    cr_assert(strstr(err.msg, STATS_FILE), "%s", err.msg);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

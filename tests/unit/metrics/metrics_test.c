/* Unit tests for metrics/metrics without its listener: what the Cloudflare client's observer
 * (metrics_target_http) counts per target, flushes counted apart, and the stats file run leaves
 * for `status` (written at once, marked stopped by metrics_stop, with the same figures). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "metrics/metrics.h"
#include "metrics/stats.h"

static Config *config_in(char *dir)
{
    Config *cfg = xcalloc(1, sizeof *cfg);
    cfg->state_dir = dir;
    cfg->source.slot = xstrdup("s");
    cfg->source.max_retained_wal_bytes = 1 << 30;
    cfg->metrics.ready_max_lag_seconds = 60;
    return cfg;
}

static void expect_sample(const char *text, const char *sample)
{
    char *line = xasprintf("\n%s\n", sample);
    cr_assert(strstr(text, line), "no \"%s\" in:\n%s", sample, text);
    free(line);
}

Test(metrics, requests_are_counted_per_target_and_flushes_apart)
{
    char tmpl[] = "/tmp/w2e-metrics-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    Config *cfg = config_in(tmpl);
    const char *const targets[] = {"queues.a", "d1.app"};
    Metrics *m = NULL;
    Err err;
    cr_assert(metrics_open(cfg, targets, 2, &m, &err), "%s", err.msg);
    cr_assert_not_null(m, "made without a listener: status needs the figures");
    Stats st;
    bool found;
    cr_assert(stats_read(tmpl, &st, &found, &err) && found, "the stats file is there from the start");
    cr_assert(st.running);

    metrics_target_http(m, "queues.a", "retryable", 0.010, 1, true); /* a 429 */
    metrics_target_http(m, "queues.a", "retryable", 0.020, 2, false); /* a 500 */
    metrics_target_http(m, "queues.a", "ok", 0.030, 3, false);
    metrics_target_http(m, "queues.a", NULL, 0, 1, true);             /* the budget ran out: no request */
    metrics_target_http(m, NULL, "ok", 0.030, 1, false);              /* the client itself: no target */
    metrics_target_flush(m, "d1.app", "ok", 0.5);
    Err e429 = {.code = ERR_HTTP, .detail = 429, .msg = "kv bulk write: ... (http 429)"};
    metrics_target_failing(m, "queues.a", &e429); /* already counted per request: not again */
    char *text = metrics_render(m);
    expect_sample(text, "wal2edge_target_requests_total{target=\"queues.a\",outcome=\"retryable\"} 2");
    expect_sample(text, "wal2edge_target_requests_total{target=\"queues.a\",outcome=\"ok\"} 1");
    expect_sample(text, "wal2edge_target_retries_total{target=\"queues.a\"} 2");
    expect_sample(text, "wal2edge_target_rate_limited_total{target=\"queues.a\"} 2");
    expect_sample(text, "wal2edge_target_request_duration_seconds_count{target=\"queues.a\"} 3");
    expect_sample(text, "wal2edge_target_requests_total{target=\"d1.app\",outcome=\"ok\"} 0");
    expect_sample(text, "wal2edge_target_flushes_total{target=\"d1.app\",outcome=\"ok\"} 1");
    expect_sample(text, "wal2edge_target_flush_duration_seconds_count{target=\"d1.app\"} 1");
    expect_sample(text, "wal2edge_target_flushes_total{target=\"queues.a\",outcome=\"ok\"} 0");
    free(text);

    metrics_stop(m);
    cr_assert(stats_read(tmpl, &st, &found, &err) && found, "%s", err.msg);
    cr_assert_not(st.running, "the last write says the run stopped");
    cr_assert_eq(st.target_count, 2);
    cr_assert_str_eq(st.targets[0].name, "queues.a");
    cr_assert_float_eq(st.targets[0].requests_retryable, 2, 0);
    cr_assert_float_eq(st.targets[0].requests_ok, 1, 0);
    cr_assert_float_eq(st.targets[0].retries, 2, 0);
    cr_assert_float_eq(st.targets[0].rate_limited, 2, 0);
    cr_assert(st.targets[0].failing);
    cr_assert_float_eq(st.targets[1].flushes, 1, 0);
    cr_assert_float_eq(st.lag_seconds, -1, 0, "unknown until a transaction reached every target");
    char *path = xasprintf("%s/" STATS_FILE, tmpl);
    unlink(path);
    rmdir(tmpl);
    free(path);
    free(cfg->source.slot);
    free(cfg);
}

/* Unit tests for metrics/registry: the text exposition format, label escaping, histograms, the series cap. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics/registry.h"

static char *render(MetricReg *reg)
{
    Buf b;
    Err err;
    buf_init(&b, 1 << 20);
    cr_assert(metricreg_render(reg, &b, &err), "%s", err.msg);
    cr_assert(buf_append(&b, "", 1, &err));
    return b.data;
}

Test(registry, counter_and_gauge_exposition)
{
    MetricReg *reg = metricreg_new();
    MetricFamily *tx = metricreg_family(reg, "w_transactions_total", "Transactions applied.", METRIC_COUNTER,
                                        NULL, NULL, 0);
    static const char *const labels[] = {"table", "op", NULL};
    MetricFamily *ch = metricreg_family(reg, "w_changes_total", "Changes.", METRIC_COUNTER, labels, NULL, 0);
    MetricFamily *g = metricreg_family(reg, "w_lag_seconds", "Lag.", METRIC_GAUGE, NULL, NULL, 0);
    char *text = render(reg);
    cr_assert_str_eq(text, "# HELP w_transactions_total Transactions applied.\n"
                           "# TYPE w_transactions_total counter\n"
                           "w_transactions_total 0\n"
                           "# HELP w_changes_total Changes.\n"
                           "# TYPE w_changes_total counter\n"
                           "# HELP w_lag_seconds Lag.\n"
                           "# TYPE w_lag_seconds gauge\n"
                           "w_lag_seconds 0\n",
                     "an unlabelled family shows 0 at once; a labelled one no series until used");
    free(text);
    metric_add(tx, NULL, 1);
    metric_add(tx, NULL, 2);
    metric_add(ch, (const char *const[]){"public.users", "insert"}, 5);
    metric_add(ch, (const char *const[]){"public.users", "delete"}, 1);
    metric_add(ch, (const char *const[]){"public.users", "insert"}, 1);
    metric_set(g, NULL, 0.25);
    text = render(reg);
    cr_assert(strstr(text, "\nw_transactions_total 3\n"), "%s", text);
    cr_assert(strstr(text, "\nw_changes_total{table=\"public.users\",op=\"insert\"} 6\n"), "%s", text);
    cr_assert(strstr(text, "\nw_changes_total{table=\"public.users\",op=\"delete\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "\nw_lag_seconds 0.25\n"), "%s", text);
    cr_assert_float_eq(metric_value(ch, (const char *const[]){"public.users", "insert"}), 6, 0);
    free(text);
    metricreg_free(reg);
}

Test(registry, label_values_and_help_are_escaped)
{
    MetricReg *reg = metricreg_new();
    static const char *const labels[] = {"table", NULL};
    MetricFamily *f = metricreg_family(reg, "w_x", "a \\ back\nslash", METRIC_GAUGE, labels, NULL, 0);
    metric_set(f, (const char *const[]){"we\"ird\\na\nme"}, 1);
    char *text = render(reg);
    cr_assert(strstr(text, "# HELP w_x a \\\\ back\\nslash\n"), "%s", text);
    cr_assert(strstr(text, "w_x{table=\"we\\\"ird\\\\na\\nme\"} 1\n"), "%s", text);
    free(text);
    metricreg_free(reg);
}

Test(registry, histogram_buckets_are_cumulative)
{
    MetricReg *reg = metricreg_new();
    static const char *const labels[] = {"target", NULL};
    static const double bounds[] = {0.005, 0.1, 1};
    MetricFamily *h = metricreg_family(reg, "w_dur_seconds", "Durations.", METRIC_HISTOGRAM, labels, bounds, 3);
    const char *const d1[] = {"d1.app"};
    metric_observe(h, d1, 0.001);
    metric_observe(h, d1, 0.05);
    metric_observe(h, d1, 0.1);
    metric_observe(h, d1, 30);
    char *text = render(reg);
    cr_assert(strstr(text, "# TYPE w_dur_seconds histogram\n"
                           "w_dur_seconds_bucket{target=\"d1.app\",le=\"0.005\"} 1\n"
                           "w_dur_seconds_bucket{target=\"d1.app\",le=\"0.1\"} 3\n"
                           "w_dur_seconds_bucket{target=\"d1.app\",le=\"1\"} 3\n"
                           "w_dur_seconds_bucket{target=\"d1.app\",le=\"+Inf\"} 4\n"
                           "w_dur_seconds_sum{target=\"d1.app\"} 30.151\n"
                           "w_dur_seconds_count{target=\"d1.app\"} 4\n"),
              "%s", text);
    free(text);
    metricreg_free(reg);
}

Test(registry, special_values_clear_and_the_series_cap)
{
    MetricReg *reg = metricreg_new();
    static const char *const labels[] = {"k", NULL};
    MetricFamily *f = metricreg_family(reg, "w_g", "G.", METRIC_GAUGE, labels, NULL, 0);
    metric_set(f, (const char *const[]){"inf"}, (double)INFINITY);
    metric_set(f, (const char *const[]){"nan"}, (double)NAN);
    metric_set(f, (const char *const[]){"big"}, 12345678901234.0);
    char *text = render(reg);
    cr_assert(strstr(text, "w_g{k=\"inf\"} +Inf\n"), "%s", text);
    cr_assert(strstr(text, "w_g{k=\"nan\"} NaN\n"), "%s", text);
    cr_assert(strstr(text, "w_g{k=\"big\"} 12345678901234\n"), "%s", text);
    free(text);
    metric_clear(f);
    text = render(reg);
    cr_assert(!strstr(text, "w_g{"), "cleared: %s", text);
    free(text);
    char name[32];
    for (int i = 0; i < METRIC_MAX_SERIES + 50; i++) {
        snprintf(name, sizeof name, "v%d", i);
        metric_set(f, (const char *const[]){name}, 1);
    }
    text = render(reg);
    size_t lines = 0;
    for (const char *p = text; (p = strstr(p, "\nw_g{")); p++)
        lines++;
    cr_assert_eq(lines, METRIC_MAX_SERIES, "label sets past the cap are dropped");
    free(text);
    metricreg_free(reg);
}

Test(registry, sum_over_one_label)
{
    MetricReg *reg = metricreg_new();
    static const char *const labels[] = {"target", "reason", NULL};
    MetricFamily *f = metricreg_family(reg, "w_skipped_total", "Skipped.", METRIC_COUNTER, labels, NULL, 0);
    metric_add(f, (const char *const[]){"d1.app", "too_large"}, 2);
    metric_add(f, (const char *const[]){"d1.app", "refused"}, 3);
    metric_add(f, (const char *const[]){"kv.cache", "refused"}, 5);
    cr_assert_float_eq(metric_sum(f, 0, "d1.app"), 5, 0);
    cr_assert_float_eq(metric_sum(f, 1, "refused"), 8, 0);
    cr_assert_float_eq(metric_sum(f, 0, NULL), 10, 0);
    cr_assert_float_eq(metric_sum(f, 0, "queues.x"), 0, 0);
    cr_assert_float_eq(metric_sum(f, 7, "d1.app"), 0, 0, "no such label");
    metricreg_free(reg);
}

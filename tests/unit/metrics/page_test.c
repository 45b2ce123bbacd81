/* Unit tests for metrics/page: escaping of outside text, figures, sparklines, no script. */
#include <criterion/criterion.h>
#include <string.h>

#include "metrics/page.h"

static char *render(const PageData *d)
{
    Buf b;
    Err err;
    buf_init(&b, 1 << 20);
    cr_assert(page_render(d, &b, &err), "%s", err.msg);
    cr_assert(buf_append(&b, "", 1, &err));
    return b.data;
}

Test(page, figures_escaping_and_sparklines)
{
    PageTarget targets[] = {
        {.name = "d1.app", .lag_bytes = 2048, .writes_ok = 7, .commit_to_durable_avg = 0.25, .failing = ""},
        {.name = "queues.q", .lag_bytes = 0, .writes_ok = 1, .requests = 9, .retries = 3, .rate_limited = 1,
         .commit_to_durable_avg = -1,
         .failing = "queue push: <b>boom</b> & \"x\" (http 500)"},
    };
    double tput[] = {0, 10, 5};
    double lag[] = {0, 0, 90};
    const char *errors[] = {"newest <err>", "older"};
    PageData d = {.version = "0.1.0", .state = "streaming", .slot = "s1", .ready_status = 503,
                  .ready_reason = "target queues.q is failing: <b>", .wal_status = "unreserved",
                  .retained_bytes = 3.5 * 1024 * 1024, .safe_wal_bytes = -1, .max_retained_bytes = 1e10,
                  .lag_bytes = 100, .lag_seconds = 90, .heartbeat_age_seconds = -1, .transactions = 42,
                  .targets = targets, .target_count = 2, .throughput = tput, .lag_history = lag, .samples = 3,
                  .sample_seconds = 10, .errors = errors, .error_count = 2};
    char *html = render(&d);
    cr_assert(strstr(html, "<span class=\"badge bad\">not ready</span> target queues.q is failing: &lt;b&gt;"), "%s",
              html);
    cr_assert(strstr(html, "<td class=\"warn\">unreserved</td>"), "unreserved is a warning");
    cr_assert(strstr(html, "<th>retained WAL</th><td class=\"\">3.5 MiB</td>"), "%s", html);
    cr_assert(strstr(html, "<th>safe WAL size</th><td class=\"\">-</td>"));
    cr_assert(strstr(html, "<th>lag</th><td class=\"\">90.0 s</td>"));
    cr_assert(strstr(html, "<th>last heartbeat</th><td class=\"\">none yet</td>"));
    cr_assert(strstr(html, "<th>transactions</th><td class=\"\">42</td>"));
    cr_assert(strstr(html, "<td>d1.app</td><td>2.0 KiB</td><td>7</td><td>-</td><td>0.250 s avg</td><td class=\"ok\">ok"),
              "%s", html);
    cr_assert(strstr(html, "<td>queues.q</td><td>0 B</td><td>1</td><td>9 (3 retried, 1 rate-limited)</td><td>-</td>"),
              "%s", html);
    cr_assert(strstr(html, "failing: queue push: &lt;b&gt;boom&lt;/b&gt; &amp; &quot;x&quot; (http 500)"), "%s", html);
    cr_assert(strstr(html, "<li class=\"bad\">newest &lt;err&gt;</li>\n<li class=\"bad\">older</li>"));
    cr_assert(strstr(html, "throughput: now 5.00 tx/s, max 10.00 tx/s (last 1 min)"), "%s", html);
    cr_assert(strstr(html, "points=\"0.0,62.0 179.5,2.0 359.0,32.0\""), "scaled to the largest value: %s", html);
    cr_assert(strstr(html, "lag: now 90.00 s, max 90.00 s"));
    cr_assert_null(strstr(html, "<script"));
    cr_assert_null(strstr(html, "<b>"), "no outside text gets through unescaped");
    free(html);
}

Test(page, empty_history_and_no_errors)
{
    PageData d = {.version = "v", .state = "connecting", .slot = "s", .ready_status = 200, .ready_reason = "ready",
                  .wal_status = "", .retained_bytes = -1, .safe_wal_bytes = -1, .lag_bytes = -1, .lag_seconds = -1,
                  .heartbeat_age_seconds = 3, .sample_seconds = 10};
    char *html = render(&d);
    cr_assert(strstr(html, "<td class=\"ok\">-</td>"), "unknown wal_status");
    cr_assert(strstr(html, "<th>last heartbeat</th><td class=\"\">3 s ago</td>"));
    cr_assert(strstr(html, "<p class=\"ok\">none</p>"));
    cr_assert_null(strstr(html, "<polyline"), "no samples, no line");
    free(html);
}

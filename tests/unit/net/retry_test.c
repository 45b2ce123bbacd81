/* Unit tests for net/retry: classification, server delays, backoff, budgets. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "net/retry.h"

static RetryInput status_in(long status)
{
    RetryInput in = {0};
    in.status = status;
    return in;
}

Test(retry, statuses_408_409_429_and_5xx_are_retryable_other_4xx_are_not)
{
    long yes[] = {408, 409, 429, 500, 502, 503, 504, 599};
    long no[] = {200, 204, 400, 401, 403, 404, 405, 412, 413, 422};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        RetryInput in = status_in(yes[i]);
        cr_assert(retry_is_retryable(&in), "%ld", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        RetryInput in = status_in(no[i]);
        cr_assert_not(retry_is_retryable(&in), "%ld", no[i]);
    }
}

Test(retry, x_should_retry_overrides_the_status)
{
    RetryInput in = status_in(400);
    in.x_should_retry = "true";
    cr_assert(retry_is_retryable(&in));
    in = status_in(503);
    in.x_should_retry = "FALSE";
    cr_assert_not(retry_is_retryable(&in));
    in = status_in(503);
    in.x_should_retry = "maybe";   /* unknown value: ignored */
    cr_assert(retry_is_retryable(&in));
}

Test(retry, transport_errors_follow_their_retryability)
{
    RetryInput in = {0};
    in.transport_error = true;
    in.transport_retryable = true;
    cr_assert(retry_is_retryable(&in));
    in.transport_retryable = false;   /* e.g. body over the cap */
    cr_assert_not(retry_is_retryable(&in));
}

Test(retry, server_delay_prefers_retry_after_ms)
{
    uint64_t ms = 0;
    cr_assert(retry_server_delay_ms("1500", "7", 0, &ms));
    cr_assert_eq(ms, 1500);
    cr_assert(retry_server_delay_ms("2.5", NULL, 0, &ms));
    cr_assert_eq(ms, 2);
    cr_assert(retry_server_delay_ms(NULL, "7", 0, &ms));
    cr_assert_eq(ms, 7000);
    cr_assert(retry_server_delay_ms(NULL, "0.25", 0, &ms));
    cr_assert_eq(ms, 250);
    cr_assert(retry_server_delay_ms("junk", "3", 0, &ms), "bad retry-after-ms falls back");
    cr_assert_eq(ms, 3000);
    cr_assert_not(retry_server_delay_ms(NULL, NULL, 0, &ms));
    cr_assert_not(retry_server_delay_ms(NULL, "-1", 0, &ms));
    cr_assert_not(retry_server_delay_ms(NULL, "1e3", 0, &ms));
    cr_assert_not(retry_server_delay_ms(NULL, "", 0, &ms));
    cr_assert_not(retry_server_delay_ms(NULL, " 5", 0, &ms));
}

Test(retry, retry_after_http_date_is_relative_to_now)
{
    int64_t t = 0;
    cr_assert(retry_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    cr_assert_eq(t, 784111777);
    cr_assert(retry_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &t));
    cr_assert_eq(t, 0);
    cr_assert(retry_parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT", &t));
    cr_assert_eq(t, 1835481599);
    uint64_t ms = 0;
    cr_assert(retry_server_delay_ms(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 12, &ms));
    cr_assert_eq(ms, 12000);
    cr_assert(retry_server_delay_ms(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 5, &ms));
    cr_assert_eq(ms, 0, "a date in the past means now");
    cr_assert_not(retry_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    cr_assert_not(retry_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", &t));
    cr_assert_not(retry_parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT", &t));
    cr_assert_not(retry_parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", &t));
}

Test(retry, backoff_doubles_caps_and_jitters_down_by_at_most_the_share)
{
    RetryPolicy p;
    retry_policy_default(&p);
    cr_assert_eq(retry_backoff_ms(&p, 1, 0), 500);
    cr_assert_eq(retry_backoff_ms(&p, 2, 0), 1000);
    cr_assert_eq(retry_backoff_ms(&p, 3, 0), 2000);
    cr_assert_eq(retry_backoff_ms(&p, 5, 0), 8000);
    cr_assert_eq(retry_backoff_ms(&p, 40, 0), 8000, "capped, no overflow");
    /* maximum jitter: 25 % off */
    cr_assert_eq(retry_backoff_ms(&p, 1, UINT32_MAX), 500 - 124);
    cr_assert_eq(retry_backoff_ms(&p, 5, UINT32_MAX), 8000 - 1999);
    cr_assert_eq(retry_backoff_ms(&p, 5, 0x80000000u), 8000 - 1000);
    p.jitter_pct = 0;
    cr_assert_eq(retry_backoff_ms(&p, 2, UINT32_MAX), 1000);
}

Test(retry, decide_uses_server_delay_then_backoff_and_stops_at_the_budgets)
{
    RetryPolicy p;
    retry_policy_default(&p);
    RetryInput in = status_in(429);
    in.retry_after = "3";
    RetryDecision d = retry_decide(&p, &in, 1, 0, 0, 0);
    cr_assert(d.retry);
    cr_assert(d.server_delay);
    cr_assert_eq(d.delay_ms, 3000);

    in = status_in(502);
    d = retry_decide(&p, &in, 2, 1000, 0, 0);
    cr_assert(d.retry);
    cr_assert_not(d.server_delay);
    cr_assert_eq(d.delay_ms, 1000);

    d = retry_decide(&p, &in, 5, 1000, 0, 0);
    cr_assert_not(d.retry, "max attempts reached");
    cr_assert(d.budget_exhausted);

    in = status_in(429);
    in.retry_after = "300";   /* the 5-minute block: longer than the total budget */
    d = retry_decide(&p, &in, 1, 0, 0, 0);
    cr_assert_not(d.retry);
    cr_assert(d.budget_exhausted);
    cr_assert_eq(d.delay_ms, 300000);

    in = status_in(404);
    d = retry_decide(&p, &in, 1, 0, 0, 0);
    cr_assert_not(d.retry);
    cr_assert_not(d.budget_exhausted, "permanent, not exhausted");

    in = status_in(500);
    d = retry_decide(&p, &in, 1, p.max_total_ms, 0, 0);
    cr_assert_not(d.retry, "total time used up");
    cr_assert(d.budget_exhausted);
}

Test(retry, transport_errors_ignore_stale_retry_after)
{
    RetryPolicy p;
    retry_policy_default(&p);
    RetryInput in = {0};
    in.transport_error = true;
    in.transport_retryable = true;
    in.retry_after = "60";
    RetryDecision d = retry_decide(&p, &in, 1, 0, 0, 0);
    cr_assert(d.retry);
    cr_assert_eq(d.delay_ms, 500);
}

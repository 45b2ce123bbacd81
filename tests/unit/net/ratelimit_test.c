/* Unit tests for net/ratelimit: the sliding window and the 429 pause, on a fake clock. */
#include <criterion/criterion.h>

#include "net/ratelimit.h"

Test(ratelimit, defaults_are_1200_per_5_minutes)
{
    RateLimit *rl = ratelimit_new(0, 0);
    cr_assert_eq(ratelimit_max_requests(rl), 1200);
    cr_assert_eq(ratelimit_window_ms(rl), 300000);
    ratelimit_free(rl);
}

Test(ratelimit, the_window_fills_then_frees_as_old_requests_leave_it)
{
    RateLimit *rl = ratelimit_new(3, 1000);
    cr_assert_eq(ratelimit_wait_ms(rl, 0), 0);
    ratelimit_record(rl, 0);
    ratelimit_record(rl, 100);
    cr_assert_eq(ratelimit_wait_ms(rl, 200), 0);
    ratelimit_record(rl, 200);
    cr_assert_eq(ratelimit_in_window(rl, 200), 3);
    cr_assert_eq(ratelimit_wait_ms(rl, 200), 800, "the first request leaves at t=1000");
    cr_assert_eq(ratelimit_wait_ms(rl, 999), 1);
    cr_assert_eq(ratelimit_wait_ms(rl, 1000), 0);
    ratelimit_record(rl, 1000);
    cr_assert_eq(ratelimit_wait_ms(rl, 1000), 100, "now the one from t=100 is the oldest");
    cr_assert_eq(ratelimit_in_window(rl, 1000), 3);
    cr_assert_eq(ratelimit_in_window(rl, 5000), 0);
    cr_assert_eq(ratelimit_wait_ms(rl, 5000), 0);
    ratelimit_free(rl);
}

Test(ratelimit, never_more_than_max_in_any_window_when_obeyed)
{
    RateLimit *rl = ratelimit_new(10, 1000);
    uint64_t now = 0;
    uint64_t sent[100];
    for (int i = 0; i < 100; i++) {
        now += ratelimit_wait_ms(rl, now);
        ratelimit_record(rl, now);
        sent[i] = now;
        now += 7;
    }
    for (int i = 10; i < 100; i++)
        cr_assert_geq(sent[i] - sent[i - 10], 1000, "request %d", i);
    ratelimit_free(rl);
}

Test(ratelimit, a_429_pauses_everyone_until_retry_after)
{
    RateLimit *rl = ratelimit_new(100, 1000);
    ratelimit_record(rl, 0);
    ratelimit_pause_until(rl, 5000);
    cr_assert_eq(ratelimit_wait_ms(rl, 10), 4990);
    ratelimit_pause_until(rl, 3000);   /* never shortens */
    cr_assert_eq(ratelimit_wait_ms(rl, 10), 4990);
    cr_assert_eq(ratelimit_wait_ms(rl, 5000), 0);
    ratelimit_free(rl);
}

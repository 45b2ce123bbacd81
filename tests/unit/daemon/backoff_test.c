/*
 * Unit tests for daemon/backoff: the doubling, the cap, the jitter bounds, reset.
 */
#include <criterion/criterion.h>

#include "daemon/backoff.h"

Test(backoff, doubles_up_to_the_cap_with_jitter_within_25_percent)
{
    Backoff b;
    backoff_init(&b, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    int64_t expect[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        Backoff lo = b, hi = b;
        cr_assert_eq(backoff_next(&lo, 0), expect[i] * 75 / 100, "attempt %zu, lowest draw", i);
        cr_assert_eq(backoff_next(&hi, 50), expect[i] * 125 / 100, "attempt %zu, highest draw", i);
        cr_assert_eq(backoff_next(&b, 25 + 51 * 7), expect[i], "attempt %zu, middle draw", i);
        cr_assert_eq(b.attempts, i + 1);
    }
    backoff_reset(&b);
    cr_assert_eq(b.attempts, 0);
    cr_assert_eq(backoff_next(&b, 25), 500);
}

Test(backoff, odd_bounds)
{
    Backoff b;
    backoff_init(&b, 0, 0); /* nonsense in, a 1 ms floor out */
    cr_assert_eq(b.min_ms, 1);
    cr_assert_eq(b.max_ms, 1);
    cr_assert_eq(backoff_next(&b, 25), 1);
    cr_assert_eq(backoff_next(&b, 25), 1);
    backoff_init(&b, 700, 1000);
    cr_assert_eq(backoff_next(&b, 25), 700);
    cr_assert_eq(backoff_next(&b, 25), 1000, "capped, not 1400");
}

/* Unit tests for core/clock: the wall clock is the Unix epoch in the units it says, and the
 * monotonic clock never goes backwards. */
#include <criterion/criterion.h>
#include <time.h>

#include "core/clock.h"

Test(clock, wall_is_the_unix_epoch_in_us_and_ms)
{
    /* time() reads the kernel's coarse clock, which may trail the precise one by a tick across
     * a second's boundary: one second of slack each way */
    int64_t before_s = (int64_t)time(NULL) - 1;
    int64_t us = clock_wall_us(), ms = clock_wall_ms();
    int64_t after_s = (int64_t)time(NULL) + 1;
    cr_assert(us / 1000000 >= before_s && us / 1000000 <= after_s, "%lld", (long long)us);
    cr_assert(ms / 1000 >= before_s && ms / 1000 <= after_s, "%lld", (long long)ms);
    cr_assert(ms >= us / 1000 && ms - us / 1000 < 1000);
}

Test(clock, monotonic_never_goes_back)
{
    int64_t last = clock_mono_us();
    for (int i = 0; i < 1000; i++) {
        int64_t now = clock_mono_us();
        cr_assert_geq(now, last);
        last = now;
    }
    int64_t ms = clock_mono_ms(); /* read first: the arguments' order of evaluation is unspecified */
    cr_assert_leq(ms, clock_mono_us() / 1000);
}

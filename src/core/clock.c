/*
 * core/clock.c - see clock.h.
 *
 * clock_gettime in microseconds; the millisecond forms divide those. Monotonic
 * time is for intervals and deadlines, wall time only for what is shown or stored.
 */
#include "core/clock.h"

#include <time.h>

int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

int64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_wall_ms(void)
{
    return clock_wall_us() / 1000;
}

/*
 * net/clock.c - the system NetClock.
 *
 * The production NetClock: monotonic milliseconds, wall seconds, a nanosleep that
 * resumes after EINTR, and random numbers from OpenSSL's RAND_bytes. They only
 * jitter retry delays, so if RAND_bytes fails the clock's nanoseconds will do.
 * The Cloudflare and R2 clients take any NetClock; this is the real one.
 */
#include "net/clock.h"

#include <errno.h>
#include <openssl/rand.h>
#include <time.h>

#include "core/clock.h"

static uint64_t sys_mono_ms(void *user)
{
    (void)user;
    return (uint64_t)clock_mono_ms();
}

static int64_t sys_wall_s(void *user)
{
    (void)user;
    return clock_wall_us() / 1000000;
}

static void sys_sleep_ms(void *user, uint64_t ms)
{
    (void)user;
    struct timespec req = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

static uint32_t sys_random_u32(void *user)
{
    (void)user;
    unsigned char b[4] = {0};
    if (RAND_bytes(b, (int)sizeof b) != 1) {
        /* jitter only: fall back to the clock's low bits */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint32_t)ts.tv_nsec;
    }
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static const NetClock system_clock = {sys_mono_ms, sys_wall_s, sys_sleep_ms, sys_random_u32, 0};

const NetClock *net_clock_system(void) { return &system_clock; }

/*
 * net/clock.h - the time, sleep and randomness seam for the network layer.
 *
 * Owns:     NetClock, the injectable source of monotonic time, wall time,
 *           sleeping and jitter that edge modules (cf/client, cf/r2) use, so
 *           the pure policies (net/retry, net/ratelimit) can be driven by a
 *           fake clock in tests.
 * Not mine: any policy; this only reads clocks.
 * Pure:     no (the system clock reads CLOCK_MONOTONIC/CLOCK_REALTIME,
 *           sleeps with nanosleep and draws jitter from libcrypto's RAND).
 */
#ifndef WAL2EDGE_NET_CLOCK_H
#define WAL2EDGE_NET_CLOCK_H

#include <stdint.h>

typedef struct NetClock {
    uint64_t (*mono_ms)(void *user);          /* monotonic milliseconds */
    int64_t (*wall_s)(void *user);            /* seconds since the Unix epoch (UTC) */
    void (*sleep_ms)(void *user, uint64_t ms);
    uint32_t (*random_u32)(void *user);       /* jitter source; need not be cryptographic */
    void *user;
} NetClock;

/* The real clock. Borrowed, static, never NULL. */
const NetClock *net_clock_system(void);

#endif

/*
 * daemon/backoff.h - exponential backoff with jitter for the daemon's own
 *                    retries: reconnecting to Postgres (also when it is down at
 *                    start) and retrying a lagging target.
 *
 * Owns:     the delay sequence min, 2×min, … capped at max, each drawn at
 *           75 %..125 % so that many bridges (or targets) do not retry in step.
 * Not mine: sleeping and the clock (callers), HTTP retries (net/retry).
 * Pure:     yes: the jitter draw is a parameter.
 */
#ifndef WAL2EDGE_DAEMON_BACKOFF_H
#define WAL2EDGE_DAEMON_BACKOFF_H

#include <stdint.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

typedef struct Backoff {
    int64_t min_ms;
    int64_t max_ms;
    int64_t next_ms;               /* the un-jittered delay the next call returns */
    unsigned attempts;             /* delays handed out since the last reset */
} Backoff;

void backoff_init(Backoff *b, int64_t min_ms, int64_t max_ms);
/* Progress was made: the next delay is min again. */
void backoff_reset(Backoff *b);
/* The delay to wait now (next × (75 + draw % 51) %), then next doubles up to max. */
int64_t backoff_next(Backoff *b, uint32_t draw);

#endif

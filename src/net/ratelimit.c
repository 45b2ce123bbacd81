/*
 * net/ratelimit.c - sliding-window request log (see ratelimit.h).
 *
 * A ring of the last max_requests send times: the next request may go once
 * the oldest of them has left the window, i.e. at ring[oldest] + window.
 */
#include "net/ratelimit.h"

#include <stdlib.h>

#include "core/mem.h"

struct RateLimit {
    unsigned max;
    uint64_t window_ms;
    uint64_t *ring;       /* send times, oldest at `head` once full */
    unsigned count;       /* entries in use (≤ max) */
    unsigned head;        /* index of the oldest entry */
    uint64_t pause_until;
};

RateLimit *ratelimit_new(unsigned max_requests, uint64_t window_ms)
{
    RateLimit *rl = xcalloc(1, sizeof *rl);
    rl->max = max_requests ? max_requests : RATELIMIT_DEFAULT_REQUESTS;
    rl->window_ms = window_ms ? window_ms : RATELIMIT_DEFAULT_WINDOW_MS;
    rl->ring = xcalloc(rl->max, sizeof *rl->ring);
    return rl;
}

void ratelimit_free(RateLimit *rl)
{
    if (!rl)
        return;
    free(rl->ring);
    free(rl);
}

unsigned ratelimit_max_requests(const RateLimit *rl) { return rl->max; }
uint64_t ratelimit_window_ms(const RateLimit *rl) { return rl->window_ms; }

unsigned ratelimit_in_window(const RateLimit *rl, uint64_t now_ms)
{
    unsigned n = 0;
    for (unsigned i = 0; i < rl->count; i++) {
        uint64_t t = rl->ring[(rl->head + i) % rl->max];
        if (t + rl->window_ms > now_ms)
            n++;
    }
    return n;
}

uint64_t ratelimit_wait_ms(const RateLimit *rl, uint64_t now_ms)
{
    uint64_t wait = rl->pause_until > now_ms ? rl->pause_until - now_ms : 0;
    if (rl->count == rl->max) {
        uint64_t free_at = rl->ring[rl->head] + rl->window_ms;
        if (free_at > now_ms && free_at - now_ms > wait)
            wait = free_at - now_ms;
    }
    return wait;
}

void ratelimit_record(RateLimit *rl, uint64_t now_ms)
{
    if (rl->count < rl->max) {
        rl->ring[(rl->head + rl->count) % rl->max] = now_ms;
        rl->count++;
        return;
    }
    rl->ring[rl->head] = now_ms;   /* overwrite the oldest */
    rl->head = (rl->head + 1) % rl->max;
}

void ratelimit_pause_until(RateLimit *rl, uint64_t until_ms)
{
    if (until_ms > rl->pause_until)
        rl->pause_until = until_ms;
}

/*
 * net/ratelimit.h - the one request budget for the Cloudflare REST API.
 *
 * Owns:     a sliding-window log of the last `max_requests` send times (the
 *           account limit is 1,200 requests per 5 minutes per token, counted
 *           across D1, KV and Queues push; cloudflare-api.md §5), and a pause:
 *           a 429 from the server stops every caller until its Retry-After.
 *           The window is exact, so a client that obeys it never trips the
 *           server's own count (unless something else spends the same token:
 *           leave headroom with a lower max_requests).
 * Not mine: sleeping, the clock; whether a request is REST at all (the caller
 *           decides: R2's S3 API and Queues pull/ack are not counted).
 * Pure:     yes: `now_ms` (monotonic) is a parameter.
 * Threads:  not thread-safe; one RateLimit per process, shared by the single
 *           CfClient that all REST targets use (or guarded by its owner).
 */
#ifndef WAL2EDGE_NET_RATELIMIT_H
#define WAL2EDGE_NET_RATELIMIT_H

#include <stdint.h>

#define RATELIMIT_DEFAULT_REQUESTS 1200u
#define RATELIMIT_DEFAULT_WINDOW_MS 300000u

typedef struct RateLimit RateLimit;

/* Owned. max_requests 0 → default; window_ms 0 → default. */
RateLimit *ratelimit_new(unsigned max_requests, uint64_t window_ms);
void ratelimit_free(RateLimit *rl);

/* Milliseconds to wait before the next request may be sent (0: now). */
uint64_t ratelimit_wait_ms(const RateLimit *rl, uint64_t now_ms);

/* A request was sent at now_ms (call right before sending). */
void ratelimit_record(RateLimit *rl, uint64_t now_ms);

/* The server said 429: nobody sends before until_ms. Only extends a pause. */
void ratelimit_pause_until(RateLimit *rl, uint64_t until_ms);

/* Requests counted in the window ending at now_ms. */
unsigned ratelimit_in_window(const RateLimit *rl, uint64_t now_ms);

unsigned ratelimit_max_requests(const RateLimit *rl);
uint64_t ratelimit_window_ms(const RateLimit *rl);

#endif

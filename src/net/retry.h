/*
 * net/retry.h - when to retry an HTTP call and how long to wait first.
 *
 * Owns:     the retry policy of every Cloudflare call (REST and R2), after the
 *           official SDK (cloudflare-api.md §1): honour `x-should-retry:
 *           true|false` when present; else retry 408, 409, 429, every 5xx and
 *           transport errors; any other 4xx is permanent. The delay is
 *           `retry-after-ms`, else `Retry-After` (seconds or an HTTP-date),
 *           else exponential backoff base × 2^(n-1) capped, minus up to
 *           jitter_pct % of jitter. Attempts and total time are capped.
 * Not mine: sleeping, the clock, the rate budget (net/ratelimit).
 * Pure:     yes: `now` and the jitter draw are parameters.
 */
#ifndef WAL2EDGE_NET_RETRY_H
#define WAL2EDGE_NET_RETRY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct RetryPolicy {
    unsigned max_attempts;        /* attempts in all, the first included (default 5) */
    uint64_t base_delay_ms;       /* first backoff (default 500) */
    uint64_t max_delay_ms;        /* backoff cap (default 8000) */
    uint64_t max_total_ms;        /* no new attempt would start after this much time (default 120000) */
    unsigned jitter_pct;          /* 0..100, backoff is reduced by up to this share (default 25) */
} RetryPolicy;

void retry_policy_default(RetryPolicy *p);

/* What one attempt produced. */
typedef struct RetryInput {
    bool transport_error;         /* no HTTP status: connect/reset/timeout */
    bool transport_retryable;     /* err_retryable() of that error */
    long status;                  /* HTTP status when !transport_error */
    const char *x_should_retry;   /* header values; NULL when absent */
    const char *retry_after_ms;
    const char *retry_after;
} RetryInput;

typedef struct RetryDecision {
    bool retry;
    uint64_t delay_ms;
    bool server_delay;            /* the delay came from retry-after(-ms) */
    bool budget_exhausted;        /* retryable, but attempts or total time ran out */
} RetryDecision;

/* 408, 409, 429 or 5xx. */
bool retry_status_retryable(long status);

/* Classification only (x-should-retry first, then status / transport). */
bool retry_is_retryable(const RetryInput *in);

/* Parse a server-requested delay: retry-after-ms (non-negative number of ms,
 * fractions allowed), else Retry-After as delta-seconds or an IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT") relative to now_wall_s. false when
 * neither is present and valid. A date in the past gives 0. */
bool retry_server_delay_ms(const char *retry_after_ms, const char *retry_after, int64_t now_wall_s,
                           uint64_t *out_ms);

/* Backoff for the retry after `failures` failed attempts (1 = after the first):
 * min(base × 2^(failures-1), max) × (1 - jitter), jitter = rand/2^32 × jitter_pct %. */
uint64_t retry_backoff_ms(const RetryPolicy *p, unsigned failures, uint32_t rand_u32);

/* The decision after `attempts_made` attempts (≥ 1) and `elapsed_ms` since the
 * first began. A server delay that would end past max_total_ms stops retrying. */
RetryDecision retry_decide(const RetryPolicy *p, const RetryInput *in, unsigned attempts_made,
                           uint64_t elapsed_ms, int64_t now_wall_s, uint32_t rand_u32);

/* Pure: parse an IMF-fixdate to seconds since the epoch. */
bool retry_parse_http_date(const char *s, int64_t *out);

#endif

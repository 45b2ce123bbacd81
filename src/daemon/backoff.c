/*
 * daemon/backoff.c - see backoff.h. The delay doubles per attempt up to the
 * maximum; each one drawn is 75..125 % of it (the caller's random draw), so
 * many clients retrying at once spread out.
 */
#include "daemon/backoff.h"

void backoff_init(Backoff *b, int64_t min_ms, int64_t max_ms)
{
    b->min_ms = min_ms > 0 ? min_ms : 1;
    b->max_ms = max_ms > b->min_ms ? max_ms : b->min_ms;
    backoff_reset(b);
}

void backoff_reset(Backoff *b)
{
    b->next_ms = b->min_ms;
    b->attempts = 0;
}

int64_t backoff_next(Backoff *b, uint32_t draw)
{
    int64_t delay = b->next_ms * (75 + (int64_t)(draw % 51)) / 100;
    b->next_ms = b->next_ms > b->max_ms / 2 ? b->max_ms : b->next_ms * 2;
    b->attempts++;
    return delay;
}

/*
 * daemon/resync_hold.c - see resync_hold.h. Only one window is tracked, as the
 * targets track one: a low watermark replaces an open one; a high one closes
 * the hold only when it is the open window's (same run, chunk and attempt:
 * pipeline/resync_same_window).
 */
#include "daemon/resync_hold.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline/resync.h"

void resync_hold_clear(ResyncHold *h)
{
    free(h->run);
    free(h->attempt);
    memset(h, 0, sizeof *h);
}

void resync_hold_change(ResyncHold *h, const Change *c, int64_t now_ms)
{
    bool low;
    char *run, *attempt;
    long chunk;
    if (c->op != CHANGE_MESSAGE || !resync_watermark(c, &low, &run, &attempt, &chunk))
        return;
    if (low) {
        resync_hold_clear(h);
        h->run = run;
        h->attempt = attempt;
        h->chunk = chunk;
        h->since_ms = now_ms;
        return;
    }
    if (resync_same_window(h->run, h->chunk, h->attempt, run, chunk, attempt))
        h->closing = true;
    free(run);
    free(attempt);
}

bool resync_hold_commit(ResyncHold *h)
{
    if (!h->closing)
        return false;
    resync_hold_clear(h);
    return true;
}

void resync_hold_rollback(ResyncHold *h) { h->closing = false; }

bool resync_hold_active(ResyncHold *h, int64_t now_ms, bool *expired)
{
    *expired = false;
    if (!h->run)
        return false;
    if (now_ms - h->since_ms <= RESYNC_HOLD_MAX_MS)
        return true;
    resync_hold_clear(h);
    *expired = true;
    return false;
}

/*
 * daemon/lease.c - see lease.h.
 *
 * All arithmetic on one monotonic clock: heard is when the last status that the
 * server demonstrably received went out (pg/stream), so the server's own record of
 * our last reply is no earlier, and its walsender lives at least T past it. With
 * the reader pinging every T/6, a healthy stream keeps heard within T/6 and a round
 * trip of now, well before the deadline (T - margin: 1.7 s for T = 3 s, 53 s for 60 s).
 */
#include "daemon/lease.h"

#include <string.h>

#include "core/str.h"

bool lease_parse_timeout(const char *text, int64_t *ms, Err *err)
{
    size_t n = 0;
    while (text[n] >= '0' && text[n] <= '9')
        n++;
    char digits[24];
    if (n == 0 || n >= sizeof digits)
        return err_set(err, ERR_PROTOCOL, "wal_sender_timeout \"%s\" is not a duration", text);
    memcpy(digits, text, n);
    digits[n] = '\0';
    int64_t v;
    if (!str_to_i64(digits, &v))
        return err_set(err, ERR_PROTOCOL, "wal_sender_timeout \"%s\" is not a duration", text);
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(text + n, units[i].unit) == 0) {
            if (v > INT64_MAX / units[i].ms)
                break;
            *ms = v * units[i].ms;
            return true;
        }
    return err_set(err, ERR_PROTOCOL, "wal_sender_timeout \"%s\" is not a duration", text);
}

bool lease_start(Lease *l, int64_t timeout_ms, Err *err)
{
    l->timeout_ms = 0;
    if (timeout_ms > 0 && timeout_ms < LEASE_MIN_TIMEOUT_MS)
        return err_set(err, ERR_CONFIG,
                       "wal_sender_timeout %lld ms is too short for the replication lease (at least %d ms: the "
                       "active stops writing %d ms before the walsender may give the slot up); raise it in the "
                       "server's settings or the DSN's options",
                       (long long)timeout_ms, LEASE_MIN_TIMEOUT_MS, LEASE_MIN_SLACK_MS + LEASE_CUT_GRAIN_MS);
    l->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    return true;
}

bool lease_on(const Lease *l) { return l->timeout_ms > 0; }

int64_t lease_slack_ms(const Lease *l)
{
    return l->timeout_ms / 10 > LEASE_MIN_SLACK_MS ? l->timeout_ms / 10 : LEASE_MIN_SLACK_MS;
}

int64_t lease_margin_ms(const Lease *l) { return lease_slack_ms(l) + LEASE_CUT_GRAIN_MS; }

int64_t lease_deadline_ms(const Lease *l, int64_t heard_ms)
{
    return lease_on(l) ? heard_ms + l->timeout_ms - lease_margin_ms(l) : INT64_MAX;
}

bool lease_check(const Lease *l, int64_t heard_ms, int64_t now_ms, Err *err)
{
    if (now_ms < lease_deadline_ms(l, heard_ms))
        return true;
    return err_set(err, ERR_LEASE,
                   "the replication lease lapsed: the walsender last heard this instance %lld ms ago, and with "
                   "wal_sender_timeout %lld ms it may give the slot up %lld ms from now - too soon to start "
                   "writing to the targets (it needs %lld ms left); what was not flushed is left to whichever "
                   "instance streams next",
                   (long long)(now_ms - heard_ms), (long long)l->timeout_ms,
                   (long long)(heard_ms + l->timeout_ms - now_ms), (long long)lease_margin_ms(l));
}

int64_t lease_ping_ms(const Lease *l) { return l->timeout_ms / 6; }

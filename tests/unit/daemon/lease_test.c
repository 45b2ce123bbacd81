/*
 * Unit tests for daemon/lease: wal_sender_timeout's text as SHOW prints it, the lease's
 * numbers (its deadline, the slack, the margin, the ping interval), a timeout too short
 * for it refused, a lapse refused with ERR_LEASE and its numbers, no lease when the server
 * never times out.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "daemon/lease.h"

static int64_t parse(const char *text)
{
    int64_t ms = -1;
    Err err;
    cr_assert(lease_parse_timeout(text, &ms, &err), "%s: %s", text, err.msg);
    return ms;
}

Test(lease, wal_sender_timeout_as_show_prints_it)
{
    cr_assert_eq(parse("60s"), 60000);
    cr_assert_eq(parse("3s"), 3000);
    cr_assert_eq(parse("1min"), 60000);
    cr_assert_eq(parse("500ms"), 500);
    cr_assert_eq(parse("2500"), 2500, "no unit: milliseconds");
    cr_assert_eq(parse("2h"), 7200000);
    cr_assert_eq(parse("1d"), 86400000);
    cr_assert_eq(parse("0"), 0, "0: the server never ends a silent walsender");
    const char *bad[] = {"", "s", "3 s", "-1", "5x", "1.5s", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        Err err;
        cr_assert_not(lease_parse_timeout(bad[i], &ms, &err), "\"%s\" parsed", bad[i]);
        cr_assert_eq(err.code, ERR_PROTOCOL);
        cr_assert(strstr(err.msg, "wal_sender_timeout"), "%s", err.msg);
    }
}

Test(lease, its_deadline_slack_and_margin)
{
    Lease l;
    Err err;
    cr_assert(lease_start(&l, 3000, &err), "%s", err.msg);
    cr_assert(lease_on(&l));
    cr_assert_eq(lease_slack_ms(&l), 300, "T/10");
    cr_assert_eq(lease_margin_ms(&l), 300 + LEASE_CUT_GRAIN_MS, "the slack and how late a running request is cut");
    cr_assert_eq(lease_deadline_ms(&l, 10000), 11700, "heard + T - margin");
    cr_assert_eq(lease_ping_ms(&l), 500, "T/6");
    cr_assert(lease_start(&l, 2000, &err), "%s", err.msg);
    cr_assert_eq(lease_slack_ms(&l), LEASE_MIN_SLACK_MS, "never under the minimum");
    cr_assert(lease_start(&l, 60000, &err), "%s", err.msg);
    cr_assert_eq(lease_deadline_ms(&l, 0), 53000);
    cr_assert_eq(lease_ping_ms(&l), 10000);
}

Test(lease, a_timeout_too_short_to_hold_it_is_refused)
{
    Lease l;
    Err err;
    cr_assert_not(lease_start(&l, 1999, &err));
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert(strstr(err.msg, "wal_sender_timeout 1999 ms is too short"), "%s", err.msg);
    cr_assert_not(lease_on(&l));
}

Test(lease, a_flush_starts_only_before_the_deadline)
{
    Lease l;
    Err err;
    cr_assert(lease_start(&l, 3000, &err));
    /* heard at 10000: the deadline is 11700 */
    cr_assert(lease_check(&l, 10000, 10000, &err));
    cr_assert(lease_check(&l, 10000, 11699, &err), "%s", err.msg);
    cr_assert_not(lease_check(&l, 10000, 11700, &err));
    cr_assert_eq(err.code, ERR_LEASE);
    cr_assert_not(err_retryable(&err), "a lapse is not retried in place: the targets are built again");
    cr_assert(strstr(err.msg, "last heard this instance 1700 ms ago"), "%s", err.msg);
    cr_assert(strstr(err.msg, "wal_sender_timeout 3000 ms"), "%s", err.msg);
    cr_assert(strstr(err.msg, "1300 ms from now"), "%s", err.msg);
    cr_assert(strstr(err.msg, "needs 1300 ms left"), "%s", err.msg);
    cr_assert_not(lease_check(&l, 10000, 60000, &err), "long lapsed");
}

Test(lease, no_lease_when_the_server_never_times_out)
{
    Lease l;
    Err err;
    cr_assert(lease_start(&l, 0, &err));
    cr_assert_not(lease_on(&l));
    cr_assert(lease_check(&l, 0, INT64_MAX / 2, &err));
    cr_assert_eq(lease_deadline_ms(&l, 0), INT64_MAX);
    cr_assert_eq(lease_ping_ms(&l), 0, "no pings");
}

/*
 * Unit tests for daemon/lease: wal_sender_timeout's text as SHOW prints it, the lease's
 * numbers (its end, the slack and the margin a flush needs), a lapse refused with
 * ERR_LEASE and its numbers, no lease when the server never times out, and when the loop
 * pings a quiet stream.
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

Test(lease, its_end_slack_and_margin)
{
    Lease l;
    lease_start(&l, 3000);
    cr_assert(lease_on(&l));
    cr_assert_eq(lease_slack_ms(&l), 300, "T/10");
    cr_assert_eq(lease_margin_ms(&l), 750, "T/4");
    cr_assert_eq(lease_end_ms(&l, 10000), 12700, "heard + T - slack");
    lease_start(&l, 1000);
    cr_assert_eq(lease_slack_ms(&l), LEASE_MIN_SLACK_MS, "never under the minimum");
    lease_start(&l, 60000);
    cr_assert_eq(lease_end_ms(&l, 0), 54000);
}

Test(lease, a_flush_starts_only_while_the_margin_is_left)
{
    Lease l;
    lease_start(&l, 3000);
    Err err;
    /* heard at 10000: the lease ends at 12700, a flush needs 750 ms of it */
    cr_assert(lease_check(&l, 10000, 10000, &err));
    cr_assert(lease_check(&l, 10000, 11949, &err), "%s", err.msg);
    cr_assert_not(lease_check(&l, 10000, 11950, &err));
    cr_assert_eq(err.code, ERR_LEASE);
    cr_assert_not(err_retryable(&err), "a lapse is not retried in place: the targets are built again");
    cr_assert(strstr(err.msg, "last heard this instance 1950 ms ago"), "%s", err.msg);
    cr_assert(strstr(err.msg, "wal_sender_timeout 3000 ms"), "%s", err.msg);
    cr_assert(strstr(err.msg, "1050 ms from now"), "%s", err.msg);
    cr_assert_not(lease_check(&l, 10000, 60000, &err), "long lapsed");
}

Test(lease, no_lease_when_the_server_never_times_out)
{
    Lease l;
    lease_start(&l, 0);
    cr_assert_not(lease_on(&l));
    Err err;
    cr_assert(lease_check(&l, 0, INT64_MAX / 2, &err));
    cr_assert_eq(lease_end_ms(&l, 0), INT64_MAX);
    cr_assert_not(lease_ping_due(&l, 0, 1000000));
    cr_assert_eq(lease_wait_ms(&l, 0, 1000000, 1000), 1000);
}

Test(lease, a_quiet_stream_is_pinged_every_quarter_of_the_timeout)
{
    Lease l;
    lease_start(&l, 4000);
    l.last_ping_ms = 0;
    cr_assert_not(lease_ping_due(&l, 0, 999), "heard less than T/4 ago");
    cr_assert_eq(lease_wait_ms(&l, 0, 500, 1000), 500, "until the ping is due");
    cr_assert(lease_ping_due(&l, 0, 1000));
    cr_assert_not(lease_ping_due(&l, 0, 1500), "asked 500 ms ago");
    cr_assert_eq(lease_wait_ms(&l, 0, 1500, 1000), 500);
    cr_assert(lease_ping_due(&l, 0, 2000), "no answer yet: ask again");
    cr_assert_not(lease_ping_due(&l, 2100, 2500), "heard again");
    cr_assert_eq(lease_wait_ms(&l, 2100, 3100, 1000), 10, "overdue: look again soon");
}

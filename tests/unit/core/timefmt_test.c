/* Unit tests for core/timefmt. */
#include <criterion/criterion.h>

#include <time.h>

#include "core/timefmt.h"

Test(timefmt, iso_with_each_precision)
{
    char out[TIMEFMT_ISO_MAX];
    cr_assert_str_eq(timefmt_iso(1764316800123456, 6, out), "2025-11-28T08:00:00.123456Z");
    cr_assert_str_eq(timefmt_iso(1764316800123456, 3, out), "2025-11-28T08:00:00.123Z");
    cr_assert_str_eq(timefmt_iso(1764316800123456, 0, out), "2025-11-28T08:00:00Z");
    cr_assert_str_eq(timefmt_iso(0, 6, out), "1970-01-01T00:00:00.000000Z");
    cr_assert_str_eq(timefmt_iso(-1, 6, out), "1969-12-31T23:59:59.999999Z", "before the epoch");
    cr_assert_str_eq(timefmt_iso(5, 3, out), "1970-01-01T00:00:00.000Z");
}

Test(timefmt, fields_as_strftime_writes_them)
{
    char out[TIMEFMT_ISO_MAX], want[64];
    /* 1900 to 9999 in uneven steps, every field's digits and carries */
    for (int64_t secs = -2208988800LL; secs < 253402300799LL; secs += 86400LL * 37 + 3671) {
        time_t t = (time_t)secs;
        struct tm tm;
        cr_assert(gmtime_r(&t, &tm));
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cr_assert_str_eq(timefmt_iso(secs * 1000000, 0, out), want);
    }
    /* past year 9999 strftime's own digits */
    cr_assert_str_eq(timefmt_iso(253402300800LL * 1000000, 0, out), "10000-01-01T00:00:00Z");
}

/* timefmt_iso of secs (no fraction) is what strftime writes from gmtime_r. */
static void expect_as_strftime(int64_t secs)
{
    char out[TIMEFMT_ISO_MAX], want[64];
    time_t t = (time_t)secs;
    struct tm tm;
    cr_assert(gmtime_r(&t, &tm));
    strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cr_assert_str_eq(timefmt_iso(secs * 1000000, 0, out), want);
}

Test(timefmt, years_before_1900_and_times_before_the_epoch_as_strftime_writes_them)
{
    /* years 1000 to 1900 (the date is computed, not gmtime_r's; strftime writes no leading zeros
     * below 1000, timefmt four digits) and around the epoch, by odd steps */
    for (int64_t secs = -30610224000LL; secs < -2208988800LL; secs += 86400LL * 997 + 7919)
        expect_as_strftime(secs);
    for (int64_t secs = -200000; secs < 200000; secs += 997)
        expect_as_strftime(secs);
}

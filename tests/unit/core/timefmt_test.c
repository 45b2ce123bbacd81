/* Unit tests for core/timefmt. */
#include <criterion/criterion.h>

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

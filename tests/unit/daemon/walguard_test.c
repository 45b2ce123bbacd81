/* Unit tests for daemon/walguard's verdict: lost is an error, unreserved or too much retained WAL a warning. */
#include <criterion/criterion.h>
#include <string.h>

#include "daemon/walguard.h"

Test(walguard, judge)
{
    char what[256];
    cr_assert_eq(walguard_judge("reserved", 100, 1000, what, sizeof what), WALGUARD_OK);
    cr_assert_str_eq(what, "");
    cr_assert_eq(walguard_judge("extended", 1000, 1000, what, sizeof what), WALGUARD_OK, "at the limit is fine");
    cr_assert_eq(walguard_judge("reserved", 1001, 1000, what, sizeof what), WALGUARD_WARNING);
    cr_assert_str_eq(what, "retains 1001 bytes of WAL, over source.max_retained_wal_bytes (1000)");
    cr_assert_eq(walguard_judge("unreserved", 5, 1000, what, sizeof what), WALGUARD_WARNING);
    cr_assert(strstr(what, "is unreserved"), "%s", what);
    cr_assert_eq(walguard_judge("lost", 5000, 1000, what, sizeof what), WALGUARD_ERROR, "lost outranks the size");
    cr_assert(strstr(what, "is lost"), "%s", what);
    cr_assert_eq(walguard_judge("", -1, 1000, NULL, 0), WALGUARD_OK, "unknown figures are no finding");
}

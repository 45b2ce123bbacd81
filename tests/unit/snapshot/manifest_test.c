/* Unit tests for snapshot/manifest's id rule, which `snapshot --id` and `warm --from-snapshot`
 * both apply: the id names a directory, so "." and ".." and any '/' are refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "snapshot/manifest.h"

Test(manifest, snapshot_ids)
{
    const char *good[] = {"s1", "2026-12-02T03.40.00Z", "a_b-c.d", "...", "x."};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(manifest_id_valid(good[i]), "%s", good[i]);
    char longest[61];
    memset(longest, 'a', 60);
    longest[60] = '\0';
    cr_assert(manifest_id_valid(longest));
    const char *bad[] = {"", ".", "..", "a/b", "../x", "a b", "é", "a\\b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(manifest_id_valid(bad[i]), "%s", bad[i]);
    char too_long[62];
    memset(too_long, 'a', 61);
    too_long[61] = '\0';
    cr_assert_not(manifest_id_valid(too_long));
    cr_assert_not(manifest_id_valid(NULL));
}

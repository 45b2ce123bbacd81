/*
 * Unit tests for daemon/resync_hold: from a resync chunk's low watermark until the transaction of
 * its own high watermark commits, the targets are not flushed (a checkpoint between the two would
 * make a restart after a crash leave the chunk out).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "daemon/resync_hold.h"
#include "pipeline/resync.h"

static Change message(const char *json)
{
    Change c = {.op = CHANGE_MESSAGE, .message_transactional = true};
    c.message_prefix = (PgoStr){RESYNC_PREFIX, strlen(RESYNC_PREFIX)};
    c.message_content = (const uint8_t *)json;
    c.message_len = (uint32_t)strlen(json);
    return c;
}

Test(resync_hold, held_from_the_low_watermark_until_its_high_one_commits)
{
    ResyncHold h = {0};
    bool expired;
    Change low = message("{\"phase\":\"low\",\"run\":\"r\",\"table\":\"public.t\",\"chunk\":4}");
    Change high = message("{\"phase\":\"high\",\"run\":\"r\",\"table\":\"public.t\",\"chunk\":4,\"rows\":[]}");
    Change other = message("{\"phase\":\"high\",\"run\":\"r\",\"table\":\"public.t\",\"chunk\":3,\"rows\":[]}");
    Change row = {.op = CHANGE_INSERT};
    cr_assert_not(resync_hold_active(&h, 0, &expired), "nothing held before a low watermark");
    resync_hold_change(&h, &low, 100);
    cr_assert_not(resync_hold_commit(&h), "the low watermark's own commit does not release it");
    cr_assert(resync_hold_active(&h, 200, &expired));
    resync_hold_change(&h, &row, 300);
    resync_hold_change(&h, &other, 300);
    cr_assert_not(resync_hold_commit(&h), "another chunk's high watermark does not release it");
    cr_assert(resync_hold_active(&h, 400, &expired));
    resync_hold_change(&h, &high, 500);
    resync_hold_rollback(&h);
    cr_assert_not(resync_hold_commit(&h), "a high watermark whose transaction was abandoned comes again");
    cr_assert(resync_hold_active(&h, 600, &expired));
    resync_hold_change(&h, &high, 700);
    cr_assert(resync_hold_active(&h, 700, &expired), "still held until its transaction commits");
    cr_assert(resync_hold_commit(&h), "its commit releases it: flush now");
    cr_assert_not(resync_hold_active(&h, 800, &expired));
    cr_assert_not(expired);
}

/* a killed copy's last chunk, committed after the resumed copy's low watermark for it, is not the window's */
Test(resync_hold, another_attempt_at_the_chunk_does_not_release_it)
{
    ResyncHold h = {0};
    bool expired;
    Change low_b = message("{\"phase\":\"low\",\"run\":\"r\",\"attempt\":\"B\",\"table\":\"public.t\",\"chunk\":4}");
    Change high_a = message("{\"phase\":\"high\",\"run\":\"r\",\"attempt\":\"A\",\"table\":\"public.t\",\"chunk\":4}");
    Change high_b = message("{\"phase\":\"high\",\"run\":\"r\",\"attempt\":\"B\",\"table\":\"public.t\",\"chunk\":4}");
    resync_hold_change(&h, &low_b, 100);
    resync_hold_change(&h, &high_a, 200);
    cr_assert_not(resync_hold_commit(&h), "attempt A's high watermark leaves the hold on");
    cr_assert(resync_hold_active(&h, 300, &expired));
    resync_hold_change(&h, &high_b, 400);
    cr_assert(resync_hold_commit(&h), "its own one releases it");
    resync_hold_clear(&h);
}

Test(resync_hold, a_high_watermark_that_never_comes_releases_it_in_time)
{
    ResyncHold h = {0};
    bool expired;
    Change low = message("{\"phase\":\"low\",\"run\":\"r\",\"table\":\"public.t\",\"chunk\":1}");
    Change next = message("{\"phase\":\"low\",\"run\":\"s\",\"table\":\"public.t\",\"chunk\":1}");
    resync_hold_change(&h, &low, 1000);
    cr_assert(resync_hold_active(&h, 1000 + RESYNC_HOLD_MAX_MS, &expired));
    resync_hold_change(&h, &next, 5000); /* a resync started again: its window replaces the abandoned one */
    cr_assert(resync_hold_active(&h, 5000 + RESYNC_HOLD_MAX_MS, &expired));
    cr_assert_not(resync_hold_active(&h, 5001 + RESYNC_HOLD_MAX_MS, &expired));
    cr_assert(expired, "released, and said so");
    Change junk = message("not json");
    resync_hold_change(&h, &junk, 0);
    cr_assert_not(resync_hold_active(&h, 0, &expired));
    resync_hold_clear(&h);
}

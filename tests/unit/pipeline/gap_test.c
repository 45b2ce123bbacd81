/* pipeline/gap: a target's position against the slot's confirmed position and incarnation. */
#include <criterion/criterion.h>
#include <string.h>

#include "pipeline/gap.h"

#define SLOT_AT 0x5000
#define INC 0x1000

static GapInput own_only(Lsn commit, Lsn end)
{
    return (GapInput){.target = "d1.app", .own = {.commit_lsn = commit, .end_lsn = end}};
}

static GapInput recorded(Lsn commit, Lsn end, Lsn through, Lsn incarnation)
{
    GapInput in = own_only(commit, end);
    in.recorded = true;
    in.rec_commit_lsn = commit;
    in.rec_through_known = true;
    in.rec_through = through;
    in.rec_incarnation = incarnation;
    return in;
}

Test(gap, fresh_target_starts_at_the_slot)
{
    GapInput in = own_only(0, 0);
    cr_assert_eq(gap_judge(&in, SLOT_AT, INC).kind, GAP_FRESH);
    cr_assert_not(gap_is_gap(GAP_FRESH));
}

Test(gap, checkpoint_at_or_past_the_slot_is_fine)
{
    GapInput at = own_only(0x4ff0, SLOT_AT), past = own_only(0x6000, 0x6010);
    cr_assert_eq(gap_judge(&at, SLOT_AT, 0).kind, GAP_NONE);
    cr_assert_eq(gap_judge(&past, SLOT_AT, 0).kind, GAP_NONE);
}

Test(gap, checkpoint_behind_the_slot_is_a_gap)
{
    GapInput in = own_only(0x3000, 0x3010);
    GapVerdict v = gap_judge(&in, SLOT_AT, 0);
    cr_assert_eq(v.kind, GAP_BEHIND);
    cr_assert_eq(v.position, 0x3010);
    cr_assert(gap_is_gap(v.kind));
}

Test(gap, an_idle_advance_recorded_as_through_is_not_a_gap)
{
    GapInput in = recorded(0x3000, 0x3010, SLOT_AT, INC);
    GapVerdict v = gap_judge(&in, SLOT_AT, INC);
    cr_assert_eq(v.kind, GAP_NONE);
    cr_assert_eq(v.position, SLOT_AT);
}

Test(gap, through_of_an_earlier_incarnation_is_a_gap)
{
    GapInput in = recorded(0x3000, 0x3010, 0x9000, INC);
    cr_assert_eq(gap_judge(&in, SLOT_AT, 0x4800).kind, GAP_OTHER_INCARNATION);
}

Test(gap, a_target_moved_on_without_the_store_is_judged_by_its_own_checkpoint)
{
    /* migrate moved the checkpoint to 0x6000 after the store recorded 0x3000 on an old slot */
    GapInput in = recorded(0x3000, 0x3010, 0x3010, INC);
    in.own = (TargetCheckpoint){.commit_lsn = 0x6000, .end_lsn = 0x6000};
    GapVerdict v = gap_judge(&in, SLOT_AT, 0x4800);
    cr_assert_eq(v.kind, GAP_NONE);
    cr_assert_eq(v.incarnation, 0);
}

Test(gap, a_target_restored_to_an_older_checkpoint_ignores_the_record)
{
    GapInput in = recorded(0x4800, 0x4810, SLOT_AT, INC);
    in.own = (TargetCheckpoint){.commit_lsn = 0x3000, .end_lsn = 0x3010};
    cr_assert_eq(gap_judge(&in, SLOT_AT, INC).kind, GAP_BEHIND);
}

Test(gap, a_target_without_a_checkpoint_of_its_own_uses_the_record)
{
    GapInput behind = recorded(0x3000, 0x3010, 0x3010, INC), current = recorded(0x3000, 0x3010, SLOT_AT, INC);
    behind.own = current.own = (TargetCheckpoint){0};
    cr_assert_eq(gap_judge(&behind, SLOT_AT, INC).kind, GAP_BEHIND);
    cr_assert_eq(gap_judge(&current, SLOT_AT, INC).kind, GAP_NONE);
}

Test(gap, a_record_from_an_older_version_cannot_be_verified)
{
    GapInput in = recorded(0x3000, 0x3010, 0, 0);
    in.rec_through_known = false;
    cr_assert_eq(gap_judge(&in, SLOT_AT, INC).kind, GAP_UNVERIFIED);
    cr_assert_not(gap_is_gap(GAP_UNVERIFIED));
}

Test(gap, description_names_both_positions_and_the_way_back)
{
    struct {
        const char *target, *needle;
    } cases[] = {
        {"d1.app", "wal2edge migrate"},
        {"kv.cache", "wal2edge warm"},
        {"queues.changes", "wal2edge run --accept-gap queues.changes"},
        {"changelog", "wal2edge run --accept-gap changelog"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        GapInput in = own_only(0x3000, 0x3010);
        in.target = cases[i].target;
        GapVerdict v = gap_judge(&in, SLOT_AT, 0);
        Buf b;
        buf_init(&b, 4096);
        Err err;
        cr_assert(gap_describe(cases[i].target, &v, "w2e", SLOT_AT, &b, &err), "%s", err.msg);
        cr_assert(strstr(b.data, "0/3010"), "%s", b.data);
        cr_assert(strstr(b.data, "0/5000"), "%s", b.data);
        cr_assert(strstr(b.data, cases[i].needle), "%s", b.data);
        cr_assert(strncmp(b.data, cases[i].target, strlen(cases[i].target)) == 0, "%s", b.data);
        buf_free(&b);
    }
}

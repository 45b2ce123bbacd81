/* Unit tests for pg/slotcmd: the CREATE_REPLICATION_SLOT text each server release gets, and how
 * source.failover_slot becomes flags (FAILOVER only from 17; 17 drops two-phase for it, 18 keeps
 * both; true on an older server is refused by name). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "pg/slotcmd.h"

static void expect_cmd(int version, unsigned flags, const char *want)
{
    char *got = slotcmd_create(version, "\"w2e\"", flags);
    cr_assert_str_eq(got, want, "version %d flags %u", version, flags);
    free(got);
}

Test(slotcmd, command_text_by_release)
{
    expect_cmd(140010, PGSLOT_EXPORT_SNAPSHOT, "CREATE_REPLICATION_SLOT \"w2e\" LOGICAL pgoutput EXPORT_SNAPSHOT");
    expect_cmd(140010, PGSLOT_TEMPORARY, "CREATE_REPLICATION_SLOT \"w2e\" TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT");
    expect_cmd(150004, PGSLOT_TWO_PHASE, "CREATE_REPLICATION_SLOT \"w2e\" LOGICAL pgoutput (SNAPSHOT 'nothing', TWO_PHASE)");
    expect_cmd(150004, PGSLOT_TWO_PHASE | PGSLOT_FAILOVER,
               "CREATE_REPLICATION_SLOT \"w2e\" LOGICAL pgoutput (SNAPSHOT 'nothing', TWO_PHASE)");
    expect_cmd(170002, PGSLOT_FAILOVER | PGSLOT_EXPORT_SNAPSHOT,
               "CREATE_REPLICATION_SLOT \"w2e\" LOGICAL pgoutput (SNAPSHOT 'export', FAILOVER)");
    expect_cmd(180000, PGSLOT_TWO_PHASE | PGSLOT_FAILOVER,
               "CREATE_REPLICATION_SLOT \"w2e\" LOGICAL pgoutput (SNAPSHOT 'nothing', TWO_PHASE, FAILOVER)");
}

static unsigned flags_for(int version, SlotFailover setting)
{
    unsigned flags = 99;
    Err err;
    cr_assert(slotcmd_main_flags(version, setting, &flags, &err), "version %d setting %d: %s", version, setting,
              err.msg);
    return flags;
}

Test(slotcmd, main_slot_flags)
{
    cr_assert_eq(flags_for(140010, SLOT_FAILOVER_AUTO), 0u);
    cr_assert_eq(flags_for(150004, SLOT_FAILOVER_AUTO), (unsigned)PGSLOT_TWO_PHASE, "15: no failover option");
    cr_assert_eq(flags_for(160003, SLOT_FAILOVER_OFF), (unsigned)PGSLOT_TWO_PHASE);
    cr_assert_eq(flags_for(170002, SLOT_FAILOVER_AUTO), (unsigned)PGSLOT_FAILOVER, "17 refuses failover with two-phase");
    cr_assert_eq(flags_for(170002, SLOT_FAILOVER_ON), (unsigned)PGSLOT_FAILOVER);
    cr_assert_eq(flags_for(170002, SLOT_FAILOVER_OFF), (unsigned)PGSLOT_TWO_PHASE);
    cr_assert_eq(flags_for(180001, SLOT_FAILOVER_AUTO), (unsigned)(PGSLOT_FAILOVER | PGSLOT_TWO_PHASE));
}

Test(slotcmd, failover_asked_of_an_older_server_is_refused)
{
    unsigned flags = 99;
    Err err;
    cr_assert_not(slotcmd_main_flags(150004, SLOT_FAILOVER_ON, &flags, &err));
    cr_assert_eq(err.code, ERR_CONFIG);
    cr_assert_str_eq(err.msg, "source.failover_slot is true but the server is PostgreSQL 15.4: failover slots need "
                              "PostgreSQL 17 or later (remove the key or set it to false)");
    cr_assert_eq(flags, 0u);
}

Test(slotcmd, failover_label)
{
    cr_assert_str_eq(slotcmd_failover_label(150004, false), "n/a");
    cr_assert_str_eq(slotcmd_failover_label(160000, true), "n/a");
    cr_assert_str_eq(slotcmd_failover_label(170002, true), "yes");
    cr_assert_str_eq(slotcmd_failover_label(170002, false), "no");
}

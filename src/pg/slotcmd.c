/*
 * pg/slotcmd.c - see slotcmd.h. The command is assembled from the flags the
 * release understands: 14 takes the legacy EXPORT_SNAPSHOT/NOEXPORT_SNAPSHOT
 * keyword, 15+ the parenthesized option list, to which 17 adds FAILOVER. A
 * boolean option named without a value means true in that list.
 */
#include "pg/slotcmd.h"

#include "core/mem.h"

char *slotcmd_create(int server_version, const char *quoted_slot, unsigned flags)
{
    const char *temporary = flags & PGSLOT_TEMPORARY ? " TEMPORARY" : "";
    const char *snapshot = flags & PGSLOT_EXPORT_SNAPSHOT ? "export" : "nothing";
    if (server_version < 150000)
        return xasprintf("CREATE_REPLICATION_SLOT %s%s LOGICAL pgoutput %s", quoted_slot, temporary,
                         flags & PGSLOT_EXPORT_SNAPSHOT ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
    bool failover = (flags & PGSLOT_FAILOVER) && server_version >= SLOTCMD_FAILOVER_MIN_VERSION;
    return xasprintf("CREATE_REPLICATION_SLOT %s%s LOGICAL pgoutput (SNAPSHOT '%s'%s%s)", quoted_slot, temporary,
                     snapshot, flags & PGSLOT_TWO_PHASE ? ", TWO_PHASE" : "", failover ? ", FAILOVER" : "");
}

bool slotcmd_main_flags(int server_version, SlotFailover setting, unsigned *flags, Err *err)
{
    *flags = 0;
    bool has_failover = server_version >= SLOTCMD_FAILOVER_MIN_VERSION;
    if (setting == SLOT_FAILOVER_ON && !has_failover)
        return err_set(err, ERR_CONFIG,
                       "source.failover_slot is true but the server is PostgreSQL %d.%d: failover slots need "
                       "PostgreSQL 17 or later (remove the key or set it to false)",
                       server_version / 10000, server_version % 10000);
    bool failover = has_failover && setting != SLOT_FAILOVER_OFF;
    bool two_phase = server_version >= SLOTCMD_TWO_PHASE_MIN_VERSION && (!failover || server_version >= SLOTCMD_FAILOVER_TWO_PHASE_MIN_VERSION);
    *flags = (failover ? PGSLOT_FAILOVER : 0u) | (two_phase ? PGSLOT_TWO_PHASE : 0u);
    return true;
}

const char *slotcmd_failover_label(int server_version, bool failover)
{
    if (server_version < SLOTCMD_FAILOVER_MIN_VERSION)
        return "n/a";
    return failover ? "yes" : "no";
}

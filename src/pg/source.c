/*
 * pg/source.c - see source.h. The publication comes before the slot (a slot
 * decodes with the publications of its own past), so every caller ensures the
 * publication on an ordinary connection first and then creates the slot on a
 * replication connection; both are idempotent checks against the server facts
 * read just before.
 */
#include "pg/source.h"

#include <string.h>

bool source_check_wal_level(const PgServerFacts *facts, Err *err)
{
    if (strcmp(facts->wal_level, "logical") == 0)
        return true;
    return err_set(err, ERR_CHECK, "wal_level is %s; logical replication needs wal_level = logical (run wal2edge doctor)",
                   facts->wal_level);
}

bool source_check_failover(const PgServerFacts *facts, SlotFailover failover, Err *err)
{
    unsigned flags;
    return slotcmd_main_flags(facts->server_version_num, failover, &flags, err);
}

bool source_ensure_publication(PgConn *conn, const PgServerFacts *facts, const char *name,
                               const char *const *tables, size_t count, bool *created, Err *err)
{
    if (created)
        *created = false;
    if (facts->publication_exists)
        return true;
    if (!pgconn_create_publication(conn, name, tables, count, err)) {
        err_prefix(err, "publication \"%s\" does not exist and could not be created", name);
        err->code = ERR_CHECK;
        return false;
    }
    if (created)
        *created = true;
    return true;
}

bool source_create_slot(PgStream *stream, const char *slot, SlotFailover failover, unsigned extra, PgSlotCreated *out,
                        bool *two_phase, Err *err)
{
    unsigned flags;
    if (!slotcmd_main_flags(pgstream_server_version(stream), failover, &flags, err))
        return false;
    if (two_phase)
        *two_phase = flags & PGSLOT_TWO_PHASE;
    return pgstream_create_slot(stream, slot, extra | flags, out, err);
}

/*
 * pg/source.h - making the source ready for replication: one set of rules for
 *               run, slot create, migrate, snapshot and warm.
 *
 * Owns:     the wal_level check and its message, creating the publication when
 *           it is missing (for every mapped table of every target kind, or
 *           every table when nothing is mapped), and creating the main slot
 *           (pgoutput; two-phase when the server allows, PG15+; a failover slot
 *           on PG17+ unless source.failover_slot is false).
 * Not mine: the SQL and the replication protocol (pg/conn, pg/stream); recording
 *           a new slot's incarnation (state/store: every caller that creates the
 *           main slot calls store_record_incarnation or store_set_incarnation -
 *           the gap rule of docs/internals/replication.md, "Gaps").
 * Pure:     no (it talks to the server through pg/conn and pg/stream).
 */
#ifndef WAL2EDGE_PG_SOURCE_H
#define WAL2EDGE_PG_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pg/conn.h"
#include "pg/slotcmd.h"
#include "pg/stream.h"

/* ERR_CHECK naming wal_level unless it is logical. */
bool source_check_wal_level(const PgServerFacts *facts, Err *err) WARN_UNUSED;

/*
 * ERR_CONFIG when source.failover_slot is true and the server has no failover
 * slots (before 17): `run` refuses it even when the slot already exists.
 */
bool source_check_failover(const PgServerFacts *facts, SlotFailover failover, Err *err) WARN_UNUSED;

/*
 * Create publication `name` unless facts says it exists: for tables[0..count)
 * ("schema.name"), or FOR ALL TABLES when count is 0. *created (may be NULL)
 * tells whether it was made now. A failure is ERR_CHECK naming the publication
 * (a privilege problem: retrying will not help).
 */
bool source_ensure_publication(PgConn *conn, const PgServerFacts *facts, const char *name,
                               const char *const *tables, size_t count, bool *created, Err *err) WARN_UNUSED;

/*
 * Create the main slot `slot` on stream: a failover slot as source.failover_slot
 * and the server decide, two-phase where the server allows it alongside
 * (pg/slotcmd), plus `extra` PGSLOT_* flags (PGSLOT_EXPORT_SNAPSHOT);
 * *two_phase (may be NULL) tells which. Asking for a failover slot of a server
 * without them is ERR_CONFIG. The caller then records the incarnation (see above).
 */
bool source_create_slot(PgStream *stream, const char *slot, SlotFailover failover, unsigned extra,
                        PgSlotCreated *out, bool *two_phase, Err *err) WARN_UNUSED;

#endif

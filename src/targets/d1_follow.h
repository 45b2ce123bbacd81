/*
 * targets/d1_follow.h - an embedded D1 database following its source tables'
 * schema changes.
 *
 * Owns:     the last known shape of each mapped source table, kept in the
 *           database file's _wal2edge_schema table and written in the same
 *           SQLite transaction as the change and the checkpoint (so a replay
 *           after a crash sees exactly the shape its checkpoint had; made with
 *           the first schema change, so until then the file holds exactly the
 *           tables `wal2edge plan` prints); a DDL
 *           capture message turned into the diff, the plan and the ALTER TABLE
 *           statements (schema/, d1/evolve), run in that transaction.
 * Not mine: the transaction and the checkpoint (targets/d1_embedded).
 */
#ifndef WAL2EDGE_TARGETS_D1_FOLLOW_H
#define WAL2EDGE_TARGETS_D1_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "d1/ddl.h"
#include "pipeline/change.h"
#include "state/sqlite.h"

#define D1_SCHEMA_TABLE "_wal2edge_schema"

/*
 * Follow message c when it is a DDL capture message of a table mapped in
 * schema (anything else is left alone). *rewritten carries a table_rewrite's
 * OID to the ddl_command_end of the same statement (0: none). With a
 * migrations_dir (the D1 target's "migrations_dir"), each change applied is also
 * written there as a wrangler migration file (d1/migrations). A change that
 * D1 cannot follow is ERR_CHECK naming it and the way back.
 */
bool d1_follow_message(Sqlite *db, D1Schema *schema, const char *target, const char *migrations_dir,
                       const Change *c, uint32_t *rewritten, Err *err) WARN_UNUSED;

/*
 * The Relation fallback: before a row change of a mapped table whose Relation
 * columns differ from the last ones seen (a schema change without the DDL
 * capture trigger, or one made while wal2edge was not running), follow them by
 * name against the shape kept (or the D1 table's own columns): an added or a
 * dropped column is followed (the added one without its default: a warning
 * says so), a drop together with an add stops naming the trigger.
 */
bool d1_follow_relation(Sqlite *db, D1Schema *schema, const char *target, const char *migrations_dir,
                        const Rel *rel, Err *err) WARN_UNUSED;

#endif

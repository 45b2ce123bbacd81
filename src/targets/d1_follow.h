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
 *           The same for the REST D1 (targets/d1_remote_follow) through a
 *           D1FollowStore: where the shape and the columns are read and where
 *           the statements go.
 * Not mine: the transaction and the checkpoint (targets/d1_embedded,
 *           targets/d1_remote).
 */
#ifndef WAL2EDGE_TARGETS_D1_FOLLOW_H
#define WAL2EDGE_TARGETS_D1_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "d1/ddl.h"
#include "pipeline/change.h"
#include "pipeline/target.h"
#include "schema/plan.h"
#include "state/sqlite.h"

#define D1_SCHEMA_TABLE "_wal2edge_schema"

/*
 * Where a D1 database's last known shapes and columns are read, and where the
 * statements of a change go (into the transaction of its checkpoint).
 */
typedef struct D1FollowStore {
    void *ctx;
    bool (*init)(void *ctx, Err *err);            /* the shape table exists from here on */
    bool (*has_shape_table)(void *ctx);
    /* the stored shape JSON of source (malloc'd), NULL when none; *failed on an error */
    char *(*stored_shape)(void *ctx, const char *source, bool *failed, Err *err);
    bool (*store_shape)(void *ctx, const char *source, const char *json, Err *err);
    /* the D1 table's column names in order (malloc'd, each and the array) */
    bool (*columns)(void *ctx, const char *table, char ***names, size_t *n, Err *err);
    bool (*exec)(void *ctx, const char *sql, Err *err);
    /* may be NULL: the plan was carried out on table (a store keeping the columns itself follows it) */
    void (*evolved)(void *ctx, const char *table, const SchemaPlan *plan);
    /* may be NULL: table was rebuilt (d1/rebuild) and now has t's columns */
    void (*rebuilt)(void *ctx, const D1Table *t);
} D1FollowStore;

/*
 * Follow message c when it is a DDL capture message of a table mapped in
 * schema (anything else is left alone). *rewritten carries a table_rewrite's
 * OID to the ddl_command_end of the same statement (0: none). With a
 * migrations_dir (the D1 target's "migrations_dir"), each change applied is also
 * written there as a wrangler migration file (d1/migrations). A change that
 * D1 cannot follow is ERR_CHECK naming it and the way back. A change that
 * needs the table copied again (a rewrite, a new primary key, a table dropped
 * and created again: PLAN_RESYNC), with a resync hook (may be NULL: stop):
 * the D1 table is rebuilt in the new shape keeping its rows (d1/rebuild) and
 * the hook asked to copy it again.
 */
bool d1_follow_message(Sqlite *db, D1Schema *schema, const char *target, const char *migrations_dir,
                       const ResyncHook *resync, const Change *c, uint32_t *rewritten, Err *err) WARN_UNUSED;

/*
 * The Relation fallback: before a row change of a mapped table whose Relation
 * columns differ from the last ones seen (a schema change without the DDL
 * capture trigger, or one made while wal2edge was not running), follow them by
 * name against the shape kept (or the D1 table's own columns): an added or a
 * dropped column is followed (the added one without its default: a warning
 * says so), a drop together with an add stops naming the trigger.
 */
bool d1_follow_relation(Sqlite *db, D1Schema *schema, const char *target, const char *migrations_dir,
                        const ResyncHook *resync, const Rel *rel, Err *err) WARN_UNUSED;

/* The same two against any store. */
bool d1_follow_message_in(const D1FollowStore *st, D1Schema *schema, const char *target,
                          const char *migrations_dir, const ResyncHook *resync, const Change *c, uint32_t *rewritten,
                          Err *err) WARN_UNUSED;
bool d1_follow_relation_in(const D1FollowStore *st, D1Schema *schema, const char *target,
                           const char *migrations_dir, const ResyncHook *resync, const Rel *rel, Err *err) WARN_UNUSED;

#endif

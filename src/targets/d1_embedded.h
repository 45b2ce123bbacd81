/*
 * targets/d1_embedded.h - the embedded D1 target: the mapped tables in a local
 *                         SQLite file, STATE_DIR/d1/NAME.sqlite, with exactly
 *                         the tables and columns `wal2edge plan` prints.
 *
 * Owns:     that file: its schema (created from d1/ddl on open when missing),
 *           applying transactions with d1/sql statements, and its checkpoint
 *           row in _wal2edge_state (slot, commit_lsn, end_lsn, updated_at).
 * Not mine: the statements (d1/sql), the schema (d1/ddl), SQLite (state/sqlite).
 *
 * Effectively-once: consecutive transactions are applied inside one SQLite
 * transaction, each followed by the checkpoint upsert; flush() commits it, so
 * data and checkpoint become durable together. On open the checkpoint is read
 * back into Target.durable; a transaction whose commit_lsn is not after the
 * last applied one is skipped. A failed change rolls back everything not yet
 * flushed (durable does not move) and the target refuses further work until
 * it is freed.
 */
#ifndef WAL2EDGE_TARGETS_D1_EMBEDDED_H
#define WAL2EDGE_TARGETS_D1_EMBEDDED_H

#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pipeline/target.h"

/*
 * Open (creating) t->embedded_path for d1 target `t`; the tables are those of
 * the mappings whose d1.database is t->name, resolved against `cat` (which
 * may be freed afterwards; `maps` must outlive the target). ERR_CONFIG when
 * the mappings do not pass `plan`'s checks, ERR_STORE for SQLite errors.
 */
Target *d1_embedded_target_new(const ConfigTarget *t, const MappingSet *maps,
                               const CatalogInfo *cat, const char *slot, Err *err) WARN_UNUSED;

#endif

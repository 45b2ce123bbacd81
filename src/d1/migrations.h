/*
 * d1/migrations.h - wrangler-format migration files for the D1 schema.
 *
 * Owns:     the files `wal2edge plan --write-migrations DIR` writes:
 *           DIR/NNNN_description.sql (one directory per D1 database when the
 *           mappings use more than one: DIR/DATABASE/NNNN_...), so that
 *           `wrangler d1 migrations apply` applies them. First
 *           NNNN_wal2edge_state.sql (the checkpoint table; in a directory
 *           written before its position column, NNNN_wal2edge_state_position.sql
 *           upgrading it), then one file with every table not yet created by an
 *           earlier file. Rerunning writes nothing new when the schema did not
 *           change.
 * Not mine: the DDL text (d1/ddl).
 * Edge:     reads and writes files under DIR (each file written to a temporary
 *           name and renamed).
 */
#ifndef WAL2EDGE_D1_MIGRATIONS_H
#define WAL2EDGE_D1_MIGRATIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "d1/ddl.h"

typedef struct MigrationReport {
    char **written;            /* paths of the files written, in order */
    size_t written_count;
    char **notes;              /* tables whose DDL differs from an earlier migration, etc. */
    size_t note_count;
} MigrationReport;

bool d1_migrations_write(const D1Schema *s, const char *dir, MigrationReport *out,
                         Err *err) WARN_UNUSED;
void d1_migration_report_clear(MigrationReport *r);

/*
 * One more migration file in dir: NNNN_NAME.sql (NAME made a file-name slug,
 * NNNN after the highest there) holding text; *path (owned) names it. For the
 * schema changes a D1 target follows (targets/d1_follow).
 */
bool d1_migration_append(const char *dir, const char *name, const char *text, char **path, Err *err) WARN_UNUSED;

#endif

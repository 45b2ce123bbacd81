/*
 * d1/ddl.h - the D1 schema wal2edge maintains: which tables and columns, their
 *            types, keys and indexes, checked against D1's limits, and the DDL.
 *
 * Owns:     D1Schema (mappings + catalog resolved into D1 tables), the checks
 *           `wal2edge plan` reports (unknown table or column, no usable key,
 *           more than 100 columns, unsupported types, row and statement size),
 *           the CREATE TABLE / CREATE INDEX text, and the _wal2edge_state table
 *           (and its upgrade to the read-your-writes position).
 * Not mine: reading files or the catalog (mapping/, pg/catalog), statements for
 *           changes (d1/sql), writing migration files (d1/migrations).
 * Pure:     yes.
 *
 * DDL is deterministic: tables sorted by name, columns in Postgres attnum
 * order, indexes sorted by name; IF NOT EXISTS everywhere so the same text
 * serves wrangler migrations and the embedded database.
 */
#ifndef WAL2EDGE_D1_DDL_H
#define WAL2EDGE_D1_DDL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "d1/table.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"

typedef struct D1Schema {
    D1Table *tables;           /* sorted by (database, name) */
    size_t table_count;
    char **problems;           /* "FILE:LINE:COL: key: what" - plan exits 2 when any */
    size_t problem_count;
    char **warnings;           /* same form; plan prints them and goes on */
    size_t warning_count;
} D1Schema;

/*
 * Resolve every mapping with a "d1" part (only those of `database` when not
 * NULL) against the catalog. Never fails: problems are collected in the
 * result; tables with problems are left out. Owned result.
 */
D1Schema *d1_schema_build(const MappingSet *maps, const CatalogInfo *cat, const char *database);
void d1_schema_free(D1Schema *s);

/* false with ERR_CONFIG naming the first problem of s (and how many more) when it has any. */
bool d1_schema_check(const D1Schema *s, Err *err) WARN_UNUSED;

/* Borrowed: the table fed by source "schema.name", or NULL. */
const D1Table *d1_schema_table(const D1Schema *s, const char *source);

/* Owned SQL: CREATE TABLE IF NOT EXISTS + its CREATE INDEX statements. */
char *d1_ddl_table(const D1Table *t);
/*
 * Owned SQL creating the checkpoint table. Its "position" is end_lsn as 16
 * hex digits (pg/lsn's lsn_format_fixed): it compares correctly as text, so a
 * Worker waits for its write with one indexed query (docs/workers.md).
 */
char *d1_ddl_state_table(void);
/* A query returning a row when the checkpoint table predates "position" (static text). */
const char *d1_ddl_state_missing_position(void);
/* Owned SQL adding "position" to such a table and filling it from end_lsn. */
char *d1_ddl_state_upgrade(void);
/* Owned list of the distinct databases of s, sorted; *count set. */
char **d1_schema_databases(const D1Schema *s, size_t *count);

#endif

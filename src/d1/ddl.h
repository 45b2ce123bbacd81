/*
 * d1/ddl.h - the D1 schema wal2edge maintains: which tables and columns, their
 *            types, keys and indexes, checked against D1's limits, and the DDL.
 *
 * Owns:     D1Schema (mappings + catalog resolved into D1 tables), the checks
 *           `wal2edge plan` reports (unknown table or column, no usable key,
 *           more than 100 columns, unsupported types, row and statement size),
 *           the CREATE TABLE / CREATE INDEX text, and the _wal2edge_state table.
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
#include "d1/types.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"

/* D1 limits (reference: cloudflare-api.md §2.5). */
#define D1_MAX_COLUMNS 100
#define D1_MAX_PARAMS 100
#define D1_MAX_SQL_BYTES 100000
#define D1_MAX_ROW_BYTES 2000000
#define D1_STATE_TABLE "_wal2edge_state"

typedef struct D1Column {
    char *pg_name;
    char *d1_name;
    D1Type *type;              /* owned */
    char *pg_type;             /* format_type with typmod, for comments and messages */
    int32_t typmod;
    bool not_null;
    bool is_key;
} D1Column;

typedef struct D1Index {
    char *name;
    bool unique;
    size_t *cols;              /* indexes into D1Table.cols */
    size_t col_count;
} D1Index;

typedef struct D1Table {
    char *database;            /* the config's d1 target name */
    char *name;                /* the D1 table */
    char *source;              /* "schema.name" */
    const Mapping *mapping;    /* borrowed from the MappingSet */
    D1Column *cols;
    size_t col_count;
    size_t *key;               /* indexes into cols, in key order */
    size_t key_count;
    char *key_origin;          /* "primary key", "replica identity index x", "mapping" */
    D1Index *indexes;          /* unique ones become UNIQUE constraints */
    size_t index_count;
    size_t max_row_bytes;      /* bounded columns' sum */
    char *unbounded;           /* "email, profile": columns with no size limit; NULL if none */
} D1Table;

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
/* Owned SQL creating the checkpoint table. */
char *d1_ddl_state_table(void);
/* Owned list of the distinct databases of s, sorted; *count set. */
char **d1_schema_databases(const D1Schema *s, size_t *count);

/* SQL identifier quoting: "na""me". Appends to b. */
bool d1_quote_ident(Buf *b, const char *name, Err *err) WARN_UNUSED;

#endif

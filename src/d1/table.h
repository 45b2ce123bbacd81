/*
 * d1/table.h - one D1 table as wal2edge maintains it, and D1's limits.
 *
 * Owns:     D1Table (its columns with their D1 types, key and indexes), D1's
 *           documented limits, the checkpoint table's name, and SQL identifier
 *           quoting - what both the statements (d1/sql) and the schema and DDL
 *           (d1/ddl) are built from, so neither includes the other's header
 *           for it.
 * Not mine: resolving mappings into tables and checking them (d1/ddl),
 *           statements (d1/sql), column types (value/pgtype).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_D1_TABLE_H
#define WAL2EDGE_D1_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "value/pgtype.h"

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
    uint64_t rel_signature;    /* the last Relation's columns checked against the table (targets/d1_follow) */
    /* a sharded mapping (docs/sharding.md): this table is shard `shard` of `shard_count`, its rows
       those whose shard_cols' values map to it (mapping/shard); shard_count 1: not sharded */
    size_t shard, shard_count;
    size_t *shard_cols;        /* indexes into cols, in shard_by order */
    size_t shard_col_count;
} D1Table;

/* Free what t owns and zero it. */
void d1_table_clear(D1Table *t);

/* SQL identifier quoting: "na""me". Appends to b. */
bool d1_quote_ident(Buf *b, const char *name, Err *err) WARN_UNUSED;

#endif

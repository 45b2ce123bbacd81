/*
 * pg/catalog.h - what the Postgres catalog says about the mapped tables.
 *
 * Owns:     CatalogInfo, a snapshot of the tables wal2edge maps: columns,
 *           types (closed under domains, arrays, composites; enum labels),
 *           primary key, unique and plain indexes, replica identity,
 *           existence and publication membership; and reading it (the one
 *           catalog reader; libpq is allowed here, see house rules).
 * Not mine: deciding what the facts mean for D1 (value/pgtype, d1/ddl).
 * Pure:     catalog_read does I/O (one short connection); everything else is pure.
 * Trust:    catalog values come from the server and are checked as parsed
 *           (numbers strictly, counts capped).
 *
 * Tests build a CatalogInfo by hand: every string field is const and the
 * catalog owns its strings through `pool` (empty in hand-built catalogs).
 */
#ifndef WAL2EDGE_PG_CATALOG_H
#define WAL2EDGE_PG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/secret.h"
#include "pg/conn.h"

#define CATALOG_MAX_TYPES 4096

typedef struct CatAttr {
    const char *name;
    uint32_t type_oid;
    int32_t typmod;
} CatAttr;

typedef struct CatType {
    uint32_t oid;
    const char *schema;        /* "pg_catalog" */
    const char *name;          /* pg_type.typname: "int4", "_text", "order_status" */
    const char *formatted;     /* format_type(oid, NULL): "integer", "text[]" */
    char typtype;              /* b base, d domain, e enum, c composite, r range, m multirange, p pseudo */
    char category;             /* pg_type.typcategory ('A' arrays) */
    uint32_t base_oid;         /* domain: its base type (maybe another domain) */
    int32_t base_typmod;
    uint32_t elem_oid;         /* array: the element type; 0 otherwise */
    char delim;                /* array element delimiter (',' except box) */
    const char *const *labels; /* enum labels, in sort order */
    size_t label_count;
    const CatAttr *attrs;      /* composite attributes, in order */
    size_t attr_count;
} CatType;

typedef struct CatColumn {
    const char *name;
    int16_t attnum;
    uint32_t type_oid;
    int32_t typmod;
    const char *type_name;     /* format_type(atttypid, atttypmod): "numeric(12,2)" */
    bool not_null;
    bool generated;            /* GENERATED ALWAYS AS (...) STORED: never in the stream */
} CatColumn;

typedef struct CatIndex {
    const char *name;
    bool unique;
    bool primary;
    bool replident;            /* the REPLICA IDENTITY USING INDEX index */
    bool partial;              /* has a WHERE clause */
    bool expression;           /* some key is an expression */
    const size_t *cols;        /* key columns, as indexes into CatTable.cols */
    size_t col_count;
} CatIndex;

typedef struct CatTable {
    const char *qualname;      /* "schema.name", as asked */
    const char *schema, *name;
    bool exists;
    uint32_t oid;
    char relkind;              /* r table, p partitioned, ... */
    char replident;            /* d default, n nothing, f full, i index */
    bool in_publication;       /* the configured publication publishes it */
    const CatColumn *cols;     /* in attnum order, dropped columns left out */
    size_t col_count;
    const CatIndex *indexes;   /* sorted by name */
    size_t index_count;
} CatTable;

typedef struct CatalogInfo {
    int server_version_num;
    bool publication_exists;
    const char *publication;
    const CatTable *tables;
    size_t table_count;
    const CatType *types;
    size_t type_count;
    void **pool;               /* owned allocations (catalog_read); NULL when hand-built */
    size_t pool_count;
} CatalogInfo;

/*
 * Connect with dsn, read the tables named by `qualnames` ("schema.name") and
 * every type their columns need, and disconnect. A table that does not exist
 * is reported with exists=false, not as an error. Errors: ERR_PG_CONNECT,
 * ERR_PG, ERR_PROTOCOL (unexpected catalog output). Owned result.
 */
CatalogInfo *catalog_read(const Secret *dsn, const char *publication,
                          const char *const *qualnames, size_t count, Err *err) WARN_UNUSED;
/* Which relation a mapped table is now, and whether the publication publishes it: the
 * cheap question `run` asks again and again (daemon/source_watch). */
typedef struct CatTableId {
    bool exists;
    uint32_t oid;
    bool in_publication;
} CatTableId;
/* On an open connection (kept by the caller); out[0..count). Errors: ERR_PG, ERR_PROTOCOL. */
bool catalog_table_ids(PgConn *conn, const char *publication, const char *const *qualnames, size_t count,
                       CatTableId *out, bool *publication_exists, Err *err) WARN_UNUSED;

/* Frees what catalog_read allocated; NULL is a no-op. Not for hand-built catalogs. */
void catalog_free(CatalogInfo *cat);

/* Borrowed lookups; NULL when absent. */
const CatTable *catalog_table(const CatalogInfo *cat, const char *qualname);
const CatType *catalog_type(const CatalogInfo *cat, uint32_t oid);
/* Index of column `name` in t->cols, or -1. */
long catalog_column_index(const CatTable *t, const char *name);
/* The primary key index of t, or NULL. */
const CatIndex *catalog_primary_key(const CatTable *t);
/* The REPLICA IDENTITY USING INDEX index of t, or NULL. */
const CatIndex *catalog_replident_index(const CatTable *t);

#endif

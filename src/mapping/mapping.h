/*
 * mapping/mapping.h - the mapping files: one per source table, saying where its
 *                     rows go (D1 table, KV keys, queue, R2 snapshots).
 *
 * Owns:     the meaning of every key of a mapping file (PRODUCT.md, docs/mappings.md),
 *           its validation with "FILE:LINE:COL: key.path: problem" errors, the
 *           cross-file rules (one mapping per source table, one writer per D1
 *           table), a sharded D1 part's databases and shard_by columns and the lookup by source table ("schema.name").
 * Not mine: JSONC syntax (config/jsonc), checking names against the Postgres
 *           catalog (d1/ddl, `wal2edge plan`), what kv/queue/snapshot do at run
 *           time (later issues: their sections are validated for shape and target
 *           names only and kept as JSONC nodes).
 * Pure:     apart from reading the files named by the config.
 * Trust:    mapping files are user input; every problem is a clean ERR_CONFIG.
 */
#ifndef WAL2EDGE_MAPPING_MAPPING_H
#define WAL2EDGE_MAPPING_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/jsonc.h"
#include "core/err.h"

#define MAPPING_MAX_FILE_BYTES (1024 * 1024)

/* A name written in a mapping file, with where it was written. */
typedef struct MapName {
    char *name;
    int line, col;
} MapName;

/* "on_error" of a target section: what to do with a change the target refuses
 * for that row alone (a limit, a constraint D1 has and Postgres has not). */
typedef enum {
    MAP_ON_ERROR_STOP = 0,     /* default: the run exits naming the row */
    MAP_ON_ERROR_SKIP,         /* the change goes to the dead-letter file (pipeline/deadletter) */
} MapOnError;

/* "on_schema_change" of a mapping: what a schema change of its table does to its
 * targets (docs/schema-changes.md). */
typedef enum {
    MAP_SCHEMA_EVOLVE = 0,     /* default: the targets follow the new shape */
    MAP_SCHEMA_STOP,           /* the mapping stops, naming the change and the way back */
} MapOnSchemaChange;

/* "on_drop" of a mapping: what a DROP TABLE of its table does to its targets (docs/schema-changes.md). */
typedef enum {
    MAP_DROP_DROP = 0,         /* default: the D1 table dropped, the KV keys of its rows deleted */
    MAP_DROP_KEEP,             /* the targets keep the last rows */
} MapOnDrop;

/* A "from": "to" pair ("rename" and "types"). */
typedef struct MapPair {
    char *key;
    char *value;
    int line, col;             /* of the key */
} MapPair;

typedef struct MappingD1 {
    bool present;
    int line, col;             /* of the "d1" object */
    char *database;            /* a d1 target of the config: databases[0] */
    char **databases;          /* every d1 target the table goes to: one, or the shards in order */
    size_t database_count;
    int database_line, database_col;
    MapName *shard_by;         /* the Postgres columns whose values pick the database (mapping/shard,
                                  docs/sharding.md); empty: one database */
    size_t shard_by_count;
    char *table;               /* the D1 table name */
    int table_line, table_col;
    MapName *exclude;          /* Postgres columns left out */
    size_t exclude_count;
    MapPair *rename;           /* Postgres column -> D1 column */
    size_t rename_count;
    MapPair *types;            /* Postgres column -> D1 type (INTEGER, REAL, TEXT, BLOB; upper case) */
    size_t type_count;
    MapName *primary_key;      /* Postgres column names; empty: the table's primary key */
    size_t primary_key_count;
    int primary_key_line, primary_key_col;
    MapOnError on_error;
} MappingD1;

/* One KV entry of "kv": [...]. */
typedef struct MappingKv {
    char *namespace_name;      /* a kv target of the config */
    char *key;                 /* template: "user:{id}" */
    char *value;               /* "row" or a template; NULL for a column list (read from kv_node) */
    long long ttl;             /* seconds; 0 when absent */
    MapOnError on_error;
    int line, col;
    int key_line, key_col, value_line, value_col;
} MappingKv;

typedef struct Mapping {
    char *file;                /* as listed in the config */
    char *source;              /* "schema.name" */
    char *schema, *relname;
    int source_line, source_col;
    MappingD1 d1;
    MappingKv *kv;
    size_t kv_count;
    const JsoncNode *kv_node;       /* borrowed from root; NULL when absent */
    const JsoncNode *queue_node;    /* borrowed from root; NULL when absent */
    const JsoncNode *snapshot_node; /* borrowed from root; NULL when absent */
    char *queue;               /* "queue": {"queue": NAME}; NULL when absent */
    MapOnError queue_on_error; /* "queue": {"on_error": ...} */
    char *snapshot_bucket;     /* "snapshot": {"bucket": NAME, "prefix": P} */
    char *snapshot_prefix;     /* NULL when absent */
    MapOnSchemaChange on_schema_change;
    MapOnDrop on_drop;
    JsoncNode *root;           /* owned parse tree */
} Mapping;

typedef struct MappingSet {
    Mapping *items;            /* in the order of Config.mapping_files */
    size_t count;
} MappingSet;

/* Load and validate every file of cfg->mapping_files. Owned result, or NULL with *err (ERR_CONFIG/ERR_IO). */
MappingSet *mapping_set_load(const Config *cfg, Err *err) WARN_UNUSED;

/* Building blocks of mapping_set_load, for tests and tools. */
MappingSet *mapping_set_new(void);
/* Parse one mapping file's text (`path` names it in errors) and add it. */
bool mapping_set_add_text(MappingSet *set, const Config *cfg, const char *text, size_t len,
                          const char *path, Err *err) WARN_UNUSED;
/* The cross-file checks: duplicate source tables, two writers of one D1 table. */
bool mapping_set_check(const MappingSet *set, Err *err) WARN_UNUSED;
void mapping_set_free(MappingSet *set);

/* Borrowed mapping of a source table ("schema.name"), or NULL. */
const Mapping *mapping_set_find(const MappingSet *set, const char *source);

/* Whether m is among names (`--mapping` values: its source "schema.name", its table name, or its
 * file's name without ".jsonc"); every mapping is when n is 0. */
bool mapping_selected(const Mapping *m, char **names, size_t n);

/* "stop" or "skip". */
const char *mapping_on_error_name(MapOnError e);
/* "evolve" or "stop". */
const char *mapping_on_schema_change_name(MapOnSchemaChange p);
const char *mapping_on_drop_name(MapOnDrop p);

/* The index of d1 target `database` in m's "database" list, or -1 when m does not write to it. */
long mapping_d1_database_index(const Mapping *m, const char *database);
/* Whether m spreads its table over several D1 databases by "shard_by". */
bool mapping_d1_sharded(const Mapping *m);

/* Whether the D1 part of m excludes Postgres column `col`. */
bool mapping_d1_excludes(const Mapping *m, const char *col);
/* The D1 name of Postgres column `col` (the rename or col itself). Borrowed. */
const char *mapping_d1_column_name(const Mapping *m, const char *col);
/* The D1 type override of `col` ("TEXT"...), or NULL. Borrowed. */
const char *mapping_d1_type_override(const Mapping *m, const char *col);

#endif

/*
 * snapshot/manifest.h - manifest.json of a snapshot table directory.
 *
 * Owns:     the manifest's JSON shape (docs/snapshots.md): format, snapshot id,
 *           source, LSN, times, compression, the table's columns with their
 *           Postgres types and key, every part (key, rows, raw and compressed
 *           bytes, SHA-256), totals, and a summary of every table of the same
 *           snapshot (where its manifest is, its rows); and parsing it back.
 * Not mine: writing it (snapshot/sink), when (snapshot/export: last).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_SNAPSHOT_MANIFEST_H
#define WAL2EDGE_SNAPSHOT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/lsn.h"

#define MANIFEST_FORMAT "wal2edge.snapshot.v1"
#define MANIFEST_NAME "manifest.json"

typedef struct ManifestPart {
    char *key;
    uint64_t rows, raw_bytes, bytes;
    char sha256[65];
} ManifestPart;

typedef struct ManifestColumn {
    const char *name;
    const char *pg_type;       /* format_type with typmod */
    uint32_t type_oid;
    bool not_null;
} ManifestColumn;

typedef struct ManifestTable {
    const char *table;         /* "schema.name" */
    const char *bucket;        /* the r2 target */
    const char *dir;           /* PREFIX/TABLE/SNAPSHOT_ID */
    const ManifestColumn *cols;
    size_t col_count;
    const char *const *key;
    size_t key_count;
    const ManifestPart *parts;
    size_t part_count;
    uint64_t rows, raw_bytes, bytes;
} ManifestTable;

typedef struct Manifest {
    const char *snapshot_id;
    Lsn lsn;
    const char *started_at, *completed_at;   /* RFC 3339 UTC */
    const char *database;
    const char *slot;          /* the slot that continues after this point, or NULL */
    int level;
    const ManifestTable *tables;
    size_t table_count;
} Manifest;

/* What a snapshot id may be: it names a directory (PREFIX/TABLE/ID), so `snapshot --id` and
 * `warm --from-snapshot` accept the same ids. */
#define MANIFEST_ID_RULE "1..60 letters, digits, '-', '_' or '.', not \".\" or \"..\""
bool manifest_id_valid(const char *id);

/* Owned JSON text (indented) of the manifest of table `ti`. */
char *manifest_json(const Manifest *m, size_t ti);

#endif

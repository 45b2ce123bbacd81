/*
 * targets/kv_index.h - the KV key index: for each source row (table and row
 *                      identity), the keys written for it and its row state.
 *
 * Owns:     the _wal2edge_kv_rows table of a KV target's SQLite file (which
 *           keys each row has in KV, so a stale key is deleted when a key's
 *           inputs change, without REPLICA IDENTITY FULL; the TOAST-able
 *           column values that fill an unchanged TOAST value later) and a
 *           row's identity as the index's key.
 * Not mine: which keys a row forms (targets/kv_apply), the SQLite transaction
 *           around it (targets/kv).
 * Pure:     no (SQLite).
 */
#ifndef WAL2EDGE_TARGETS_KV_INDEX_H
#define WAL2EDGE_TARGETS_KV_INDEX_H

#include <stdbool.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"
#include "pg/pgoutput.h"
#include "state/sqlite.h"
#include "targets/kv_spec.h"

/* The largest row kv_index_keep remembers (table, identity and keys, NUL-separated). */
#define KV_INDEX_KEEP_MAX (4 * 1024 * 1024)

typedef struct KvIndex {
    Sqlite *db;                /* borrowed */
    SqliteStmt *get_row, *put_row, *del_row, *rows_of, *del_rows_of, *add_key, *keep_row;
    Buf kept;                  /* the last row kv_index_keep wrote or found: table, pk, keys, NUL-separated */
    bool waiting;              /* kept is not written yet (kv_index_keep's defer) */
} KvIndex;

/* A row of the index as stored (JSON text), parsed only when asked: most updates change neither
 * the keys nor the row state, and compare as text. */
typedef struct KvIndexRow {
    bool found;
    char *keys_text;           /* a JSON array of strings */
    char *state_text;          /* a JSON object, or NULL */
    json_t *keys, *state;      /* parsed by kv_index_row_keys / kv_index_row_state */
} KvIndexRow;

/* Create the index table in db (if missing) and prepare its statements. */
bool kv_index_open(KvIndex *ix, Sqlite *db, Err *err) WARN_UNUSED;
void kv_index_close(KvIndex *ix);

bool kv_index_get(KvIndex *ix, const char *tbl, const Buf *pk, KvIndexRow *out, Err *err) WARN_UNUSED;
/* keys_text: a JSON array of strings; state_text: a JSON object or NULL. */
bool kv_index_put(KvIndex *ix, const char *tbl, const Buf *pk, const char *keys_text, const char *state_text,
                  Err *err) WARN_UNUSED;
bool kv_index_del(KvIndex *ix, const char *tbl, const Buf *pk, Err *err) WARN_UNUSED;
void kv_index_row_clear(KvIndexRow *r);
/* The row's keys (an array; empty when the stored text is malformed) and state (NULL: none). */
json_t *kv_index_row_keys(KvIndexRow *r);
json_t *kv_index_row_state(KvIndexRow *r);
/* from's row state moves to to (a row whose identity changed keeps its unchanged TOAST values). */
void kv_index_row_take_state(KvIndexRow *to, KvIndexRow *from);
/* Every key indexed for the rows of tbl, appended to the JSON array all. */
bool kv_index_table_keys(KvIndex *ix, const char *tbl, json_t *all, Err *err) WARN_UNUSED;
/* Add key to the keys of row (tbl, pk), creating the row (no state) if missing: a rebuild from KV. */
bool kv_index_add_key(KvIndex *ix, const char *tbl, const Buf *pk, const char *key, Err *err) WARN_UNUSED;
/* Forget every row (before a rebuild from KV). */
bool kv_index_clear(KvIndex *ix, Err *err) WARN_UNUSED;
/* Make row (tbl, pk) list keys_text and hold no state, writing only when it does not already: a
 * row whose keys cannot change (targets/kv_apply's fixed-key path). defer: remember it and write
 * it with kv_index_drain (a one-row transaction's row waits for its commit, so it needs no
 * savepoint); every other function here drains first, so reads see it. */
bool kv_index_keep(KvIndex *ix, const char *tbl, const Buf *pk, const char *keys_text, bool defer,
                   Err *err) WARN_UNUSED;
/* Is (tbl, pk, keys_text) the row kv_index_keep keeps (written or waiting)? */
bool kv_index_kept(const KvIndex *ix, const char *tbl, const Buf *pk, const char *keys_text);
/* Write the row kv_index_keep left waiting, if any. */
bool kv_index_drain(KvIndex *ix, Err *err) WARN_UNUSED;
/* Forget what kv_index_keep remembers, a waiting row too (the open transaction rolled back). */
void kv_index_forget(KvIndex *ix);
/* Forget every row of tbl (a truncate). */
bool kv_index_drop_table(KvIndex *ix, const char *tbl, Err *err) WARN_UNUSED;

/* The row identity as a JSON array of Postgres texts into out; *complete false when an identity
 * column is absent or an unchanged TOAST value. */
bool kv_identity_json(const KvTable *tab, const Rel *rel, const PgoTuple *tup, Buf *out, Err *err, bool *complete);

#endif

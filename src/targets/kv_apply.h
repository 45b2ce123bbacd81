/*
 * targets/kv_apply.h - one row change of a KV-mapped table as KV puts and
 *                      deletes.
 *
 * Owns:     rendering each entry's key (escaped, checked), value ("row" through
 *           pipeline/rowjson, a template or a column list) and metadata (the
 *           change's commit LSN and time, user templates), filling unchanged
 *           TOAST values from the row state, deleting the keys a row no longer
 *           forms (found through targets/kv_index), refusing a key or value over
 *           its limit per the entry's "on_error" (pipeline/deadletter), and
 *           counting what it wrote.
 * Not mine: where the writes go (the statements it is given: the embedded kv
 *           table, or targets/kv_rest's pending table), transactions.
 * Pure:     no (SQLite through the statements and the index).
 */
#ifndef WAL2EDGE_TARGETS_KV_APPLY_H
#define WAL2EDGE_TARGETS_KV_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "pipeline/target.h"
#include "state/sqlite.h"
#include "targets/kv_index.h"
#include "targets/kv_spec.h"

typedef struct KvApply {
    Target *target;            /* borrowed: its name and dead-letter file */
    Sqlite *db;                /* borrowed */
    KvIndex index;
    SqliteStmt *put, *del;     /* borrowed: put (key, value, metadata, ttl) and delete (key) */
    bool remote;               /* a REST namespace: ttl stays relative; kv_rest counts what it sends */
    uint64_t window_emits;     /* puts + deletes emitted since the window began */
    uint64_t emit_bytes;       /* bytes of keys, values and metadata emitted */
    KvStats stats;
    Buf key, value, meta, pk, tmp;
    Buf key_list, keys_json, state; /* the keys a row forms and its row state (kv_apply_upsert) */
    Buf held_key, held_value, held_meta; /* embedded: the last put, written when another key comes */
    int64_t held_expiration;
    bool held;
    SqliteStmt *savepoint;     /* borrowed: a source transaction's, opened by kv_apply_enter */
    bool sp_due;               /* a source transaction began and its savepoint is not open yet */
    Lsn lsn;                   /* of the change being applied */
    uint32_t xid;              /* and its transaction (0 in warm) */
    int64_t time_us;
    char meta_head[112];       /* {"commit_lsn":..,"commit_time":.. of (meta_lsn, meta_time_us) */
    size_t meta_head_len;
    Lsn meta_lsn;
    int64_t meta_time_us;
    LogCtx log;
} KvApply;

/* Open the key index in db; t names the target in messages and holds its dead-letter file. */
bool kv_apply_open(KvApply *a, Target *t, Sqlite *db, bool remote, Err *err) WARN_UNUSED;
void kv_apply_close(KvApply *a);

/* An insert or update of tab (nt: the new row; ot/old_kind: the old row or key as the server sent it). */
bool kv_apply_upsert(KvApply *a, const KvTable *tab, const Rel *rel, const PgoTuple *nt, const PgoTuple *ot,
                     uint8_t old_kind, Err *err) WARN_UNUSED;
bool kv_apply_delete(KvApply *a, const KvTable *tab, const Rel *rel, const PgoTuple *ot, uint8_t old_kind,
                     Err *err) WARN_UNUSED;
/* Every key of every row of tab goes. */
/* Embedded: a source transaction begins; its savepoint opens with its first write that cannot wait
 * for its end (kv_apply_enter). A transaction of one row (one put and its index row) needs none:
 * both are written at its commit, and a rollback before that has nothing to undo. */
void kv_apply_defer_savepoint(KvApply *a, SqliteStmt *savepoint);
/* Open the deferred savepoint now (before anything that reads or writes the file) and write what
 * waited for it; nothing to do when it is open or none is due. */
bool kv_apply_enter(KvApply *a, Err *err) WARN_UNUSED;
/* The source transaction ends: true when its savepoint was opened (and needs a release or a
 * rollback to it); none is due afterwards. */
bool kv_apply_end_txn(KvApply *a);
/* Embedded: write the held put and the index row waiting (before a savepoint's release or a commit). */
bool kv_apply_settle(KvApply *a, Err *err) WARN_UNUSED;
/* The open transaction rolled back: drop the held put and what the index remembers. */
void kv_apply_forget(KvApply *a);
bool kv_apply_truncate(KvApply *a, const KvTable *tab, Err *err) WARN_UNUSED;

#endif

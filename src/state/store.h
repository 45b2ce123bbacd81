/*
 * state/store.h - wal2edge's local state: STATE_DIR/state.sqlite.
 *
 * Owns:     which source this state directory belongs to (system identifier,
 *           database, slot: a state directory is never silently reused for
 *           another source), and a durable record of each target's last
 *           checkpoint for `status` (each target's own checkpoint, kept with
 *           its data, stays authoritative for what to skip), and each target's
 *           health (lagging, retries, last error) for `status`; the OID each mapped
 *           table had when its targets were filled (source_tables).
 * Not mine: target data; spool files (pipeline/spool).
 * Durability: WAL journal with synchronous=FULL (state/sqlite); survives kill -9.
 */
#ifndef WAL2EDGE_STATE_STORE_H
#define WAL2EDGE_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/lsn.h"

typedef struct Store Store;

typedef struct StoreCheckpoint {
    char target[96];
    TargetCheckpoint checkpoint;
    int64_t commit_time_us;       /* of the checkpoint's transaction; 0 if unknown */
    int64_t updated_at_us;        /* wall clock when it was recorded */
    bool through_known;           /* false for rows written before positions were recorded */
    Lsn through;                  /* complete through this position (>= checkpoint.end_lsn) */
    Lsn incarnation;              /* the slot incarnation it was recorded under; 0 unknown */
} StoreCheckpoint;

/* Open or create STATE_DIR/state.sqlite (and STATE_DIR). */
Store *store_open(const char *state_dir, Err *err) WARN_UNUSED;
/* Open an existing store read-only-ish for status; NULL with ERR_STORE if there is none. */
Store *store_open_existing(const char *state_dir, Err *err) WARN_UNUSED;
void store_close(Store *s);

/*
 * Record the source on first use; afterwards refuse (ERR_CHECK) a different
 * system identifier, database or slot, with a message naming both.
 */
bool store_bind_source(Store *s, const char *system_id, const char *database, const char *slot,
                       Err *err) WARN_UNUSED;

bool store_save_checkpoint(Store *s, const char *target, const TargetCheckpoint *cp, int64_t commit_time_us,
                           int64_t now_us, Err *err) WARN_UNUSED;

/*
 * The slot's incarnation: its creation point, recorded when wal2edge creates
 * the slot (run, slot create, migrate, warm, snapshot). Checkpoints saved from
 * then on carry it (pipeline/gap: a checkpoint of an earlier incarnation has
 * a gap). 0 when unknown (the slot was made elsewhere).
 */
bool store_set_incarnation(Store *s, Lsn created_at, Err *err) WARN_UNUSED;
bool store_load_incarnation(Store *s, Err *err) WARN_UNUSED;
/* Open the state directory's store, set the incarnation, close it (for jobs that make the slot). */
bool store_record_incarnation(const char *state_dir, Lsn created_at, Err *err) WARN_UNUSED;
Lsn store_incarnation(const Store *s);

/*
 * Record that these targets are complete through lsn (never moves back): the
 * loop calls it before it confirms to the slot a position past their
 * checkpoints (nothing of theirs was pending), so a later start can tell an
 * idle advance of the slot from a gap. One transaction.
 */
bool store_save_through(Store *s, const char *const *targets, size_t count, Lsn lsn, Err *err) WARN_UNUSED;
/* `run --accept-gap`: the target is declared complete through lsn, even backwards. */
bool store_accept_gap(Store *s, const char *target, Lsn lsn, Err *err) WARN_UNUSED;

/* Fill up to max entries; *count gets how many there are. */
bool store_list_checkpoints(Store *s, StoreCheckpoint *out, size_t max, size_t *count, Err *err) WARN_UNUSED;

/* A target that keeps failing with retryable errors and falls behind on its own (daemon/fanout). */
typedef struct StoreTargetHealth {
    char target[96];
    bool lagging;                 /* behind, waiting for its next retry */
    uint32_t retries;             /* failed attempts since it last made progress */
    int64_t since_us;             /* wall clock when it fell behind; 0 when current */
    int64_t next_retry_us;        /* wall clock of the next attempt; 0 when current */
    char last_error[ERR_MSG_MAX]; /* the latest failure ("" if none in this run) */
    int64_t updated_at_us;
} StoreTargetHealth;

/* Upsert the row of h->target (table target_health). */
bool store_save_target_health(Store *s, const StoreTargetHealth *h, Err *err) WARN_UNUSED;
/* Fill up to max entries ordered by target; *count gets how many there are. */
bool store_list_target_health(Store *s, StoreTargetHealth *out, size_t max, size_t *count, Err *err) WARN_UNUSED;

/*
 * The OID a mapped table had when its targets were last filled from it, per
 * filler ("d1": migrate, "kv": warm, "stream": run alone). A table dropped and
 * created again has a new OID: daemon/source_watch compares. *found false when
 * nothing is recorded yet.
 */
bool store_table_oid(Store *s, const char *qualname, const char *filled_by, uint32_t *oid, bool *found,
                     Err *err) WARN_UNUSED;
bool store_set_table_oid(Store *s, const char *qualname, const char *filled_by, uint32_t oid, int64_t now_us,
                         Err *err) WARN_UNUSED;

#endif

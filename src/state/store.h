/*
 * state/store.h - wal2edge's local state: STATE_DIR/state.sqlite.
 *
 * Owns:     which source this state directory belongs to (system identifier,
 *           database, slot: a state directory is never silently reused for
 *           another source), and a durable record of each target's last
 *           checkpoint for `status` (each target's own checkpoint, kept with
 *           its data, stays authoritative for what to skip).
 * Not mine: target data; spool files (pipeline/spool).
 * Durability: WAL journal with synchronous=FULL (state/sqlite); survives kill -9.
 */
#ifndef WAL2EDGE_STATE_STORE_H
#define WAL2EDGE_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pipeline/target.h"

typedef struct Store Store;

typedef struct StoreCheckpoint {
    char target[96];
    TargetCheckpoint checkpoint;
    int64_t commit_time_us;       /* of the checkpoint's transaction; 0 if unknown */
    int64_t updated_at_us;        /* wall clock when it was recorded */
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

/* Fill up to max entries; *count gets how many there are. */
bool store_list_checkpoints(Store *s, StoreCheckpoint *out, size_t max, size_t *count, Err *err) WARN_UNUSED;

#endif

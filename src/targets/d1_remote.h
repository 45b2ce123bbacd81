/*
 * targets/d1_remote.h - the remote D1 target: the mapped tables in a D1
 *                       database, written over the Cloudflare REST API.
 *
 * Owns:     buffering transactions into D1 `batch` requests, the checkpoint
 *           row in _wal2edge_state (slot, commit_lsn, end_lsn, updated_at)
 *           sent inside the same request, creating the schema from d1/ddl on
 *           open (IF NOT EXISTS: idempotent) and reading the checkpoint back.
 * Not mine: the statements (d1/sql, with inline_blobs: REST cannot bind a
 *           BLOB), the schema (d1/ddl), HTTP, retries and the rate budget
 *           (cf/client, shared by every REST target of a run).
 * Pure:     no (network through CfClient).
 * Trust:    D1's answers are parsed by cf/payload; only the checkpoint row is
 *           read back, and a malformed one is an error.
 *
 * Effectively-once: a D1 batch request is one transaction. Consecutive
 * committed source transactions are grouped into one request, up to
 * max_statements statements and max_request_bytes bytes (SQL + parameters);
 * the request ends with the upsert of the checkpoint of the last complete
 * transaction in it, so data and checkpoint commit together. The loop's flush
 * interval bounds how long a transaction waits (max latency). A transaction
 * too large for one request is sent in order in several requests (upserts and
 * deletes by key: replaying any prefix of it is harmless); only the request
 * holding its last statement carries its checkpoint. On open the checkpoint
 * is read into Target.durable; a transaction not after it is skipped.
 *
 * Failures: a request that still fails after the client's retries (HTTP,
 * timeout: retryable) keeps everything buffered, and the next flush sends it
 * again; the loop reconnects meanwhile (the open transaction is rolled back
 * and sent again by the server). A permanent error (D1 refused a statement:
 * constraint, bad SQL, a limit) is narrowed down to one transaction by
 * sending the buffered transactions one per request (the ones before it are
 * applied and checkpointed). A constraint error is narrowed further to one
 * statement by bisecting with probe requests that D1 always rolls back; its
 * table's "on_error" then skips it (dead letter; the transaction is sent again
 * without it, with its checkpoint, in one request) or stops. Anything else is
 * reported with the D1 code and message, the table and the LSN (ERR_CF_API),
 * and the target refuses further work until freed: the run stops and a
 * restart resumes from the checkpoint. A row over a limit is refused (skipped
 * or stopped) before anything is sent.
 */
#ifndef WAL2EDGE_TARGETS_D1_REMOTE_H
#define WAL2EDGE_TARGETS_D1_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "cf/client.h"
#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pipeline/target.h"

/* Default caps of one request. The REST API documents no batch or body limit
 * (cloudflare-api.md §2.5); these keep a request well inside D1's 30 s and
 * leave room for JSON escaping. */
#define D1_REMOTE_MAX_STATEMENTS 500
#define D1_REMOTE_MAX_REQUEST_BYTES 1000000

/* Sends one batch (one D1 transaction); the signature of cf_d1_batch without
 * the client and database id. Tests substitute their own. */
typedef bool (*D1RemoteSendFn)(void *user, const CfD1Stmt *stmts, size_t n, CfD1Result *out,
                               Err *err);

typedef struct D1RemoteOptions {
    size_t max_statements;         /* per request, checkpoint included; 0 → default */
    size_t max_request_bytes;      /* SQL + parameter bytes per request; 0 → default. A
                                      single statement larger than this goes alone. */
    D1RemoteSendFn send;           /* NULL → cf_d1_batch(client, t->remote_id, ...) */
    void *send_user;
    int fence_interval_ms;         /* a checkpoint-only request at most this often; 0 → 5000 */
} D1RemoteOptions;

typedef struct D1RemoteStats {
    uint64_t requests;             /* batch requests that succeeded */
    uint64_t failed_requests;      /* after the client's retries */
    uint64_t statements;           /* data statements applied (checkpoints not counted) */
    uint64_t transactions;         /* source transactions applied */
} D1RemoteStats;

/*
 * The D1 database t->remote_id through `client` (borrowed; must outlive the
 * target). Tables: the mappings whose d1.database is t->name, resolved
 * against `cat` (may be freed afterwards; `maps` must outlive the target).
 * Creates the schema and reads the checkpoint (one request). ERR_CONFIG when
 * the mappings do not pass `plan`'s checks; the client's errors otherwise.
 */
Target *d1_remote_target_new(const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                             const char *slot, CfClient *client, const D1RemoteOptions *opts,
                             Err *err) WARN_UNUSED;

/* Counters of a target made by d1_remote_target_new. */
D1RemoteStats d1_remote_stats(const Target *t);

/* Send what is committed and the last committed transaction's checkpoint now,
 * even when the checkpoint is all there is to send (flush sends such a
 * request at most every fence interval). migrate uses it to leave the checkpoint at
 * exactly the copy's point. */
bool d1_remote_flush_checkpoint(Target *t, Err *err) WARN_UNUSED;

#endif

/*
 * pipeline/assembler.h - turn the pgoutput message stream into complete
 *                        transactions, in commit order, with bounded memory.
 *
 * Owns:     the transaction state machine of pgoutput: ordinary transactions
 *           (Begin..Commit) pass straight through to the sink as they arrive;
 *           streamed in-progress transactions are spooled to disk per
 *           top-level xid and replayed at Stream Commit (a Stream Abort drops
 *           the whole transaction or just one subtransaction's changes);
 *           two-phase transactions are staged durably at PREPARE and replayed
 *           at COMMIT PREPARED, dropped at ROLLBACK PREPARED. Also the relation
 *           cache that gives every change its table and columns.
 * Not mine: sockets (pg/stream), which target gets what (daemon/fanout, the sink),
 *           rendering values (targets).
 * Memory:   no transaction is held in memory; only spool file handles and the
 *           set of aborted subtransactions per open streamed transaction.
 * Trust:    messages are decoded by pg/pgoutput with full bounds checks; a
 *           change for an unknown relation or a column count that disagrees
 *           with its Relation message is ERR_PROTOCOL.
 */
#ifndef WAL2EDGE_PIPELINE_ASSEMBLER_H
#define WAL2EDGE_PIPELINE_ASSEMBLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pipeline/change.h"

typedef struct AsmSink {
    void *ctx;
    /* Whether any target still needs the transaction committing at commit_lsn. */
    bool (*wants)(void *ctx, Lsn commit_lsn);
    bool (*begin)(void *ctx, const TxnInfo *txn, Err *err);
    bool (*change)(void *ctx, const TxnInfo *txn, const Change *c, Err *err);
    bool (*commit)(void *ctx, const TxnInfo *txn, Err *err);
    void (*rollback)(void *ctx);
    /* Non-transactional logical message. */
    bool (*message)(void *ctx, const Change *c, Err *err);
    /* Asked every few hundred records while a staged transaction is replayed; true abandons
     * the replay: the sink gets rollback(), the feed fails with ERR_INTERRUPTED and nothing
     * of the transaction is committed (the server sends it again). May be NULL. */
    bool (*stop)(void *ctx);
} AsmSink;

typedef struct AsmStats {
    uint64_t transactions;         /* delivered to the sink */
    uint64_t changes;
    uint64_t streamed;             /* streamed transactions replayed */
    uint64_t stream_aborts;        /* whole streamed transactions dropped */
    uint64_t subxact_aborts;
    uint64_t prepared;             /* staged at PREPARE */
    uint64_t rolled_back_prepared;
    uint64_t spooled_bytes;
    uint64_t replay_us;            /* time spent delivering staged transactions */
} AsmStats;

typedef struct Assembler Assembler;

/* spool_dir is created if missing; staged prepared transactions found there are kept. */
Assembler *assembler_new(const char *spool_dir, const AsmSink *sink, Err *err) WARN_UNUSED;
void assembler_free(Assembler *a);

/* Feed one pgoutput message (an XLogData payload) tagged with its walStart. */
bool assembler_feed(Assembler *a, Lsn wal_start, const uint8_t *msg, size_t len, Err *err) WARN_UNUSED;

/* True between transactions: nothing half-received (no Begin without Commit,
 * no open stream block, no Begin Prepare without Prepare). */
bool assembler_idle(const Assembler *a);

/* A new replication session: forget relations, a half-received transaction
 * (the sink gets rollback()) and every in-progress streamed transaction (the
 * server streams them again from the start). Staged prepared transactions stay. */
bool assembler_reset(Assembler *a, Err *err) WARN_UNUSED;

const AsmStats *assembler_stats(const Assembler *a);
/* Bytes in the spool files being written now (open streamed transactions, a prepare in progress). */
uint64_t assembler_spool_bytes(const Assembler *a);

#endif

/*
 * pipeline/change.h - the change model every target receives.
 *
 * Owns:     TxnInfo (one committed source transaction) and Change (one row
 *           change, truncate or logical message inside it), as handed from the
 *           replication loop to the targets.
 * Not mine: decoding (pg/pgoutput), relation metadata (pg/relcache), how a
 *           target renders values (each target; values are Postgres text or
 *           binary exactly as pgoutput sent them).
 * Pure:     types only.
 *
 * Lifetime: every pointer in a Change is borrowed and valid only during the
 * target callback that receives it; a target that needs a value later copies it.
 */
#ifndef WAL2EDGE_PIPELINE_CHANGE_H
#define WAL2EDGE_PIPELINE_CHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "pg/lsn.h"
#include "pg/pgoutput.h"
#include "pg/relcache.h"

typedef struct TxnInfo {
    uint32_t xid;              /* top-level transaction id */
    Lsn commit_lsn;            /* LSN of the commit (or COMMIT PREPARED) record */
    Lsn end_lsn;               /* end of that record: what the slot is confirmed up to */
    int64_t commit_time_us;    /* microseconds since the Unix epoch */
    const char *gid;           /* two-phase transactions: the GID; NULL otherwise */
    bool staged;               /* replayed from the spool (a streamed or prepared transaction) */
} TxnInfo;

typedef enum ChangeOp {
    CHANGE_INSERT,
    CHANGE_UPDATE,
    CHANGE_DELETE,
    CHANGE_TRUNCATE,
    CHANGE_MESSAGE,            /* pg_logical_emit_message */
} ChangeOp;

typedef struct Change {
    ChangeOp op;
    uint32_t index;            /* 0-based position within the transaction */
    /* INSERT / UPDATE / DELETE */
    const Rel *rel;
    const PgoTuple *new_tuple; /* INSERT, UPDATE; columns may be 'u' (unchanged TOAST) */
    const PgoTuple *old_tuple; /* UPDATE ('K' key or 'O' full old row) and DELETE; NULL if not sent */
    uint8_t old_kind;          /* 0, 'K' or 'O' */
    /* TRUNCATE */
    uint32_t truncate_count;
    const Rel *const *truncate_rels;
    bool truncate_cascade;
    bool truncate_restart_identity;
    /* MESSAGE */
    bool message_transactional;
    Lsn message_lsn;
    PgoStr message_prefix;
    const uint8_t *message_content;
    uint32_t message_len;
} Change;

#endif

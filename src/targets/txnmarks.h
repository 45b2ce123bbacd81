/*
 * targets/txnmarks.h - the transaction marks of a REST target's send buffer.
 *
 * Owns:     where each committed transaction ends in a buffer of items waiting
 *           to be sent (statements for D1, messages for a queue), with its
 *           commit and end LSN: the checkpoint the buffer reaches once its first
 *           n items are sent, and keeping the marks right when items leave the
 *           front or the middle of the buffer.
 * Not mine: the items themselves (each target), sending them.
 * Pure:     yes.
 */
#ifndef WAL2EDGE_TARGETS_TXNMARKS_H
#define WAL2EDGE_TARGETS_TXNMARKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg/lsn.h"
#include "pipeline/change.h"

typedef struct TxnMark {
    size_t end;                /* the transaction's items end here in the buffer */
    Lsn commit_lsn;
    Lsn end_lsn;
    int64_t commit_time_us;
} TxnMark;

typedef struct TxnMarks {
    TxnMark *items;            /* in buffer order; owned */
    size_t count, cap;
} TxnMarks;

/* The transaction txn ends at item `end` (the buffer's count at its commit). */
void txn_marks_push(TxnMarks *m, size_t end, const TxnInfo *txn);

/*
 * The first n items left the buffer (sent): drop the marks that end within
 * them and move the others down by n. The last mark dropped - the checkpoint
 * the buffer reached - goes to *reached (may be NULL); false when none was.
 */
bool txn_marks_drop_prefix(TxnMarks *m, size_t n, TxnMark *reached);

/* Item k left the buffer alone (a skipped row): the marks after it move down. */
void txn_marks_drop_at(TxnMarks *m, size_t k);

/* How many transactions end within the first n items. */
size_t txn_marks_within(const TxnMarks *m, size_t n);

void txn_marks_free(TxnMarks *m);

#endif

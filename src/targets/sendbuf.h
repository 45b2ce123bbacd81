/*
 * targets/sendbuf.h - the marked send buffer of the REST targets: items waiting
 *                     to be sent (statements for D1, messages for a queue), and
 *                     where each committed transaction ends among them.
 *
 * Owns:     the items (copied in, freed through the owner's callback), their
 *           total size, the committed/open split, the transaction marks
 *           (targets/txnmarks) kept right as items leave the front, the open
 *           end or the middle, and the message of a refused send ("the
 *           checkpoint stays at").
 * Not mine: what an item is and sending it (each target).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_TARGETS_SENDBUF_H
#define WAL2EDGE_TARGETS_SENDBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pg/lsn.h"
#include "pipeline/change.h"
#include "targets/txnmarks.h"

typedef struct SendBuf {
    void *items;               /* count items of item_size bytes; owned */
    size_t item_size, count, cap;
    size_t committed;          /* items[0..committed) belong to committed transactions */
    size_t bytes;              /* item_bytes summed over items[0..count) */
    TxnMarks marks;            /* where each committed transaction ends in items */
    void (*free_item)(void *item);
    size_t (*item_bytes)(const void *item);
} SendBuf;

void sendbuf_init(SendBuf *b, size_t item_size, void (*free_item)(void *), size_t (*item_bytes)(const void *));
void sendbuf_free(SendBuf *b);

/* Item i (i < count). */
static inline void *sendbuf_at(const SendBuf *b, size_t i)
{
    return (char *)b->items + i * b->item_size;
}

/* Append a copy of *item (which the buffer now owns) to the open transaction. */
void sendbuf_push(SendBuf *b, const void *item);

/* The open transaction committed: its items end here. */
void sendbuf_commit(SendBuf *b, const TxnInfo *txn);

/*
 * The first n items were sent: free them, drop the marks within them. The last
 * transaction they completed goes to *reached (may be NULL); false when none.
 */
bool sendbuf_drop_prefix(SendBuf *b, size_t n, TxnMark *reached);

/* Forget the open transaction's items (items[committed..count)). */
void sendbuf_drop_open(SendBuf *b);

/* Item k leaves alone (a row skipped under "on_error": "skip"); the marks after it move down. */
void sendbuf_drop_at(SendBuf *b, size_t k);

/*
 * A send refused for good: *err (which may be cause itself) becomes code with
 * "WHAT: CAUSE; the checkpoint stays at LSN" and the cause's detail; WHAT is
 * printf-formatted.
 */
void sendbuf_refused(Err *err, ErrCode code, const Err *cause, Lsn durable_commit, const char *fmt, ...)
    ATTR_PRINTF(5, 6);

#endif

/*
 * targets/sendbuf.c - see sendbuf.h. One growable array of fixed-size items
 * (the owner's struct, opaque here) beside the transaction marks; items leave
 * from the front once sent, so every drop is a memmove and the marks follow.
 */
#include "targets/sendbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void sendbuf_init(SendBuf *b, size_t item_size, void (*free_item)(void *), size_t (*item_bytes)(const void *))
{
    *b = (SendBuf){.item_size = item_size, .free_item = free_item, .item_bytes = item_bytes};
}

static void release(SendBuf *b, size_t i)
{
    void *it = sendbuf_at(b, i);
    b->bytes -= b->item_bytes(it);
    b->free_item(it);
}

void sendbuf_free(SendBuf *b)
{
    for (size_t i = 0; i < b->count; i++)
        release(b, i);
    free(b->items);
    txn_marks_free(&b->marks);
    b->items = NULL;
    b->count = b->cap = b->committed = b->bytes = 0;
}

void sendbuf_push(SendBuf *b, const void *item)
{
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->items = xrealloc(b->items, b->cap * b->item_size);
    }
    memcpy(sendbuf_at(b, b->count), item, b->item_size);
    b->bytes += b->item_bytes(item);
    b->count++;
}

void sendbuf_commit(SendBuf *b, const TxnInfo *txn)
{
    txn_marks_push(&b->marks, b->count, txn);
    b->committed = b->count;
}

bool sendbuf_drop_prefix(SendBuf *b, size_t n, TxnMark *reached)
{
    for (size_t i = 0; i < n; i++)
        release(b, i);
    if (n > 0 && b->count > n)
        memmove(b->items, sendbuf_at(b, n), (b->count - n) * b->item_size);
    b->count -= n;
    b->committed = b->committed > n ? b->committed - n : 0;
    return txn_marks_drop_prefix(&b->marks, n, reached);
}

void sendbuf_drop_open(SendBuf *b)
{
    for (size_t i = b->committed; i < b->count; i++)
        release(b, i);
    b->count = b->committed;
}

void sendbuf_drop_at(SendBuf *b, size_t k)
{
    release(b, k);
    memmove(sendbuf_at(b, k), sendbuf_at(b, k + 1), (b->count - k - 1) * b->item_size);
    b->count--;
    if (k < b->committed)
        b->committed--;
    txn_marks_drop_at(&b->marks, k);
}

void sendbuf_refused(Err *err, ErrCode code, const Err *cause, Lsn durable_commit, const char *fmt, ...)
{
    char what[ERR_MSG_MAX], at[LSN_STR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    Err c = *cause; /* cause may be err itself */
    err_set(err, code, "%s: %s; the checkpoint stays at %s", what, c.msg, lsn_format(durable_commit, at));
    err->detail = c.detail;
}

/*
 * targets/txnmarks.c - see txnmarks.h. The marks are kept in buffer order, so
 * the ones a sent prefix covers are always the first few: dropping them is one
 * memmove, and the rest shift down by the prefix's length.
 */
#include "targets/txnmarks.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void txn_marks_push(TxnMarks *m, size_t end, const TxnInfo *txn)
{
    if (m->count == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->items = xrealloc(m->items, m->cap * sizeof *m->items);
    }
    m->items[m->count++] = (TxnMark){end, txn->commit_lsn, txn->end_lsn, txn->commit_time_us};
}

size_t txn_marks_within(const TxnMarks *m, size_t n)
{
    size_t k = 0;
    while (k < m->count && m->items[k].end <= n)
        k++;
    return k;
}

bool txn_marks_drop_prefix(TxnMarks *m, size_t n, TxnMark *reached)
{
    size_t k = txn_marks_within(m, n);
    if (k > 0 && reached)
        *reached = m->items[k - 1];
    if (k > 0 && m->count > k)
        memmove(m->items, m->items + k, (m->count - k) * sizeof *m->items);
    m->count -= k;
    for (size_t i = 0; i < m->count; i++)
        m->items[i].end -= n;
    return k > 0;
}

void txn_marks_drop_at(TxnMarks *m, size_t k)
{
    for (size_t i = 0; i < m->count; i++)
        if (m->items[i].end > k)
            m->items[i].end--;
}

void txn_marks_free(TxnMarks *m)
{
    free(m->items);
    memset(m, 0, sizeof *m);
}

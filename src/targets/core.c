/*
 * targets/core.c - see core.h. The state is three flags and one checkpoint:
 * begin decides skip or apply from the later of the pending and the durable
 * checkpoint (target_covers, the loop's rule), commit and fence move pending,
 * and a break makes every later call fail with the target's own message until
 * the process restarts from the durable checkpoint.
 */
#include "targets/core.h"

#include <stdlib.h>

#include "core/log.h"

void txn_core_init(TxnCore *c, const Target *t, ErrCode broken_code, char *broken_msg)
{
    *c = (TxnCore){.target = t, .pending = target_durable(t), .broken_code = broken_code, .broken_msg = broken_msg};
}

void txn_core_free(TxnCore *c)
{
    free(c->broken_msg);
    c->broken_msg = NULL;
}

bool txn_core_ok(const TxnCore *c, Err *err)
{
    if (c->broken)
        return err_set(err, c->broken_code, "%s", c->broken_msg ? c->broken_msg : "the target failed earlier");
    return true;
}

TargetCheckpoint txn_core_last(const TxnCore *c)
{
    TargetCheckpoint d = target_durable(c->target);
    return c->pending.commit_lsn > d.commit_lsn ? c->pending : d;
}

TxnStep txn_core_begin(TxnCore *c, const TxnInfo *txn, Err *err)
{
    if (!txn_core_ok(c, err))
        return TXN_FAIL;
    TargetCheckpoint last = txn_core_last(c);
    c->skipping = target_covers(&last, txn->commit_lsn);
    c->applying = !c->skipping;
    return c->skipping ? TXN_SKIP : TXN_APPLY;
}

TxnStep txn_core_change(TxnCore *c, const Change *ch, Err *err)
{
    if (!txn_core_ok(c, err))
        return TXN_FAIL;
    if (c->skipping || (ch->op == CHANGE_MESSAGE && !c->messages))
        return TXN_SKIP;
    if (!c->applying)
        return err_set(err, ERR_INTERNAL, "change outside a transaction"), TXN_FAIL;
    return TXN_APPLY;
}

TxnStep txn_core_commit(TxnCore *c, Err *err)
{
    if (!txn_core_ok(c, err))
        return TXN_FAIL;
    if (c->skipping) {
        c->skipping = false;
        return TXN_SKIP;
    }
    return TXN_APPLY;
}

void txn_core_committed(TxnCore *c, const TxnInfo *txn)
{
    c->applying = false;
    c->pending = (TargetCheckpoint){.commit_lsn = txn->commit_lsn, .end_lsn = txn->end_lsn};
}

bool txn_core_rollback(TxnCore *c)
{
    if (c->skipping) {
        c->skipping = false;
        return false;
    }
    bool undo = c->applying;
    c->applying = false;
    return undo;
}

TxnStep txn_core_fence(TxnCore *c, const TargetCheckpoint *at, Err *err)
{
    if (!txn_core_ok(c, err))
        return TXN_FAIL;
    return c->applying || c->skipping || at->end_lsn <= c->pending.end_lsn ? TXN_SKIP : TXN_APPLY;
}

void txn_core_fenced(TxnCore *c, const TargetCheckpoint *at)
{
    c->pending = *at;
}

void txn_core_break(TxnCore *c)
{
    c->broken = true;
    c->applying = false;
    c->skipping = false;
}

bool resync_take_skipped(Target *t, ResyncWindow *w, Err *err)
{
    char *table = w->skipped_table;
    w->skipped_table = NULL;
    if (!table)
        return true;
    bool ok = true;
    if (!t->resync) {
        log_warn(NULL, "%s: a resync chunk came without its low watermark (a restart between them) and was left "
                       "out: run `wal2edge resync` again to copy it",
                 t->name);
    } else {
        log_warn(NULL,
                 "%s: a resync chunk of %s came without its low watermark (a restart between them) and was left "
                 "out: its copy starts over",
                 t->name, table);
        /* into this target only: the others got the chunk (a queue would get its read events twice) */
        ok = t->resync->request(t->resync->ctx, t->name, table,
                                "a chunk came without its low watermark after a restart", w->skipped_lsn, err);
    }
    free(table);
    return ok;
}

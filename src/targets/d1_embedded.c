/*
 * targets/d1_embedded.c - see d1_embedded.h. Source transactions accumulate in
 * one SQLite transaction, each in a savepoint of its own (so a half-received one
 * rolls back alone); the checkpoint row of the last one committed (or fenced) is
 * written once, by flush, in that same SQLite transaction just before it commits -
 * one row write per flush instead of one per source transaction. Statements are
 * prepared once and cached by their text. targets/core decides skip, apply or refuse.
 */
#include "targets/d1_embedded.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "pipeline/deadletter.h"
#include "d1/ddl.h"
#include "d1/resync.h"
#include "d1/shard.h"
#include "d1/sql.h"
#include "state/sqlite.h"
#include "targets/checkpoint.h"
#include "targets/core.h"
#include "targets/d1_follow.h"

#define STMT_CACHE 64

typedef struct CachedStmt {
    char *sql;
    SqliteStmt *st;
} CachedStmt;

typedef struct D1Embedded {
    Target base;
    Sqlite *db;
    D1Schema *schema;
    char *slot;
    D1SqlLimits limits;
    CachedStmt cache[STMT_CACHE];
    size_t cache_next;
    bool in_tx;                /* a SQLite transaction is open */
    uint32_t rewritten;        /* a table_rewrite's OID until its ddl_command_end (targets/d1_follow) */
    ResyncWindow resync;       /* between a resync chunk's watermarks (pipeline/resync) */
    char *migrations_dir;      /* the target's "migrations_dir" (targets/d1_follow), or NULL */
    TxnCore core;              /* skip / apply / broken, and the checkpoint not yet flushed */
    bool ckpt_due;             /* core.pending is not in the checkpoint row yet (written by flush) */
    int64_t ckpt_time_us;      /* core.pending's commit time */
} D1Embedded;

static SqliteStmt *prepared(D1Embedded *d, const char *sql, Err *err)
{
    for (size_t i = 0; i < STMT_CACHE; i++)
        if (d->cache[i].sql && strcmp(d->cache[i].sql, sql) == 0) {
            sqlite_reset(d->cache[i].st);
            return d->cache[i].st;
        }
    SqliteStmt *st = sqlite_prepare(d->db, sql, err);
    if (!st)
        return NULL;
    CachedStmt *slot = &d->cache[d->cache_next];
    d->cache_next = (d->cache_next + 1) % STMT_CACHE;
    free(slot->sql);
    sqlite_finalize(slot->st);
    slot->sql = xstrdup(sql);
    slot->st = st;
    return st;
}

static bool bind(SqliteStmt *st, int idx, const D1Value *v, Err *err)
{
    switch (v->kind) {
    case D1V_NULL:
        return sqlite_bind_null(st, idx, err);
    case D1V_INTEGER:
        return sqlite_bind_int64(st, idx, v->i, err);
    case D1V_REAL:
        return sqlite_bind_double(st, idx, v->r, err);
    case D1V_TEXT:
        return sqlite_bind_text(st, idx, v->data, v->len, err);
    case D1V_BLOB:
        return sqlite_bind_blob(st, idx, v->data, v->len, err);
    }
    return sqlite_bind_null(st, idx, err);
}

static bool exec_list(D1Embedded *d, const D1StmtList *l, Err *err)
{
    for (size_t i = 0; i < l->count; i++) {
        const D1Stmt *s = &l->items[i];
        SqliteStmt *st = prepared(d, s->sql, err);
        if (!st)
            return false;
        for (size_t k = 0; k < s->param_count; k++)
            if (!bind(st, (int)k + 1, &s->params[k], err))
                return false;
        int rc;
        while ((rc = sqlite_step(st, err)) == 1) {
        }
        sqlite_reset(st);
        if (rc < 0)
            return false;
    }
    return true;
}

/* One statement without parameters (savepoints), prepared once. */
static bool exec_one(D1Embedded *d, const char *sql, Err *err)
{
    SqliteStmt *st = prepared(d, sql, err);
    if (!st)
        return false;
    int rc = sqlite_step(st, err);
    sqlite_reset(st);
    return rc >= 0;
}

static bool fail_and_rollback(D1Embedded *d, Err *err)
{
    (void)err;
    if (d->in_tx)
        sqlite_rollback(d->db);
    d->in_tx = false;
    d->ckpt_due = false;
    d->core.pending = target_durable(&d->base); /* the unflushed work is gone */
    txn_core_break(&d->core);
    return false;
}

static bool emb_begin(Target *t, const TxnInfo *txn, Err *err)
{
    D1Embedded *d = (D1Embedded *)t;
    TxnStep step = txn_core_begin(&d->core, txn, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!d->in_tx) {
        if (!sqlite_begin(d->db, err))
            return fail_and_rollback(d, err);
        d->in_tx = true;
    }
    /* a savepoint per source transaction, so one can be rolled back alone (emb_rollback) */
    if (!exec_one(d, "SAVEPOINT wal2edge_txn", err))
        return fail_and_rollback(d, err);
    return true;
}

static void emb_rollback(Target *t)
{
    D1Embedded *d = (D1Embedded *)t;
    if (!txn_core_rollback(&d->core))
        return;
    Err err;
    if (!exec_one(d, "ROLLBACK TO wal2edge_txn", &err) || !exec_one(d, "RELEASE wal2edge_txn", &err))
        fail_and_rollback(d, &err); /* the next call reports the broken state */
}

static bool apply_truncate(D1Embedded *d, const Change *c, Err *err)
{
    D1StmtList l = {0};
    bool ok = true;
    for (uint32_t i = 0; ok && i < c->truncate_count; i++) {
        const D1Table *tab = d1_schema_table(d->schema, c->truncate_rels[i]->qualname);
        if (tab)
            ok = d1_sql_truncate(tab, &l, err);
    }
    ok = ok && exec_list(d, &l, err);
    d1_stmt_list_clear(&l);
    return ok;
}

/* A change D1 refuses for its row alone: dead letter and go on, or stop (docs/mappings.md, "on_error"). */
static bool refuse_row(D1Embedded *d, const D1Table *tab, const TxnInfo *txn, const Change *c, bool constraint,
                       Err *err)
{
    D1Refusal r;
    d1_refusal_init(&r, tab, d->base.name, txn, c, constraint, err);
    bool ok = deadletter_refuse(d->base.deadletter, &r.policy, &r.entry, err);
    d1_refusal_free(&r);
    return ok;
}

/* Apply one row change; a refusal of this row alone goes to refuse_row (*refused: its error is complete). */
static bool apply_row(D1Embedded *d, const D1Table *tab, const TxnInfo *txn, const Change *c, bool *refused,
                      Err *err)
{
    D1StmtList l = {0};
    bool ok = d1_sql_for_change(tab, c, txn->commit_lsn, &d->limits, &l, err);
    if (!ok) {
        d1_stmt_list_clear(&l);
        *refused = err->code == ERR_TOO_LARGE;
        return *refused && refuse_row(d, tab, txn, c, false, err);
    }
    /* a skipped change of several statements (key change) must leave none of them applied */
    bool guard = l.count > 1 && tab->mapping->d1.on_error == MAP_ON_ERROR_SKIP;
    ok = (!guard || exec_one(d, "SAVEPOINT wal2edge_row", err)) && exec_list(d, &l, err);
    d1_stmt_list_clear(&l);
    if (ok)
        return !guard || exec_one(d, "RELEASE wal2edge_row", err);
    if (!sqlite_err_is_constraint(err))
        return false;
    Err sub;
    if (guard && (!exec_one(d, "ROLLBACK TO wal2edge_row", &sub) || !exec_one(d, "RELEASE wal2edge_row", &sub))) {
        *err = sub;
        return false;
    }
    *refused = true;
    return refuse_row(d, tab, txn, c, true, err);
}

/* A resync watermark (pipeline/resync, d1/resync): a chunk's rows, less those the stream changed meanwhile. */
static bool apply_resync(D1Embedded *d, const Change *c, Err *err)
{
    D1StmtList l = {0};
    const D1Table *tab;
    long rows;
    bool skipped = false;
    bool ok = d1_resync_message(&d->resync, c, d->base.name, d->schema->tables, d->schema->table_count, &d->limits,
                                &l, &tab, &rows, &skipped, err) &&
              exec_list(d, &l, err);
    if (skipped)
        ok = ok && resync_take_skipped(&d->base, &d->resync, err);
    if (ok && tab)
        log_debug(NULL, "%s: resync of %s: %ld rows, %" PRId64 " stale rows removed", d->base.name, tab->source, rows,
                  sqlite_changes(d->db));
    d1_stmt_list_clear(&l);
    return ok;
}

static bool emb_change(Target *t, const TxnInfo *txn, const Change *c, Err *err)
{
    D1Embedded *d = (D1Embedded *)t;
    TxnStep step = txn_core_change(&d->core, c, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    bool ok, refused = false;
    if (c->op == CHANGE_MESSAGE) /* resync watermarks; schema changes (the error names the way back) */
        return (apply_resync(d, c, err) &&
                d1_follow_message(d->db, d->schema, d->base.name, d->migrations_dir, d->base.resync, c, &d->rewritten,
                                  err)) ||
               fail_and_rollback(d, err);
    if (c->op == CHANGE_TRUNCATE) {
        ok = apply_truncate(d, c, err);
    } else {
        const D1Table *tab = c->rel ? d1_schema_table(d->schema, c->rel->qualname) : NULL;
        Change moved;
        const Change *mine = c;
        if (!tab)
            return true; /* not mapped to this database */
        /* columns changed without a DDL capture message before them (targets/d1_follow) */
        if (!d1_follow_relation(d->db, d->schema, d->base.name, d->migrations_dir, d->base.resync, c->rel, err))
            return fail_and_rollback(d, err);
        ok = d1_shard_route(tab, c, &mine, &moved, err);
        if (ok && !mine)
            return true; /* another shard's row: a resync chunk here deletes a stale copy of it */
        /* the stream's version in this database wins over a resync chunk's (only what it
         * routes here: see targets/d1_remote) */
        if (ok && tab->key_count >= 1)
            resync_record(&d->resync, tab->cols[tab->key[0]].pg_name, mine);
        ok = ok && apply_row(d, tab, txn, mine, &refused, err);
    }
    if (!ok && refused)
        return fail_and_rollback(d, err); /* the refusal's message names everything */
    if (!ok) {
        char lsn[LSN_STR_MAX];
        err_prefix(err, "table \"%s\", transaction at %s", c->rel ? c->rel->qualname : "?",
                   lsn_format(txn->commit_lsn, lsn));
        return fail_and_rollback(d, err);
    }
    return true;
}

static bool emb_commit(Target *t, const TxnInfo *txn, Err *err)
{
    D1Embedded *d = (D1Embedded *)t;
    TxnStep step = txn_core_commit(&d->core, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!exec_one(d, "RELEASE wal2edge_txn", err))
        return fail_and_rollback(d, err);
    txn_core_committed(&d->core, txn);
    d->ckpt_due = true; /* its checkpoint row goes with the flush that commits it */
    d->ckpt_time_us = txn->commit_time_us;
    return true;
}

/* The checkpoint row of core.pending, in the open SQLite transaction, just before its COMMIT. */
static bool write_checkpoint(D1Embedded *d, Err *err)
{
    if (!d->ckpt_due)
        return true;
    D1StmtList l = {0};
    bool ok = d1_sql_checkpoint(d->slot, d->core.pending.commit_lsn, d->core.pending.end_lsn, d->ckpt_time_us, &l,
                                err) &&
              exec_list(d, &l, err);
    d1_stmt_list_clear(&l);
    d->ckpt_due = !ok;
    return ok;
}

static bool emb_flush(Target *t, Err *err)
{
    D1Embedded *d = (D1Embedded *)t;
    if (!txn_core_ok(&d->core, err))
        return false;
    if (!d->in_tx || d->core.applying)
        return true; /* nothing, or a transaction still open: flush at its commit */
    if (!write_checkpoint(d, err) || !sqlite_commit(d->db, err))
        return fail_and_rollback(d, err);
    d->in_tx = false;
    d->base.durable = d->core.pending;
    return true;
}

static bool emb_fence(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err)
{
    D1Embedded *d = (D1Embedded *)t;
    TxnStep step = txn_core_fence(&d->core, at, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!d->in_tx) {
        if (!sqlite_begin(d->db, err))
            return fail_and_rollback(d, err);
        d->in_tx = true;
    }
    /* the checkpoint row alone, written and committed by the next flush like a transaction's */
    txn_core_fenced(&d->core, at);
    d->ckpt_due = true;
    d->ckpt_time_us = at_us;
    return true;
}

static bool emb_has_pending(const Target *t)
{
    const D1Embedded *d = (const D1Embedded *)t;
    return d->in_tx && !d->core.applying;
}

static void emb_free(Target *t)
{
    D1Embedded *d = (D1Embedded *)t;
    if (!d)
        return;
    for (size_t i = 0; i < STMT_CACHE; i++) {
        free(d->cache[i].sql);
        sqlite_finalize(d->cache[i].st);
    }
    if (d->in_tx)
        sqlite_rollback(d->db);
    sqlite_close(d->db);
    resync_window_clear(&d->resync);
    free(d->migrations_dir);
    txn_core_free(&d->core);
    d1_schema_free(d->schema);
    free(d->slot);
    free(d->base.name);
    free(d);
}

static const TargetOps ops = {
    .kind = "d1",
    .begin = emb_begin,
    .change = emb_change,
    .commit = emb_commit,
    .rollback = emb_rollback,
    .message = NULL,
    .flush = emb_flush,
    .fence = emb_fence,
    .has_pending = emb_has_pending,
    .free = emb_free,
};

/* Add the read-your-writes position to a checkpoint table made before it (d1/ddl). */
static bool upgrade_state(Sqlite *db, Err *err)
{
    SqliteStmt *st = sqlite_prepare(db, d1_ddl_state_missing_position(), err);
    if (!st)
        return false;
    int rc = sqlite_step(st, err);
    sqlite_finalize(st);
    if (rc <= 0)
        return rc == 0;
    char *sql = d1_ddl_state_upgrade();
    bool ok = sqlite_begin(db, err) && sqlite_exec(db, sql, err) && sqlite_commit(db, err);
    if (!ok)
        sqlite_rollback(db);
    free(sql);
    return ok;
}

static bool read_checkpoint(D1Embedded *d, Err *err)
{
    bool ok = checkpoint_read_sqlite(d->db, d1_sql_checkpoint_query(), d->slot, "checkpoint", &d->base.durable, err);
    d->core.pending = d->base.durable;
    return ok;
}

Target *d1_embedded_target_new(const ConfigTarget *t, const MappingSet *maps,
                               const CatalogInfo *cat, const char *slot, Err *err)
{
    D1Schema *schema = d1_schema_build(maps, cat, t->name);
    if (!d1_schema_check(schema, err)) {
        d1_schema_free(schema);
        return NULL;
    }
    Sqlite *db = sqlite_open(t->embedded_path, true, err);
    if (!db) {
        d1_schema_free(schema);
        return NULL;
    }
    D1Embedded *d = xcalloc(1, sizeof *d);
    d->base.ops = &ops;
    d->base.name = xasprintf("d1.%s", t->name);
    d->base.threadable = true; /* its own file (pipeline/target.h) */
    d->db = db;
    d->schema = schema;
    d->slot = xstrdup(slot);
    d->migrations_dir = t->migrations_dir ? xstrdup(t->migrations_dir) : NULL;
    d->limits = d1_sql_default_limits();
    txn_core_init(&d->core, &d->base, ERR_STORE,
                  xasprintf("embedded D1 \"%s\" rolled back after an earlier error; restart to resume from its "
                            "checkpoint",
                            t->embedded_path));
    d->core.messages = true; /* DDL capture messages: the tables follow the source's schema */
    char *ddl = d1_ddl_state_table();
    bool ok = sqlite_exec(db, ddl, err) && upgrade_state(db, err);
    free(ddl);
    for (size_t i = 0; ok && i < schema->table_count; i++) {
        ddl = d1_ddl_table(&schema->tables[i]);
        ok = sqlite_exec(db, ddl, err);
        free(ddl);
    }
    ok = ok && read_checkpoint(d, err);
    if (!ok) {
        err_prefix(err, "opening embedded D1 \"%s\"", t->embedded_path);
        emb_free(&d->base);
        return NULL;
    }
    return &d->base;
}

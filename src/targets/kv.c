/*
 * targets/kv.c - see kv.h and docs/kv.md. The target: a source transaction's
 * changes go through targets/kv_apply inside one open SQLite transaction (a
 * savepoint each, so a half-received one rolls back alone; a one-row one's
 * writes wait for its commit instead, kv_apply_defer_savepoint) on the KV file
 * (embedded: the kv table itself) or the index file (REST: the writes collect in
 * targets/kv_rest's pending table); flush sends the window to KV first (REST)
 * and then commits index and checkpoint. targets/core decides skip, apply or
 * refuse. Warm fills a namespace from a snapshot through the same apply.
 */
#include "targets/kv.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"
#include "core/mem.h"
#include "state/sqlite.h"
#include "targets/checkpoint.h"
#include "targets/core.h"
#include "targets/kv_apply.h"
#include "targets/kv_follow.h"
#include "targets/kv_resync.h"
#include "targets/kv_rest.h"

#define KV_WARM_FETCH 5000
#define KV_PAGE_SIZE 16384 /* a new file's pages (state/sqlite_open_paged) */

typedef struct Kv {
    Target base;
    char *ns;
    bool remote;               /* a REST namespace (rest) or the embedded store */
    char *slot;
    Sqlite *db;                /* embedded: the KV file; REST: the index file */
    KvTable *tables;
    size_t table_count;
    SqliteStmt *put, *del;     /* embedded: into the kv table */
    SqliteStmt *savepoint, *release; /* around each source transaction, prepared once (run per change) */
    KvApply a;
    ResyncWindow resync;       /* between a resync chunk's watermarks (pipeline/resync) */
    KvRest rest;
    bool in_tx;                /* a SQLite transaction is open */
    TxnCore core;              /* skip / apply / broken, and the checkpoint not yet flushed */
} Kv;

static const KvTable *find_table(const Kv *kv, const char *qualname)
{
    for (size_t i = 0; i < kv->table_count; i++)
        if (strcmp(kv->tables[i].qualname, qualname) == 0)
            return &kv->tables[i];
    return NULL;
}

/* Write the window's keys to KV (REST; the embedded store has them already). */
static bool send_pending(Kv *kv, Err *err)
{
    return !kv->remote || kv_rest_send(&kv->rest, &kv->a.stats, kv->a.window_emits, err);
}

static bool write_checkpoint(Kv *kv, Err *err)
{
    if (kv->core.pending.commit_lsn == kv->base.durable.commit_lsn)
        return true;
    SqliteStmt *st = sqlite_prepare(kv->db,
                                    "INSERT INTO _wal2edge_kv_checkpoint(slot, commit_lsn, end_lsn, updated_at) "
                                    "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ','now')) ON CONFLICT(slot) "
                                    "DO UPDATE SET commit_lsn = excluded.commit_lsn, end_lsn = excluded.end_lsn, "
                                    "updated_at = excluded.updated_at",
                                    err);
    if (!st)
        return false;
    char c[LSN_STR_MAX], e[LSN_STR_MAX];
    lsn_format(kv->core.pending.commit_lsn, c);
    lsn_format(kv->core.pending.end_lsn, e);
    bool ok = sqlite_bind_text(st, 1, kv->slot, strlen(kv->slot), err) && sqlite_bind_text(st, 2, c, strlen(c), err) &&
              sqlite_bind_text(st, 3, e, strlen(e), err) && sqlite_run(st, err);
    sqlite_finalize(st);
    return ok;
}

static bool fail_and_rollback(Kv *kv)
{
    if (kv->in_tx)
        sqlite_rollback(kv->db);
    kv_apply_forget(&kv->a);
    kv->in_tx = false;
    kv->core.pending = target_durable(&kv->base); /* the unflushed work is gone */
    kv->a.window_emits = 0;
    txn_core_break(&kv->core);
    return false;
}

/*
 * The keys already stored hold the table's old shape: ask run's resyncer for a re-copy of the
 * table into this target (the chunks come later in the stream, in the new shape). Without a
 * resyncer (migrate, warm) the values are rewritten as their rows change, and a warning says how
 * to refresh them at once.
 */
static bool refresh_values(Kv *kv, const KvTable *tab, Lsn cause, Err *err)
{
    if (!kv->base.resync) {
        log_warn(NULL, "%s: the values of %s's keys hold its old columns until their rows change: "
                       "`wal2edge resync %s --target %s` rewrites them",
                 kv->base.name, tab->qualname, tab->qualname, kv->base.name);
        return true;
    }
    log_info(NULL, "%s: %s's columns changed: its keys are copied again so their values follow", kv->base.name,
             tab->qualname);
    return kv->base.resync->request(kv->base.resync->ctx, kv->base.name, tab->qualname,
                                    "its columns changed: the KV values follow", cause, err);
}

static bool open_tx(Kv *kv, Err *err)
{
    if (kv->in_tx)
        return true;
    if (!sqlite_begin(kv->db, err))
        return false;
    kv->in_tx = true;
    kv->a.window_emits = 0;
    return true;
}

static bool kv_begin(Target *t, const TxnInfo *txn, Err *err)
{
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_begin(&kv->core, txn, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!open_tx(kv, err))
        return fail_and_rollback(kv);
    kv_apply_defer_savepoint(&kv->a, kv->savepoint);
    if (kv->remote && !kv_apply_enter(&kv->a, err)) /* its pending writes are not held */
        return fail_and_rollback(kv);
    kv->a.xid = txn->xid;
    kv->a.lsn = txn->commit_lsn;
    kv->a.time_us = txn->commit_time_us;
    return true;
}

static void kv_rollback(Target *t)
{
    Kv *kv = (Kv *)t;
    if (!txn_core_rollback(&kv->core))
        return;
    bool opened = kv_apply_end_txn(&kv->a);
    kv_apply_forget(&kv->a); /* a savepoint not opened yet: nothing was written */
    Err err;
    if (opened && !sqlite_exec(kv->db, "ROLLBACK TO wal2edge_kv_txn; RELEASE wal2edge_kv_txn", &err))
        fail_and_rollback(kv);
}

static bool kv_change(Target *t, const TxnInfo *txn, const Change *c, Err *err)
{
    (void)txn;
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_change(&kv->core, c, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    /* an insert or update may wait for the commit (targets/kv_apply decides); the rest read the file */
    bool ok = c->op == CHANGE_INSERT || c->op == CHANGE_UPDATE || kv_apply_enter(&kv->a, err);
    if (!ok) {
        err_prefix(err, "%s", kv->base.name);
        return fail_and_rollback(kv);
    }
    if (c->op == CHANGE_MESSAGE) {
        /* a resync chunk (targets/kv_resync); a schema change: a template naming a column that is gone stops
         * (targets/kv_follow) */
        if (!kv_resync_message(&kv->a, &kv->resync, kv->tables, kv->table_count, kv->base.name, c, err) ||
            !resync_take_skipped(&kv->base, &kv->resync, err)) {
            err_prefix(err, "%s", kv->base.name);
            return fail_and_rollback(kv);
        }
        const KvTable *dropped, *refresh;
        if (!kv_follow_message(kv->tables, kv->table_count, kv->base.name, c, &dropped, &refresh, err) ||
            (dropped && !kv_apply_truncate(&kv->a, dropped, err)) || (refresh && !refresh_values(kv, refresh, c->message_lsn, err)))
            return fail_and_rollback(kv);
        return true;
    }
    if (c->op == CHANGE_TRUNCATE) {
        for (uint32_t i = 0; ok && i < c->truncate_count; i++) {
            const KvTable *tab = find_table(kv, c->truncate_rels[i]->qualname);
            if (tab)
                ok = kv_apply_truncate(&kv->a, tab, err);
        }
    } else {
        const KvTable *tab = c->rel ? find_table(kv, c->rel->qualname) : NULL;
        if (!tab)
            return true;
        if (tab->ident_count >= 1) /* a resync chunk leaves this row to the stream */
            resync_record(&kv->resync, tab->ident[0], c);
        if (c->op == CHANGE_DELETE)
            ok = kv_apply_delete(&kv->a, tab, c->rel, c->old_tuple, c->old_kind, err);
        else
            ok = kv_apply_upsert(&kv->a, tab, c->rel, c->new_tuple, c->old_tuple, c->old_kind, err);
    }
    if (!ok) {
        err_prefix(err, "%s", kv->base.name);
        return fail_and_rollback(kv);
    }
    return true;
}

static bool kv_commit(Target *t, const TxnInfo *txn, Err *err)
{
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_commit(&kv->core, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    /* without a savepoint the put and the index row go straight into the window's transaction */
    bool opened = kv_apply_end_txn(&kv->a);
    if (!kv_apply_settle(&kv->a, err) || (opened && !sqlite_run(kv->release, err)))
        return fail_and_rollback(kv);
    txn_core_committed(&kv->core, txn);
    return true;
}

static bool kv_flush(Target *t, Err *err)
{
    Kv *kv = (Kv *)t;
    if (!txn_core_ok(&kv->core, err))
        return false;
    if (!kv->in_tx || kv->core.applying)
        return true;
    /* KV first (retryable failures keep everything for the next flush), then index + checkpoint */
    if (!send_pending(kv, err)) {
        err_prefix(err, "%s", kv->base.name);
        if (err_retryable(err))
            return false;
        return fail_and_rollback(kv);
    }
    if (!kv_apply_settle(&kv->a, err) || !write_checkpoint(kv, err) || !sqlite_commit(kv->db, err))
        return fail_and_rollback(kv);
    kv->in_tx = false;
    kv->a.window_emits = 0;
    kv->base.durable = kv->core.pending;
    return true;
}

/* The checkpoint row alone, written with the next flush like a transaction's (no KV request:
 * the checkpoint lives in the local file, remote or not). */
static bool kv_fence(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err)
{
    (void)at_us;
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_fence(&kv->core, at, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!open_tx(kv, err))
        return fail_and_rollback(kv);
    txn_core_fenced(&kv->core, at);
    return true;
}

static bool kv_has_pending(const Target *t)
{
    const Kv *kv = (const Kv *)t;
    return kv->in_tx && !kv->core.applying;
}

static void kv_free(Target *t)
{
    Kv *kv = (Kv *)t;
    if (!kv)
        return;
    if (kv->in_tx)
        sqlite_rollback(kv->db);
    kv_apply_close(&kv->a);
    resync_window_clear(&kv->resync);
    if (kv->remote)
        kv_rest_close(&kv->rest);
    sqlite_finalize(kv->put);
    sqlite_finalize(kv->del);
    sqlite_finalize(kv->savepoint);
    sqlite_finalize(kv->release);
    sqlite_close(kv->db);
    txn_core_free(&kv->core);
    for (size_t i = 0; i < kv->table_count; i++)
        kv_spec_clear(&kv->tables[i]);
    free(kv->tables);
    free(kv->ns);
    free(kv->slot);
    free(kv->base.name);
    free(kv);
}

static const TargetOps ops = {
    .kind = "kv",
    .begin = kv_begin,
    .change = kv_change,
    .commit = kv_commit,
    .rollback = kv_rollback,
    .message = NULL,
    .flush = kv_flush,
    .fence = kv_fence,
    .has_pending = kv_has_pending,
    .free = kv_free,
    .adopt = kv_target_rebuild_index, /* another instance wrote keys this index does not know */
};

KvStats kv_target_stats(const Target *t) { return ((const Kv *)t)->a.stats; }

static bool read_checkpoint(Kv *kv, Err *err)
{
    bool ok = checkpoint_read_sqlite(kv->db, "SELECT commit_lsn, end_lsn FROM _wal2edge_kv_checkpoint WHERE slot = ?1",
                                     kv->slot, "KV checkpoint", &kv->base.durable, err);
    kv->core.pending = kv->base.durable;
    return ok;
}

static const char *const SCHEMA_SQL =
    "CREATE TABLE IF NOT EXISTS _wal2edge_kv_checkpoint (slot TEXT PRIMARY KEY, commit_lsn TEXT NOT NULL, "
    "end_lsn TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _wal2edge_kv_warm (tbl TEXT PRIMARY KEY, last_pk TEXT, done INTEGER NOT NULL, "
    "rows INTEGER NOT NULL, updated_at TEXT NOT NULL);";

Target *kv_target_new_http(const Config *cfg, const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                           const KvHttp *http, Err *err)
{
    bool remote = t->remote_id != NULL;
    if (remote && !http)
        return err_set(err, ERR_CONFIG, "kv.%s: namespace_id is set but there is no Cloudflare client", t->name),
               NULL;
    KvTable *tables;
    size_t count;
    if (!kv_spec_build_namespace(maps, cat, t->name, &tables, &count, err))
        return NULL;
    char *path = remote ? xasprintf("%s/kv/%s.index.sqlite", cfg->state_dir, t->name) : xstrdup(t->embedded_path);
    /* 16 KiB pages: its rows (value, metadata, index row) are three times a D1 row's (state/sqlite) */
    Sqlite *db = sqlite_open_paged(path, true, KV_PAGE_SIZE, err);
    if (!db) {
        err_prefix(err, "kv.%s: opening \"%s\"", t->name, path);
        free(path);
        for (size_t i = 0; i < count; i++)
            kv_spec_clear(&tables[i]);
        free(tables);
        return NULL;
    }
    free(path);
    Kv *kv = xcalloc(1, sizeof *kv);
    kv->base.ops = &ops;
    kv->base.name = xasprintf("kv.%s", t->name);
    kv->ns = xstrdup(t->name);
    kv->remote = remote;
    kv->base.threadable = !remote; /* the embedded store: its own file (pipeline/target.h) */
    kv->slot = xstrdup(cfg->source.slot);
    kv->db = db;
    kv->tables = tables;
    kv->table_count = count;
    txn_core_init(&kv->core, &kv->base, ERR_STORE,
                  xasprintf("kv.%s rolled back after an earlier error; restart to resume from its checkpoint", t->name));
    kv->core.messages = true; /* DDL capture messages (targets/kv_follow) */
    /* a page cache that holds a flush window's pages of the embedded store: with SQLite's 2 MB,
     * pages spilled mid-transaction went to each savepoint's statement journal and from there to
     * a temp file (5.4 pwrite calls per source transaction) */
    bool ok = (remote || sqlite_exec(db, "PRAGMA cache_size = -16384", err)) && sqlite_exec(db, SCHEMA_SQL, err) && kv_apply_open(&kv->a, &kv->base, db, remote, err) &&
              (kv->savepoint = sqlite_prepare(db, "SAVEPOINT wal2edge_kv_txn", err)) &&
              (kv->release = sqlite_prepare(db, "RELEASE wal2edge_kv_txn", err));
    if (ok && remote) {
        ok = kv_rest_open(&kv->rest, db, t->remote_id, kv->base.name, http, err);
        kv->a.put = kv->rest.put;
        kv->a.del = kv->rest.del;
    } else if (ok) {
        ok = sqlite_exec(db,
                         "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB, metadata TEXT, "
                         "expiration INTEGER) WITHOUT ROWID;",
                         err) &&
             (kv->put = sqlite_prepare(db, "INSERT OR REPLACE INTO kv(key, value, metadata, expiration) VALUES (?1, ?2, "
                                           "?3, ?4)",
                                       err)) &&
             (kv->del = sqlite_prepare(db, "DELETE FROM kv WHERE key = ?1", err));
        kv->a.put = kv->put;
        kv->a.del = kv->del;
    }
    ok = ok && read_checkpoint(kv, err);
    /* no checkpoint here: a first start, a lost state directory or a standby taking over - the keys
     * earlier instances wrote are known only to KV */
    if (ok && remote && !kv->base.durable.end_lsn) {
        log_info(&kv->a.log, "%s: no checkpoint here", kv->base.name);
        ok = kv_target_rebuild_index(&kv->base, err);
    }
    if (!ok) {
        err_prefix(err, "kv.%s", t->name);
        kv_free(&kv->base);
        return NULL;
    }
    return &kv->base;
}

bool kv_target_rebuild_index(Target *t, Err *err)
{
    Kv *kv = (Kv *)t;
    if (!kv->remote)
        return true;
    if (kv->in_tx)
        return err_set(err, ERR_INTERNAL, "%s: the key index cannot be rebuilt with a window open", kv->base.name);
    return kv_rest_rebuild_index(&kv->rest, &kv->a.index, kv->tables, kv->table_count, &kv->a.stats, &kv->a.log, err);
}

Target *kv_target_new(const Config *cfg, const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                      CfClient *client, Err *err)
{
    KvHttp http = kv_http_cf(client);
    return kv_target_new_http(cfg, t, maps, cat, client ? &http : NULL, err);
}

/* ------------------------------------------------------------------ warm */

size_t kv_target_table_count(const Target *t) { return ((const Kv *)t)->table_count; }
const char *kv_target_table(const Target *t, size_t i) { return ((const Kv *)t)->tables[i].qualname; }

bool kv_warm_interrupted(Target *t, Err *err, bool *out)
{
    Kv *kv = (Kv *)t;
    *out = false;
    SqliteStmt *st = sqlite_prepare(kv->db, "SELECT count(*), coalesce(sum(done), 0) FROM _wal2edge_kv_warm", err);
    if (!st)
        return false;
    int rc = sqlite_step(st, err);
    if (rc == 1) {
        int64_t rows = sqlite_column_int64(st, 0), done = sqlite_column_int64(st, 1);
        *out = rows > 0 && (rows != done || (size_t)done < kv->table_count);
    }
    sqlite_finalize(st);
    return rc >= 0;
}

bool kv_warm_reset(Target *t, Err *err)
{
    return sqlite_exec(((Kv *)t)->db, "DELETE FROM _wal2edge_kv_warm", err);
}

static bool warm_commit(Kv *kv, const KvTable *tab, const char *last_pk, bool done, uint64_t rows, Err *err)
{
    if (!open_tx(kv, err) || !send_pending(kv, err))
        return false;
    SqliteStmt *st = sqlite_prepare(kv->db,
                                    "INSERT OR REPLACE INTO _wal2edge_kv_warm(tbl, last_pk, done, rows, updated_at) "
                                    "VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                                    err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err) &&
              (last_pk ? sqlite_bind_text(st, 2, last_pk, strlen(last_pk), err) : sqlite_bind_null(st, 2, err)) &&
              sqlite_bind_int64(st, 3, done, err) && sqlite_bind_int64(st, 4, (int64_t)rows, err) &&
              sqlite_run(st, err);
    sqlite_finalize(st);
    ok = ok && kv_apply_settle(&kv->a, err) && sqlite_commit(kv->db, err);
    if (ok) {
        kv->in_tx = false;
        kv->a.window_emits = 0;
    }
    return ok;
}

/* One warm of one table: its progress and where it resumes. */
typedef struct WarmRun {
    KvWarmProgress pr;
    uint64_t rows_total;       /* committed by earlier warms plus this one */
    char *last_pk;             /* Postgres: the last row's identity; other sources: their tag */
    const char *tag;           /* NULL: Postgres */
    bool done;                 /* an earlier warm finished this table */
    KvWarmProgressFn fn;
    void *user;
} WarmRun;

/* Where an interrupted warm of tab stopped. */
static bool warm_start(Kv *kv, const KvTable *tab, WarmRun *w, Err *err)
{
    w->pr = (KvWarmProgress){.namespace_name = kv->ns, .table = tab->qualname, .rows_estimate = -1};
    if (kv->in_tx)
        return err_set(err, ERR_INTERNAL, "%s: warm with uncommitted work", kv->base.name);
    SqliteStmt *st = sqlite_prepare(kv->db, "SELECT last_pk, done, rows FROM _wal2edge_kv_warm WHERE tbl = ?1", err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err);
    int rc = ok ? sqlite_step(st, err) : -1;
    if (rc == 1) {
        const char *lp = sqlite_column_text(st, 0, NULL);
        bool same_source = w->tag ? lp && strcmp(lp, w->tag) == 0 : !(lp && strncmp(lp, "snapshot:", 9) == 0);
        if (same_source) {
            w->last_pk = lp ? xstrdup(lp) : NULL;
            w->done = sqlite_column_int64(st, 1) != 0;
            w->pr.resumed_rows = (uint64_t)sqlite_column_int64(st, 2);
        }
    }
    sqlite_finalize(st);
    if (rc < 0)
        return false;
    if (w->done) {
        w->pr.done = true;
        if (w->fn)
            w->fn(w->user, &w->pr);
    }
    w->rows_total = w->pr.resumed_rows;
    return true;
}

/* Apply one row (upsert), committing a bulk request's worth first when the window is full. */
static bool warm_row(Kv *kv, const KvTable *tab, const Rel *rel, const PgoTuple *tup, WarmRun *w, Err *err)
{
    if (kv->a.window_emits + 2 * tab->entry_count > KV_BULK_PAIRS) {
        if (!warm_commit(kv, tab, w->last_pk, false, w->rows_total, err))
            return false;
        if (w->fn)
            w->fn(w->user, &w->pr);
    }
    uint64_t puts_before = kv->a.window_emits;
    uint64_t bytes_before = kv->a.emit_bytes;
    if (!open_tx(kv, err) || !kv_apply_upsert(&kv->a, tab, rel, tup, NULL, 0, err))
        return false;
    w->pr.rows++;
    w->rows_total++;
    w->pr.keys += kv->a.window_emits - puts_before;
    w->pr.bytes += kv->a.emit_bytes - bytes_before;
    if (!w->tag) {
        free(w->last_pk);
        w->last_pk = xstrdup(kv->a.pk.data);
    }
    return true;
}

/* The table is read (ok) or the warm failed: final commit, or roll back the window. */
static bool warm_end(Kv *kv, const KvTable *tab, WarmRun *w, bool ok, Err *err)
{
    ok = ok && warm_commit(kv, tab, w->last_pk, true, w->rows_total, err);
    free(w->last_pk);
    w->last_pk = NULL;
    if (!ok) {
        if (kv->in_tx)
            sqlite_rollback(kv->db);
        kv_apply_forget(&kv->a);
        kv->in_tx = false;
        kv->a.window_emits = 0;
        err_prefix(err, "%s: warming %s", kv->base.name, tab->qualname);
        return false;
    }
    w->pr.done = true;
    if (w->fn)
        w->fn(w->user, &w->pr);
    return true;
}

bool kv_warm_table(Target *t, size_t ti, PgSnapshot *snap, Lsn lsn, int64_t time_us, KvWarmProgressFn fn, void *user,
                   Err *err)
{
    Kv *kv = (Kv *)t;
    const KvTable *tab = &kv->tables[ti];
    WarmRun w = {.fn = fn, .user = user};
    if (!warm_start(kv, tab, &w, err))
        return false;
    if (w.done) {
        free(w.last_pk);
        return true;
    }
    if (!tab->ordered) {
        free(w.last_pk);
        w.last_pk = NULL; /* no unique key to resume by: start over */
        w.pr.resumed_rows = w.rows_total = 0;
    }
    const char **after = NULL;
    json_t *after_json = w.last_pk ? json_loads(w.last_pk, 0, NULL) : NULL;
    if (after_json && json_is_array(after_json) && json_array_size(after_json) == tab->ident_count) {
        after = xcalloc(tab->ident_count, sizeof *after);
        for (size_t i = 0; i < tab->ident_count; i++)
            after[i] = json_string_value(json_array_get(after_json, i));
    }
    if (!pgsnap_estimate_rows(snap, tab->schema, tab->name, &w.pr.rows_estimate, err)) {
        json_decref(after_json);
        free(after);
        free(w.last_pk);
        return false;
    }
    const char **cols = xcalloc(tab->rel.ncols ? tab->rel.ncols : 1, sizeof *cols);
    for (uint16_t i = 0; i < tab->rel.ncols; i++)
        cols[i] = tab->rel.cols[i].name;
    bool ok = pgsnap_table_open(snap, tab->schema, tab->name, cols, tab->rel.ncols, (const char *const *)tab->ident,
                                tab->ordered ? tab->ident_count : 0, after, err);
    free(cols);
    json_decref(after_json);
    free(after);
    kv->a.lsn = lsn;
    kv->a.time_us = time_us;
    PgoCol *vals = xcalloc(tab->rel.ncols ? tab->rel.ncols : 1, sizeof *vals);
    while (ok) {
        long n = pgsnap_fetch(snap, KV_WARM_FETCH, err);
        if (n < 0) {
            ok = false;
            break;
        }
        if (n == 0)
            break;
        for (long r = 0; ok && r < n; r++) {
            for (uint16_t c = 0; c < tab->rel.ncols; c++) {
                size_t len;
                const char *v = pgsnap_value(snap, r, c, &len);
                vals[c].kind = v ? PGO_COL_TEXT : PGO_COL_NULL;
                vals[c].data = (const uint8_t *)v;
                vals[c].len = (uint32_t)len;
            }
            PgoTuple tup = {.ncols = tab->rel.ncols, .cols = vals};
            ok = warm_row(kv, tab, &tab->rel, &tup, &w, err);
        }
    }
    free(vals);
    ok = ok && pgsnap_table_close(snap, err);
    return warm_end(kv, tab, &w, ok, err);
}

bool kv_warm_table_from(Target *t, size_t ti, const KvWarmSource *src, Lsn lsn, int64_t time_us,
                        KvWarmProgressFn fn, void *user, Err *err)
{
    Kv *kv = (Kv *)t;
    const KvTable *tab = &kv->tables[ti];
    for (size_t i = 0; i < tab->needed_count; i++)
        if (kt_rel_column(src->rel, tab->needed[i]) < 0)
            return err_set(err, ERR_CONFIG, "%s: %s: column \"%s\" that its keys, values or identity use is not in %s",
                           kv->base.name, tab->qualname, tab->needed[i], src->tag);
    WarmRun w = {.fn = fn, .user = user, .tag = src->tag};
    if (!warm_start(kv, tab, &w, err))
        return false;
    if (w.done) {
        free(w.last_pk);
        return true;
    }
    free(w.last_pk);
    w.last_pk = xstrdup(src->tag);
    w.pr.rows_estimate = src->rows_estimate;
    kv->a.lsn = lsn;
    kv->a.time_us = time_us;
    bool ok = true;
    /* rows an interrupted warm committed: the source yields them in the same order again */
    for (uint64_t skip = 0; ok && skip < w.pr.resumed_rows; skip++) {
        PgoTuple tup;
        int rc = src->next(src->src, &tup, err);
        if (rc == 0)
            ok = err_set(err, ERR_CHECK, "%s has fewer rows than an interrupted warm already read", src->tag);
        ok = ok && rc > 0;
    }
    for (;;) {
        PgoTuple tup;
        int rc = ok ? src->next(src->src, &tup, err) : -1;
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        ok = warm_row(kv, tab, src->rel, &tup, &w, err);
    }
    return warm_end(kv, tab, &w, ok, err);
}

bool kv_warm_progress_tag(Target *t, char **tag, Err *err)
{
    Kv *kv = (Kv *)t;
    *tag = NULL;
    SqliteStmt *st = sqlite_prepare(kv->db, "SELECT last_pk FROM _wal2edge_kv_warm", err);
    if (!st)
        return false;
    int rc;
    bool first = true;
    while ((rc = sqlite_step(st, err)) == 1) {
        const char *lp = sqlite_column_text(st, 0, NULL);
        const char *tg = lp && strncmp(lp, "snapshot:", 9) == 0 ? lp : NULL;
        if (first)
            *tag = tg ? xstrdup(tg) : NULL;
        else if (!(*tag == NULL && tg == NULL) && !(*tag && tg && strcmp(*tag, tg) == 0)) {
            free(*tag);
            *tag = xstrdup(""); /* mixed sources */
        }
        first = false;
    }
    sqlite_finalize(st);
    if (rc < 0) {
        free(*tag);
        *tag = NULL;
        return false;
    }
    return true;
}

bool kv_warm_set_checkpoint(Target *t, Lsn lsn, Err *err)
{
    Kv *kv = (Kv *)t;
    if (kv->in_tx)
        return err_set(err, ERR_INTERNAL, "%s: checkpoint with uncommitted work", kv->base.name);
    /* a transaction whose commit record starts at the snapshot's point is not in the snapshot
     * (decoding starts there), so only what committed before it is skipped */
    TargetCheckpoint ck = {.commit_lsn = lsn - 1, .end_lsn = lsn};
    TargetCheckpoint old = kv->base.durable;
    kv->core.pending = ck;
    kv->base.durable = (TargetCheckpoint){.commit_lsn = LSN_INVALID, .end_lsn = LSN_INVALID}; /* it writes changes only */
    bool ok = write_checkpoint(kv, err);
    if (ok) {
        kv->base.durable = ck;
    } else {
        kv->base.durable = old;
        kv->core.pending = old;
    }
    return ok;
}

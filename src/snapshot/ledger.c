/*
 * snapshot/ledger.c - see ledger.h.
 *
 * Three tables: snapshots (one row per id: running → complete, or abandoned when
 * a later start finds it still running), parts (inserted with bytes -1 when a part
 * is started, replaced once it is placed) and uploads (an R2 multipart upload's
 * id from create to complete or abort). A row in uploads, or a running snapshot,
 * at start belongs to a process that died (the state directory is locked).
 */
#include "snapshot/ledger.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "snapshot/sink.h"
#include "state/sqlite.h"

static const LogCtx LOGC = {.component = "snapshot"};

static const char *const STATE_SCHEMA =
    "CREATE TABLE IF NOT EXISTS snapshots (id TEXT PRIMARY KEY, lsn TEXT NOT NULL, status TEXT NOT NULL, "
    "started_at TEXT NOT NULL, finished_at TEXT);"
    "CREATE TABLE IF NOT EXISTS parts (snapshot_id TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL, "
    "tbl TEXT NOT NULL, part INTEGER NOT NULL, rows INTEGER NOT NULL, raw_bytes INTEGER NOT NULL, "
    "bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (snapshot_id, key));"
    /* R2 multipart uploads between create and complete/abort: what a crash leaves behind */
    "CREATE TABLE IF NOT EXISTS uploads (snapshot_id TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL, "
    "upload_id TEXT NOT NULL, PRIMARY KEY (snapshot_id, key, upload_id));";

struct SnapLedger {
    const Config *cfg;
    Sqlite *db;
    pthread_mutex_t mu;
    char id[64];               /* the snapshot being recorded */
};

SnapLedger *ledger_open(const Config *cfg, Err *err)
{
    char *dir = xasprintf("%s/snapshot", cfg->state_dir);
    char *path = xasprintf("%s/state.sqlite", dir);
    Sqlite *db = fs_mkdir_p(dir, err) ? sqlite_open(path, true, err) : NULL;
    free(dir);
    free(path);
    if (!db || !sqlite_exec(db, STATE_SCHEMA, err)) {
        sqlite_close(db);
        return NULL;
    }
    SnapLedger *l = xcalloc(1, sizeof *l);
    l->cfg = cfg;
    l->db = db;
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void ledger_close(SnapLedger *l)
{
    if (!l)
        return;
    sqlite_close(l->db);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static bool state_exec(Sqlite *db, const char *sql, const char *const *args, size_t n, Err *err)
{
    SqliteStmt *st = sqlite_prepare(db, sql, err);
    if (!st)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++)
        ok = sqlite_bind_text(st, (int)i + 1, args[i], strlen(args[i]), err);
    ok = ok && sqlite_step(st, err) >= 0;
    sqlite_finalize(st);
    return ok;
}

/* state_exec under the ledger's lock (the workers share it). */
static bool locked_exec(SnapLedger *l, const char *sql, const char *const *args, size_t n, Err *err)
{
    pthread_mutex_lock(&l->mu);
    bool ok = state_exec(l->db, sql, args, n, err);
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* ---- cleaning up after a process that died ---- */

/* A sink for cleaning up in r2 target `bucket`; NULL when it is no longer configured. */
static SnapSink *cleanup_sink(SnapLedger *l, const char *bucket, Err *err)
{
    const ConfigTarget *t = config_target(l->cfg, TARGET_R2, bucket);
    if (!t)
        return NULL;
    char *spool = xasprintf("%s/snapshot/spool", l->cfg->state_dir);
    SnapSink *s = sink_open(l->cfg, t, spool, 0, err);
    free(spool);
    return s;
}

/* Multipart uploads recorded but never completed or aborted belong to a process
 * that died (the state directory is locked): abort them, so that no uploaded
 * chunks are left behind; a record stays until its abort succeeds. */
static bool abort_recorded_uploads(SnapLedger *l, Err *err)
{
    SqliteStmt *st = sqlite_prepare(l->db, "SELECT snapshot_id, bucket, key, upload_id FROM uploads", err);
    if (!st)
        return false;
    char **rows = NULL; /* 4 strings per upload */
    size_t n = 0;
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
        rows = xrealloc(rows, (n + 1) * 4 * sizeof *rows);
        for (int c = 0; c < 4; c++)
            rows[n * 4 + (size_t)c] = xstrdup(sqlite_column_text(st, c, NULL));
        n++;
    }
    sqlite_finalize(st);
    bool ok = rc == 0;
    for (size_t i = 0; ok && i < n; i++) {
        const char *const *r = (const char *const *)&rows[i * 4];
        Err e = {0};
        SnapSink *s = cleanup_sink(l, r[1], &e);
        bool aborted = s && sink_abort_upload(s, r[2], r[3], &e);
        sink_free(s);
        if (aborted) {
            log_info(&LOGC, "aborted the unfinished multipart upload of %s left by snapshot %s", r[2], r[0]);
            const char *a[] = {r[0], r[2], r[3]};
            ok = state_exec(l->db, "DELETE FROM uploads WHERE snapshot_id = ?1 AND key = ?2 AND upload_id = ?3", a,
                            3, err);
        } else {
            log_warn(&LOGC, "could not abort the unfinished multipart upload of %s (r2.%s) left by snapshot %s: %s",
                     r[2], r[1], r[0], e.msg[0] ? e.msg : "the r2 target is no longer configured");
        }
    }
    for (size_t i = 0; i < n * 4; i++)
        free(rows[i]);
    free(rows);
    return ok;
}

/* Remove the placed (or half-written) parts of snapshot `id`; returns how many went. */
static bool remove_parts(SnapLedger *l, const char *id, size_t *removed, Err *err)
{
    SqliteStmt *st = sqlite_prepare(l->db, "SELECT bucket, key FROM parts WHERE snapshot_id = ?1", err);
    bool ok = st && sqlite_bind_text(st, 1, id, strlen(id), err);
    int rc = 0;
    *removed = 0;
    while (ok && (rc = sqlite_step(st, err)) == 1) {
        const char *bucket = sqlite_column_text(st, 0, NULL);
        const char *key = sqlite_column_text(st, 1, NULL);
        Err e = {0};
        SnapSink *s = cleanup_sink(l, bucket, &e);
        if (!s) {
            if (e.msg[0])
                log_warn(&LOGC, "could not remove %s: %s", key, e.msg);
            continue;
        }
        char *sp = sink_spool_path(s, key);
        unlink(sp);
        free(sp);
        if (sink_delete(s, key, &e))
            (*removed)++;
        else
            log_warn(&LOGC, "could not remove %s: %s", key, e.msg);
        sink_free(s);
    }
    if (ok && rc < 0)
        ok = false;
    sqlite_finalize(st);
    return ok;
}

/* An earlier snapshot that did not finish: its point in time is gone with the
 * process that held it, so its parts are removed and a new snapshot starts. */
static bool cleanup_interrupted(SnapLedger *l, Err *err)
{
    SqliteStmt *st = sqlite_prepare(l->db, "SELECT id, lsn FROM snapshots WHERE status = 'running'", err);
    if (!st)
        return false;
    char **ids = NULL, **lsns = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
        ids = xrealloc(ids, (n + 1) * sizeof *ids);
        lsns = xrealloc(lsns, (n + 1) * sizeof *lsns);
        ids[n] = xstrdup(sqlite_column_text(st, 0, NULL));
        lsns[n++] = xstrdup(sqlite_column_text(st, 1, NULL));
    }
    sqlite_finalize(st);
    bool ok = rc == 0;
    for (size_t i = 0; ok && i < n; i++) {
        fprintf(stderr,
                "snapshot %s (at %s) was interrupted; its point in time ended with the process that held it, "
                "so it cannot be continued consistently: removing its parts and starting a new snapshot\n",
                ids[i], lsns[i]);
        size_t removed;
        ok = remove_parts(l, ids[i], &removed, err);
        if (ok)
            log_info(&LOGC, "removed %zu parts of interrupted snapshot %s", removed, ids[i]);
        const char *a[] = {ids[i]};
        ok = ok && state_exec(l->db, "UPDATE snapshots SET status = 'abandoned' WHERE id = ?1", a, 1, err) &&
             state_exec(l->db, "DELETE FROM parts WHERE snapshot_id = ?1", a, 1, err);
    }
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
        free(lsns[i]);
    }
    free(ids);
    free(lsns);
    return ok;
}

bool ledger_clean_up(SnapLedger *l, Err *err)
{
    return abort_recorded_uploads(l, err) && cleanup_interrupted(l, err);
}

/* ---- one snapshot ---- */

bool ledger_reserve(SnapLedger *l, const char *id, Err *err)
{
    SqliteStmt *st = sqlite_prepare(l->db, "SELECT count(*) FROM snapshots WHERE id = ?1", err);
    bool ok = st && sqlite_bind_text(st, 1, id, strlen(id), err) && sqlite_step(st, err) == 1;
    if (ok && sqlite_column_int64(st, 0) > 0)
        ok = err_set(err, ERR_USAGE, "snapshot id \"%s\" was used before; choose another", id);
    sqlite_finalize(st);
    if (ok)
        snprintf(l->id, sizeof l->id, "%s", id);
    return ok;
}

bool ledger_begin(SnapLedger *l, Lsn lsn, const char *started_at, Err *err)
{
    char text[LSN_STR_MAX];
    const char *a[] = {l->id, lsn_format(lsn, text), started_at};
    return locked_exec(l, "INSERT INTO snapshots (id, lsn, status, started_at) VALUES (?1, ?2, 'running', ?3)", a,
                       3, err);
}

bool ledger_complete(SnapLedger *l, const char *finished_at, Err *err)
{
    const char *a[] = {l->id, finished_at};
    return locked_exec(l, "UPDATE snapshots SET status = 'complete', finished_at = ?2 WHERE id = ?1", a, 2, err);
}

bool ledger_part_started(SnapLedger *l, const char *bucket, const char *key, const char *table, unsigned part_no,
                         Err *err)
{
    char part[16];
    snprintf(part, sizeof part, "%u", part_no);
    const char *a[] = {l->id, bucket, key, table, part};
    return locked_exec(l,
                       "INSERT OR REPLACE INTO parts (snapshot_id, bucket, key, tbl, part, rows, raw_bytes, bytes, "
                       "sha256) VALUES (?1, ?2, ?3, ?4, CAST(?5 AS INTEGER), 0, 0, -1, '')",
                       a, 5, err);
}

bool ledger_part_placed(SnapLedger *l, const char *bucket, const char *key, const char *table, unsigned part_no,
                        const PartInfo *info, Err *err)
{
    char rows[24], raw[24], bytes[24], part[16];
    snprintf(rows, sizeof rows, "%" PRIu64, info->rows);
    snprintf(raw, sizeof raw, "%" PRIu64, info->raw_bytes);
    snprintf(bytes, sizeof bytes, "%" PRIu64, info->bytes);
    snprintf(part, sizeof part, "%u", part_no);
    const char *a[] = {l->id, bucket, key, table, part, rows, raw, bytes, info->sha256};
    return locked_exec(l,
                       "INSERT OR REPLACE INTO parts (snapshot_id, bucket, key, tbl, part, rows, raw_bytes, bytes, "
                       "sha256) VALUES (?1, ?2, ?3, ?4, CAST(?5 AS INTEGER), CAST(?6 AS INTEGER), "
                       "CAST(?7 AS INTEGER), CAST(?8 AS INTEGER), ?9)",
                       a, 9, err);
}

bool ledger_upload(void *ctx, const char *target, const char *key, const char *upload_id, bool started, Err *err)
{
    SnapLedger *l = ctx;
    const char *a[] = {l->id, target, key, upload_id};
    return started ? locked_exec(l,
                                 "INSERT OR REPLACE INTO uploads (snapshot_id, bucket, key, upload_id) "
                                 "VALUES (?1, ?2, ?3, ?4)",
                                 a, 4, err)
                   : locked_exec(l,
                                 "DELETE FROM uploads WHERE snapshot_id = ?1 AND bucket = ?2 AND key = ?3 "
                                 "AND upload_id = ?4",
                                 a, 4, err);
}

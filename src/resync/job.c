/*
 * resync/job.c - the chunk loop of an online re-copy.
 *
 * The table's primary key (one column or more, of the types pg/resync_key
 * orders the same in Postgres and D1) is read from the catalog. Each
 * chunk is a low watermark committed on its own, then one statement that reads
 * the next key range and emits it as the high watermark (pg/resync); `run`
 * applies it when the stream reaches it. After every chunk the last key sent is
 * written durably to the progress file, so a job killed even with SIGKILL
 * resumes after it; a job that reached the table's end removes the file.
 */
#include "resync/job.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/mem.h"
#include "pg/catalog.h"
#include "pg/resync.h"
#include "pg/resync_key.h"

typedef struct Progress {
    char *run;
    char *attempt; /* this process's go at the run (pipeline/resync_same_window); not saved */
    json_t *after; /* the last key sent: a JSON array of its values' text; NULL: none yet */
    char *shown;   /* after as a line shows it: the value (one column), the array (more) */
    long chunk;
    long long rows;
    int64_t started_us; /* when the resync began (a resumed one: its first start) */
    Lsn first_lsn;      /* chunk 1's low watermark: every chunk of the run was read after it; 0 unknown */
} Progress;

typedef struct Key {
    const char *names[RESYNC_KEY_MAX_COLUMNS];
    ResyncKeyType types[RESYNC_KEY_MAX_COLUMNS];
    size_t n;
} Key;

char *resync_job_progress_path(const Config *cfg, const char *table)
{
    return xasprintf("%s/resync/%s.json", cfg->state_dir, table);
}

/*
 * One job per table at a time (`wal2edge resync` and run's resyncer share the
 * progress file): an flock on STATE_DIR/resync/SCHEMA.TABLE.lock, held until the
 * job returns; the kernel drops it when the holder dies, even on SIGKILL.
 */
static bool table_lock(const Config *cfg, const char *table, int *fd_out, Err *err)
{
    char *path = xasprintf("%s/resync/%s.lock", cfg->state_dir, table);
    bool ok = fs_mkdir_parents(path, err);
    int fd = ok ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    free(path);
    *fd_out = -1;
    if (!ok)
        return false;
    if (fd < 0)
        return err_sys(err, ERR_IO, "resync %s: cannot open its lock file", table);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strspn(pid, "0123456789")] = '\0';
        close(fd);
        return err_set(err, ERR_NOT_READY,
                       "resync %s: another resync of it is running (pid %s: `wal2edge run`'s resyncer or a `wal2edge "
                       "resync`); it goes on from the same progress - wait for it (`wal2edge status`)",
                       table, *pid ? pid : "?");
    }
    char who[32];
    int len = snprintf(who, sizeof who, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && len > 0)
        (void)!pwrite(fd, who, (size_t)len, 0);
    *fd_out = fd;
    return true;
}

/* A JSON array of n strings (an after key), or NULL. */
static bool key_array_ok(json_t *a, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!json_is_string(json_array_get(a, i)))
            return false;
    return true;
}

static void set_after(Progress *p, json_t *after, const Key *k)
{
    json_decref(p->after);
    free(p->shown);
    p->after = after;
    p->shown = !after ? NULL
               : k->n == 1 ? xstrdup(json_string_value(json_array_get(after, 0)))
                           : json_dumps(after, JSON_COMPACT);
}

/*
 * The progress of an interrupted resync of the table, when one was kept (false:
 * none, or one that does not parse). "after" is the last key's value for a key of
 * one column (the format before composite keys, still read), an array for more;
 * a progress kept for another key is an error naming --restart.
 */
static bool progress_load(const char *path, const char *table, const Key *k, Progress *p, bool *found, Err *err)
{
    json_error_t je;
    *found = false;
    json_t *doc = json_load_file(path, 0, &je);
    const char *run = json_string_value(json_object_get(doc, "run"));
    json_t *after = json_object_get(doc, "after"), *names = json_object_get(doc, "key");
    bool ok = run && json_is_integer(json_object_get(doc, "chunk")) &&
              (json_is_string(after) || json_is_null(after) || json_is_array(after));
    if (!ok) {
        json_decref(doc);
        return true;
    }
    bool same = !names || key_array_ok(names, k->n); /* an old file names no key: its one integer column */
    for (size_t i = 0; same && names && i < k->n; i++)
        same = strcmp(json_string_value(json_array_get(names, i)), k->names[i]) == 0;
    json_t *a = json_is_string(after) ? json_pack("[O]", after) : json_is_array(after) ? json_incref(after) : NULL;
    if (!same || (a && !key_array_ok(a, k->n))) {
        json_decref(a);
        json_decref(doc);
        return err_set(err, ERR_CHECK,
                       "resync %s: the kept progress (%s) is for another primary key than the table's now: start "
                       "over with --restart",
                       table, path);
    }
    p->run = xstrdup(run);
    set_after(p, a, k);
    p->chunk = (long)json_integer_value(json_object_get(doc, "chunk"));
    p->rows = json_integer_value(json_object_get(doc, "rows"));
    p->started_us = json_integer_value(json_object_get(doc, "started_at_us"));
    const char *first = json_string_value(json_object_get(doc, "first_lsn"));
    Err ignored;
    if (!first || !lsn_parse(first, &p->first_lsn, &ignored))
        p->first_lsn = 0; /* a file of before it, or of a copy not started: unknown */
    json_decref(doc);
    *found = true;
    return true;
}

/* Besides, what `status` shows (resync/progress reads it): the targets, why, who and when. */
static bool progress_save(const char *path, const Progress *p, const Key *k, const ResyncJob *job, const char *state,
                          Err *err)
{
    /* one column: its value, as before composite keys; more: the array */
    json_t *after = !p->after ? json_null()
                    : k->n == 1 ? json_incref(json_array_get(p->after, 0))
                                : json_incref(p->after);
    json_t *names = json_array();
    for (size_t i = 0; i < k->n; i++)
        json_array_append_new(names, json_string_nocheck(k->names[i]));
    json_t *targets = json_array();
    for (size_t i = 0; i < job->ntargets; i++)
        json_array_append_new(targets, json_string(job->targets[i]));
    json_t *doc = json_pack("{s:s, s:o, s:I, s:I, s:o, s:o, s:s, s:I, s:I, s:I}", "run", p->run, "after", after,
                            "chunk", (json_int_t)p->chunk, "rows", (json_int_t)p->rows, "targets", targets, "why", job->why ? json_string(job->why) : json_null(), "state", state,
                            "started_at_us", (json_int_t)p->started_us, "updated_at_us", (json_int_t)clock_wall_us(),
                            "pid", (json_int_t)getpid());
    if (p->first_lsn) {
        char lsn[LSN_STR_MAX];
        json_object_set_new(doc, "first_lsn", json_string(lsn_format(p->first_lsn, lsn)));
    }
    if (k->n) /* none yet for a queued job: it is the table's key when the job starts (progress_load) */
        json_object_set_new(doc, "key", names);
    else
        json_decref(names);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    /* a temporary name of this writer's own: run's resyncer records a job it queues while a
     * `wal2edge resync` holding the table's lock saves its progress, and one shared name let
     * either rename the other's file away (the last rename wins: the copy goes on either way) */
    static atomic_uint writes;
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".tmp.%ld.%u", (long)getpid(), atomic_fetch_add(&writes, 1u));
    bool ok = fs_mkdir_parents(path, err) && fs_write_file_durably(path, tmp, text, strlen(text), 0600, err);
    free(text);
    return ok;
}

bool resync_job_queue(const Config *cfg, const ResyncJob *job, Err *err)
{
    char *path = resync_job_progress_path(cfg, job->table);
    Progress p = {.run = xasprintf("%" PRIx64 "-%ld", (uint64_t)clock_wall_us(), (long)getpid()),
                  .started_us = clock_wall_us()};
    Key none = {.n = 0};
    /* under the table's lock: a copy running in another process (a `wal2edge resync`) keeps its
     * progress, and the caller learns it is busy (ERR_NOT_READY) instead of overwriting it */
    int lock = -1;
    bool ok = table_lock(cfg, job->table, &lock, err) && progress_save(path, &p, &none, job, "queued", err);
    if (lock >= 0)
        close(lock);
    free(p.run);
    free(path);
    return ok;
}

/* The message fields of every watermark: phase, run, table, chunk, targets, key, key_types. */
static char *header(const char *phase, const Progress *p, const ResyncJob *job, const Key *k)
{
    json_t *targets = json_null();
    if (job->ntargets) {
        targets = json_array();
        for (size_t i = 0; i < job->ntargets; i++)
            json_array_append_new(targets, json_string(job->targets[i]));
    }
    json_t *names = json_array(), *types = json_array();
    for (size_t i = 0; i < k->n; i++) {
        json_array_append_new(names, json_string_nocheck(k->names[i]));
        json_array_append_new(types, json_string(resync_key_type_name(k->types[i])));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o}", "phase", phase, "run", p->run, "attempt",
                            p->attempt, "table", job->table, "chunk", (json_int_t)p->chunk, "targets", targets, "key",
                            names, "key_types", types);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* The table and its primary key's columns (of the types pg/resync_key orders), or false with the reason. */
static const CatTable *table_shape(const CatalogInfo *cat, const char *table, Key *k, Err *err)
{
    const CatTable *t = catalog_table(cat, table);
    if (!t || !t->exists) {
        err_set(err, ERR_CHECK, "resync: table %s does not exist in the source", table);
        return NULL;
    }
    const CatIndex *pk = catalog_primary_key(t);
    if (!pk || pk->col_count == 0 || pk->col_count > RESYNC_KEY_MAX_COLUMNS) {
        err_set(err, ERR_CHECK,
                "resync: %s has no primary key to read it in chunks by; add one, or copy it with `wal2edge migrate` "
                "instead",
                table);
        return NULL;
    }
    k->n = pk->col_count;
    for (size_t i = 0; i < k->n; i++) {
        const CatColumn *kc = &t->cols[pk->cols[i]];
        k->names[i] = kc->name;
        if (!resync_key_type_of(kc->type_oid, &k->types[i])) {
            err_set(err, ERR_CHECK,
                    "resync: %s's primary key column %s is of type %s; a resync reads by key columns of type "
                    RESYNC_KEY_SUPPORTED " (ordered the same in Postgres and D1); copy it with `wal2edge migrate` "
                    "instead",
                    table, kc->name, kc->type_name ? kc->type_name : "unknown");
            return NULL;
        }
    }
    return t;
}

static void report(const Progress *p, const ResyncJob *job, long long rows_now, bool resumed, bool done,
                   ResyncProgress *out)
{
    *out = (ResyncProgress){job->table, p->shown, p->chunk, p->rows, rows_now, resumed, done, p->first_lsn};
}

bool resync_job_run(const Config *cfg, const ResyncJob *job, ResyncOnChunk on_chunk, void *ctx, ResyncProgress *out,
                    double *secs, Err *err)
{
    const char *table = job->table;
    int lock = -1;
    if (!table_lock(cfg, table, &lock, err))
        return false;
    Key key = {0};
    long chunk_rows = job->chunk_rows > 0 ? job->chunk_rows : RESYNC_DEFAULT_CHUNK;
    CatalogInfo *cat = catalog_read(cfg->source.dsn, cfg->source.publication, &table, 1, err);
    const CatTable *t = cat ? table_shape(cat, table, &key, err) : NULL;
    if (!t) {
        catalog_free(cat);
        close(lock);
        return false;
    }
    const char **cols = xcalloc(t->col_count + 1, sizeof *cols);
    size_t ncols = 0;
    for (size_t i = 0; i < t->col_count; i++)
        if (!t->cols[i].generated)
            cols[ncols++] = t->cols[i].name;
    char *path = resync_job_progress_path(cfg, table);
    Progress p = {0};
    bool resumed = false;
    bool ok = job->restart || progress_load(path, table, &key, &p, &resumed, err);
    if (ok && !resumed)
        p.run = xasprintf("%" PRIx64 "-%ld", (uint64_t)clock_wall_us(), (long)getpid());
    if (!p.started_us)
        p.started_us = clock_wall_us();
    p.attempt = xasprintf("%ld-%" PRIx64, (long)getpid(), (uint64_t)clock_wall_us());
    ok = ok && progress_save(path, &p, &key, job, "copying", err); /* status sees it from its start */
    PgResync *pg = ok ? pgresync_open(cfg->source.dsn, err) : NULL;
    /* the flock above keeps out a live copy on this machine; this one, in the source, also the
     * connection of a killed copy (its last chunk may still commit) and a copy on another machine */
    ok = pg != NULL && pgresync_lock(pg, table, RESYNC_LOCK_WAIT_MS, err);
    bool done = false;
    int64_t start = clock_mono_ms();
    long long rows_now = 0;
    ResyncProgress now;
    if (ok && resumed && on_chunk) {
        report(&p, job, 0, true, false, &now);
        if (!on_chunk(ctx, &now))
            ok = err_set(err, ERR_INTERRUPTED, "resync %s: stopped before its first chunk", table);
    }
    while (ok && !done) {
        p.chunk++;
        char *low = header("low", &p, job, &key), *high = header("high", &p, job, &key);
        char *last = NULL, *after = p.after ? json_dumps(p.after, JSON_COMPACT) : NULL;
        long rows = 0, bytes = 0;
        PgResyncChunk c = {t->schema, t->name, key.names, key.types, key.n, cols, ncols, after, chunk_rows, high};
        Lsn low_at = 0;
        ok = pgresync_low(pg, low, &low_at, err) && pgresync_chunk(pg, &c, &last, &rows, &bytes, err);
        if (ok && p.chunk == 1)
            p.first_lsn = low_at; /* (a run resumed from a file without it stays unknown) */
        free(low);
        free(high);
        free(after);
        if (ok && last) {
            json_error_t je;
            json_t *a = json_loads(last, 0, &je);
            if (key_array_ok(a, key.n)) {
                set_after(&p, a, &key);
            } else {
                json_decref(a);
                ok = err_set(err, ERR_PG, "resync %s: the chunk's last key is not %zu values", table, key.n);
            }
        }
        free(last);
        if (!ok)
            break;
        done = rows < chunk_rows;
        p.rows += rows;
        rows_now += rows;
        ok = progress_save(path, &p, &key, job, "copying", err);
        report(&p, job, rows_now, resumed, done, &now);
        if (ok && on_chunk && !on_chunk(ctx, &now) && !done)
            ok = err_set(err, ERR_INTERRUPTED, "resync %s: stopped after chunk %ld (it resumes there)", table, p.chunk);
    }
    if (secs)
        *secs = (double)(clock_mono_ms() - start) / 1000.0;
    if (ok)
        unlink(path);
    if (out) {
        report(&p, job, rows_now, resumed, done, out);
        out->after = NULL; /* freed below */
    }
    pgresync_close(pg);
    free(p.run);
    free(p.attempt);
    json_decref(p.after);
    free(p.shown);
    free(path);
    free(cols);
    catalog_free(cat);
    close(lock);
    return ok;
}

/*
 * resync/job.c - the chunk loop of an online re-copy.
 *
 * The table's one integer primary-key column is read from the catalog. Each
 * chunk is a low watermark committed on its own, then one statement that reads
 * the next key range and emits it as the high watermark (pg/resync); `run`
 * applies it when the stream reaches it. After every chunk the last key sent is
 * written durably to the progress file, so a job killed even with SIGKILL
 * resumes after it; a job that reached the table's end removes the file.
 */
#include "resync/job.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/mem.h"
#include "pg/catalog.h"
#include "pg/resync.h"

typedef struct Progress {
    char *run;
    char *after; /* the last key sent; NULL: none yet */
    long chunk;
    long long rows;
} Progress;

char *resync_job_progress_path(const Config *cfg, const char *table)
{
    return xasprintf("%s/resync/%s.json", cfg->state_dir, table);
}

/* The progress of an interrupted resync of the table, when one was kept. */
static bool progress_load(const char *path, Progress *p)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    const char *run = json_string_value(json_object_get(doc, "run"));
    json_t *after = json_object_get(doc, "after");
    bool ok = run && json_is_integer(json_object_get(doc, "chunk")) && (json_is_string(after) || json_is_null(after));
    if (ok) {
        p->run = xstrdup(run);
        p->after = json_is_string(after) ? xstrdup(json_string_value(after)) : NULL;
        p->chunk = (long)json_integer_value(json_object_get(doc, "chunk"));
        p->rows = json_integer_value(json_object_get(doc, "rows"));
    }
    json_decref(doc);
    return ok;
}

static bool progress_save(const char *path, const Progress *p, Err *err)
{
    json_t *after = p->after ? json_string(p->after) : json_null();
    json_t *doc = json_pack("{s:s, s:o, s:I, s:I}", "run", p->run, "after", after, "chunk", (json_int_t)p->chunk,
                            "rows", (json_int_t)p->rows);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    bool ok = fs_mkdir_parents(path, err) && fs_write_file_durably(path, ".tmp", text, strlen(text), 0600, err);
    free(text);
    return ok;
}

/* The message fields of every watermark: phase, run, table, chunk, targets. */
static char *header(const char *phase, const Progress *p, const ResyncJob *job)
{
    json_t *targets = json_null();
    if (job->ntargets) {
        targets = json_array();
        for (size_t i = 0; i < job->ntargets; i++)
            json_array_append_new(targets, json_string(job->targets[i]));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:o}", "phase", phase, "run", p->run, "table", job->table, "chunk",
                            (json_int_t)p->chunk, "targets", targets);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* The table and its one integer primary-key column, or false with the reason. */
static const CatTable *table_shape(const CatalogInfo *cat, const char *table, const char **key, Err *err)
{
    const CatTable *t = catalog_table(cat, table);
    if (!t || !t->exists) {
        err_set(err, ERR_CHECK, "resync: table %s does not exist in the source", table);
        return NULL;
    }
    const CatIndex *pk = catalog_primary_key(t);
    const CatColumn *kc = pk && pk->col_count == 1 ? &t->cols[pk->cols[0]] : NULL;
    if (!kc || (kc->type_oid != 20 && kc->type_oid != 21 && kc->type_oid != 23)) {
        err_set(err, ERR_CHECK,
                "resync: %s needs a primary key of one integer column (smallint, integer or bigint) to be read in "
                "chunks; copy it with `wal2edge migrate` instead",
                table);
        return NULL;
    }
    *key = kc->name;
    return t;
}

static void report(const Progress *p, const ResyncJob *job, long long rows_now, bool resumed, bool done,
                   ResyncProgress *out)
{
    *out = (ResyncProgress){job->table, p->after, p->chunk, p->rows, rows_now, resumed, done};
}

bool resync_job_run(const Config *cfg, const ResyncJob *job, ResyncOnChunk on_chunk, void *ctx, ResyncProgress *out,
                    double *secs, Err *err)
{
    const char *table = job->table, *key = NULL;
    long chunk_rows = job->chunk_rows > 0 ? job->chunk_rows : RESYNC_DEFAULT_CHUNK;
    CatalogInfo *cat = catalog_read(cfg->source.dsn, cfg->source.publication, &table, 1, err);
    const CatTable *t = cat ? table_shape(cat, table, &key, err) : NULL;
    if (!t) {
        catalog_free(cat);
        return false;
    }
    const char **cols = xcalloc(t->col_count + 1, sizeof *cols);
    size_t ncols = 0;
    for (size_t i = 0; i < t->col_count; i++)
        if (!t->cols[i].generated)
            cols[ncols++] = t->cols[i].name;
    char *path = resync_job_progress_path(cfg, table);
    Progress p = {0};
    bool resumed = !job->restart && progress_load(path, &p);
    if (!resumed)
        p.run = xasprintf("%" PRIx64 "-%ld", (uint64_t)clock_wall_us(), (long)getpid());
    PgResync *pg = pgresync_open(cfg->source.dsn, err);
    bool ok = pg != NULL, done = false;
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
        char *low = header("low", &p, job), *high = header("high", &p, job);
        char *last = NULL;
        long rows = 0, bytes = 0;
        PgResyncChunk c = {t->schema, t->name, key, cols, ncols, p.after, chunk_rows, high};
        ok = pgresync_low(pg, low, err) && pgresync_chunk(pg, &c, &last, &rows, &bytes, err);
        free(low);
        free(high);
        if (!ok)
            break;
        done = rows < chunk_rows;
        if (last) {
            free(p.after);
            p.after = last;
        }
        p.rows += rows;
        rows_now += rows;
        ok = progress_save(path, &p, err);
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
    free(p.after);
    free(path);
    free(cols);
    catalog_free(cat);
    return ok;
}

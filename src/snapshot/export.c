/*
 * snapshot/export.c - see export.h.
 *
 * Plan: each selected table gets its columns, key and row shape from the catalog,
 * and is cut into units (the whole table, or block ranges of a large one), largest
 * first. Run: the point is taken (snapshot/point), one reader per worker imports
 * it, and each worker thread takes the next unit, renders its rows as NDJSON into
 * zstd parts that roll over at the part size, and places each part (snapshot/sink),
 * recording it in the ledger (snapshot/ledger). Manifests are written last.
 */
#include "snapshot/export.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "pg/relcache.h"
#include "pipeline/rowjson.h"
#include "snapshot/copytext.h"
#include "snapshot/ledger.h"
#include "snapshot/manifest.h"
#include "snapshot/ndjson_zst.h"
#include "snapshot/sink.h"

#define SNAP_SHOW_ROWS 4096     /* rows between progress updates of a worker */
#define SNAP_DEFAULT_RANGE_BYTES (64ull * 1024 * 1024)
#define SNAP_MAX_RANGES 4096u
#define SNAP_RANGES_PER_JOB 4u
#define SNAP_ROW_CAP (256u * 1024 * 1024)

static const LogCtx LOGC = {.component = "snapshot"};

/* ================================================================ plan */

typedef struct STable {
    const CatTable *ct;
    const ConfigTarget *r2;
    char *dir;                 /* PREFIX/TABLE/SNAPSHOT_ID */
    const char **cols;         /* selected columns */
    size_t col_count;
    ManifestColumn *mcols;
    const char **key;
    size_t key_count;
    RowShape *shape;
    Rel rel;
    int64_t estimate;
    /* results (under the mutex) */
    ManifestPart *parts;
    size_t part_count;
    uint64_t rows, bytes, raw_bytes;
    uint64_t cur_bytes;        /* of the parts being written */
    unsigned next_part;        /* part numbers are handed out in order, across workers */
    size_t units_left, open_parts;
    bool started, done;
} STable;

/* A unit of work: a whole table, or a range of its blocks (ctid). */
typedef struct SUnit {
    STable *t;
    bool ranged;
    uint64_t block_lo, block_hi; /* [lo, hi); hi 0: to the end */
} SUnit;

typedef struct Exp {
    const Config *cfg;
    const SnapshotOptions *opts;
    SnapPoint *point;
    SnapLedger *ledger;
    char snapshot_id[64];
    STable *tables;
    size_t table_count;
    SUnit *units;
    size_t unit_count, next_unit;
    int running;               /* worker threads not yet finished */
    uint64_t part_bytes;
    pthread_mutex_t mu;
    bool failed;
    Err err;
    /* progress */
    int64_t start_ms;
    uint64_t rows_done_tables;
} Exp;

typedef struct Worker {
    Exp *x;
    PgSnapshot *snap;
    SnapSink **sinks;          /* one per r2 target of cfg (NULL when unused) */
    PartWriter *pw;
    /* the open part (it may span several units of its table) */
    STable *part_table;
    unsigned part_no;
    char *key, *spool;
    uint64_t part_bytes_shown; /* its bytes as counted in part_table->cur_bytes */
    PgoCol *vals;
    size_t vals_cap;
    Buf row;
    pthread_t thread;
    bool started;
} Worker;

static void stable_free(STable *t)
{
    free(t->dir);
    free(t->cols);
    free(t->mcols);
    free(t->key);
    rowshape_free(t->shape);
    free(t->rel.cols);
    for (size_t i = 0; i < t->part_count; i++)
        free(t->parts[i].key);
    free(t->parts);
}

const ConfigTarget *snap_bucket_for(const Config *cfg, const Mapping *m, const char *bucket, Err *err)
{
    const char *name = m && m->snapshot_bucket ? m->snapshot_bucket : bucket;
    if (name) {
        const ConfigTarget *t = config_target(cfg, TARGET_R2, name);
        if (!t)
            err_set(err, ERR_CONFIG, "no r2 target \"%s\" in the config", name);
        return t;
    }
    const ConfigTarget *only = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->target_count; i++)
        if (cfg->targets[i].kind == TARGET_R2) {
            only = &cfg->targets[i];
            n++;
        }
    if (n == 1)
        return only;
    err_set(err, ERR_CONFIG,
            n == 0 ? "the config has no r2 target (add \"r2\": {\"NAME\": {}} for a local directory)"
                   : "several r2 targets; say which with --bucket NAME or the mapping's \"snapshot\": "
                     "{\"bucket\": ...}");
    return NULL;
}

static bool plan_table(Exp *x, const CatalogInfo *cat, const Mapping *m, const char *qualname, STable *t, Err *err)
{
    const CatTable *ct = catalog_table(cat, qualname);
    if (!ct || !ct->exists)
        return err_set(err, ERR_CONFIG, "snapshot: table %s does not exist", qualname);
    t->ct = ct;
    t->r2 = snap_bucket_for(x->cfg, m, x->opts->bucket, err);
    if (!t->r2)
        return false;
    const char *prefix = m && m->snapshot_prefix ? m->snapshot_prefix : "";
    t->dir = xasprintf("%s%s%s/%s", prefix, prefix[0] ? "/" : "", ct->qualname, x->snapshot_id);
    t->cols = xcalloc(ct->col_count + 1, sizeof *t->cols);
    t->mcols = xcalloc(ct->col_count + 1, sizeof *t->mcols);
    t->rel.cols = xcalloc(ct->col_count + 1, sizeof *t->rel.cols);
    const char **excl = xcalloc(ct->col_count + 1, sizeof *excl);
    size_t nexcl = 0;
    for (size_t i = 0; i < ct->col_count; i++) {
        const CatColumn *c = &ct->cols[i];
        if (m && m->d1.present && mapping_d1_excludes(m, c->name)) {
            excl[nexcl++] = c->name;
            continue;
        }
        if (c->generated)
            continue; /* never in the change stream either */
        size_t k = t->col_count++;
        t->cols[k] = c->name;
        t->mcols[k] = (ManifestColumn){c->name, c->type_name, c->type_oid, c->not_null};
        t->rel.cols[k] = (RelCol){(char *)c->name, c->type_oid, c->typmod, false};
    }
    t->rel.ncols = (uint16_t)t->col_count;
    t->rel.nspname = (char *)ct->schema;
    t->rel.relname = (char *)ct->name;
    t->rel.qualname = (char *)ct->qualname;
    t->rel.oid = ct->oid;
    t->shape = rowshape_new(cat, ct, excl, nexcl, err);
    free(excl);
    if (!t->shape)
        return false;
    const CatIndex *idx = catalog_primary_key(ct);
    if (!idx)
        idx = catalog_replident_index(ct);
    if (idx) {
        t->key = xcalloc(idx->col_count + 1, sizeof *t->key);
        for (size_t i = 0; i < idx->col_count; i++)
            t->key[t->key_count++] = ct->cols[idx->cols[i]].name;
    }
    return true;
}

/* ================================================================ workers */

static void fail(Exp *x, const Err *e)
{
    pthread_mutex_lock(&x->mu);
    if (!x->failed) {
        x->failed = true;
        x->err = *e;
    }
    pthread_mutex_unlock(&x->mu);
}

static bool stopped(Exp *x)
{
    pthread_mutex_lock(&x->mu);
    bool f = x->failed;
    pthread_mutex_unlock(&x->mu);
    return f;
}

static size_t target_index(const Config *cfg, const ConfigTarget *t) { return (size_t)(t - cfg->targets); }

/* Place the worker's open part and record it (state and manifest). */
static bool finish_part(Worker *w, Err *err)
{
    Exp *x = w->x;
    STable *t = w->part_table;
    PartInfo info;
    bool ok = partw_close(w->pw, &info, err);
    SnapSink *sink = w->sinks[target_index(x->cfg, t->r2)];
    ok = ok && sink_put_file(sink, w->key, w->spool, info.bytes, err);
    if (!ok)
        unlink(w->spool);
    pthread_mutex_lock(&x->mu);
    t->cur_bytes -= w->part_bytes_shown;
    w->part_bytes_shown = 0;
    t->open_parts--;
    w->part_table = NULL;
    if (!ok) {
        pthread_mutex_unlock(&x->mu);
        return false;
    }
    ok = ledger_part_placed(x->ledger, t->r2->name, w->key, t->ct->qualname, w->part_no, &info, err);
    t->parts = xrealloc(t->parts, (t->part_count + 1) * sizeof *t->parts);
    ManifestPart *mp = &t->parts[t->part_count++];
    memset(mp, 0, sizeof *mp);
    mp->key = xstrdup(w->key);
    mp->rows = info.rows;
    mp->raw_bytes = info.raw_bytes;
    mp->bytes = info.bytes;
    memcpy(mp->sha256, info.sha256, sizeof mp->sha256);
    t->bytes += info.bytes;
    t->raw_bytes += info.raw_bytes;
    t->done = t->units_left == 0 && t->open_parts == 0;
    pthread_mutex_unlock(&x->mu);
    return ok;
}

/* Start a part of t under the table's next part number. */
static bool start_part(Worker *w, STable *t, SnapSink *sink, Err *err)
{
    Exp *x = w->x;
    pthread_mutex_lock(&x->mu);
    w->part_no = t->next_part++;
    t->open_parts++;
    w->part_table = t;
    pthread_mutex_unlock(&x->mu);
    free(w->key);
    free(w->spool);
    w->key = xasprintf("%s/part-%05u.ndjson.zst", t->dir, w->part_no);
    w->spool = sink_spool_path(sink, w->key);
    return ledger_part_started(x->ledger, t->r2->name, w->key, t->ct->qualname, w->part_no, err) &&
           fs_mkdir_parents(w->spool, err) && partw_open(w->pw, w->spool, err);
}

/* After a failure: the open part's spool file goes (the state row stays for cleanup). */
static void abandon_part(Worker *w)
{
    if (partw_is_open(w->pw)) {
        PartInfo pi;
        Err ignored;
        if (!partw_close(w->pw, &pi, &ignored)) {
            /* the file is removed below either way */
        }
    }
    if (w->part_table && w->spool)
        unlink(w->spool);
    w->part_table = NULL;
}

static void show_rows(Worker *w, STable *t, uint64_t *rows_unshown)
{
    Exp *x = w->x;
    uint64_t shown = partw_is_open(w->pw) ? partw_bytes(w->pw) : 0;
    pthread_mutex_lock(&x->mu);
    t->rows += *rows_unshown;
    t->cur_bytes += shown - w->part_bytes_shown;
    w->part_bytes_shown = shown;
    pthread_mutex_unlock(&x->mu);
    *rows_unshown = 0;
}

/* Read one unit (a table, or a block range of it) with COPY into the worker's
 * part, which stays open across units of the same table until it is full. */
static bool export_unit(Worker *w, const SUnit *u, Err *err)
{
    Exp *x = w->x;
    STable *t = u->t;
    if (w->part_table && w->part_table != t && !finish_part(w, err))
        return false;
    if (!pgsnap_copy_open(w->snap, t->ct->schema, t->ct->name, t->cols, t->col_count, u->ranged, u->block_lo,
                          u->block_hi, err))
        return false;
    if (w->vals_cap < t->col_count + 1) {
        free(w->vals);
        w->vals_cap = t->col_count + 1;
        w->vals = xcalloc(w->vals_cap, sizeof *w->vals);
    }
    SnapSink *sink = w->sinks[target_index(x->cfg, t->r2)];
    uint64_t rows_unshown = 0;
    bool ok = true;
    for (;;) {
        char *line = NULL;
        size_t len = 0;
        int got = pgsnap_copy_next(w->snap, &line, &len, err);
        if (got <= 0) {
            ok = got == 0;
            break;
        }
        ok = copytext_split(line, len, w->vals, t->col_count, err);
        PgoTuple tup = {.ncols = (uint16_t)t->col_count, .cols = w->vals};
        buf_reset(&w->row);
        ok = ok && rowjson_append(t->shape, &t->rel, &tup, ROWJSON_MARK_UNCHANGED, &w->row, NULL, err);
        if (ok && !w->part_table)
            ok = start_part(w, t, sink, err);
        ok = ok && partw_add_row(w->pw, w->row.data, w->row.len, err);
        if (ok && partw_bytes(w->pw) >= x->part_bytes)
            ok = finish_part(w, err);
        if (!ok)
            break;
        if (++rows_unshown == SNAP_SHOW_ROWS) {
            show_rows(w, t, &rows_unshown);
            if (stopped(x))
                break; /* another worker failed; the COPY ends with the connection */
        }
    }
    show_rows(w, t, &rows_unshown);
    if (!ok)
        err_prefix(err, "snapshot of %s", t->ct->qualname);
    return ok;
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    Exp *x = w->x;
    Err err;
    bool ok = true;
    for (;;) {
        pthread_mutex_lock(&x->mu);
        const SUnit *u = NULL;
        if (!x->failed && x->next_unit < x->unit_count) {
            u = &x->units[x->next_unit++];
            u->t->started = true;
        }
        pthread_mutex_unlock(&x->mu);
        if (!u)
            break;
        ok = export_unit(w, u, &err);
        if (!ok)
            break;
        pthread_mutex_lock(&x->mu);
        u->t->units_left--;
        u->t->done = u->t->units_left == 0 && u->t->open_parts == 0;
        pthread_mutex_unlock(&x->mu);
    }
    if (ok && w->part_table) {
        if (stopped(x))
            abandon_part(w);
        else
            ok = finish_part(w, &err);
    }
    if (!ok) {
        abandon_part(w);
        fail(x, &err);
    }
    pthread_mutex_lock(&x->mu);
    x->running--;
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* ================================================================ progress */

static void report_rows(Exp *x)
{
    if (!x->opts->table_rows)
        return;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->table_count; i++)
        if (x->tables[i].started)
            x->opts->table_rows(x->opts->table_rows_user, x->tables[i].ct->qualname, x->tables[i].rows);
    pthread_mutex_unlock(&x->mu);
}

static void show_progress(Exp *x, bool final)
{
    pthread_mutex_lock(&x->mu);
    double secs = (double)(clock_mono_ms() - x->start_ms) / 1000.0;
    uint64_t rows = 0, bytes = 0;
    int64_t est = 0;
    for (size_t i = 0; i < x->table_count; i++) {
        STable *t = &x->tables[i];
        rows += t->rows;
        bytes += t->bytes + t->cur_bytes;
        est += t->estimate > (int64_t)t->rows ? t->estimate : (int64_t)t->rows;
    }
    double rate = secs > 0 ? (double)rows / secs : 0;
    char eta[32] = "-";
    if (!final && rate > 0 && est > (int64_t)rows)
        snprintf(eta, sizeof eta, "%.0fs", (double)(est - (int64_t)rows) / rate);
    if (x->opts->tty) {
        fprintf(stderr, "\r\033[K");
        for (size_t i = 0; i < x->table_count; i++) {
            STable *t = &x->tables[i];
            if (!t->started || (t->done && !final))
                continue;
            int pct = t->estimate > 0 ? (int)(100.0 * (double)t->rows / (double)t->estimate) : 0;
            if (pct > 99 && !t->done)
                pct = 99;
            if (t->done)
                pct = 100;
            fprintf(stderr, "%s %3d%% %" PRIu64 " rows %.1f MB\n\033[K", t->ct->qualname, pct, t->rows,
                    (double)(t->bytes + t->cur_bytes) / 1e6);
        }
        fprintf(stderr, "total %" PRIu64 "/%" PRId64 " rows, %.1f MB, %.0f rows/s, %.1f MB/s, ETA %s", rows, est,
                (double)bytes / 1e6, rate, secs > 0 ? (double)bytes / 1e6 / secs : 0.0, eta);
        if (final)
            fputc('\n', stderr);
        else {
            /* move back up over the table lines */
            size_t lines = 0;
            for (size_t i = 0; i < x->table_count; i++)
                if (x->tables[i].started && !x->tables[i].done)
                    lines++;
            if (lines)
                fprintf(stderr, "\033[%zuA\r", lines);
        }
        fflush(stderr);
    } else {
        log_info(&LOGC, "%s: %" PRIu64 "/%" PRId64 " rows, %.1f MB compressed, %.0f rows/s, ETA %s%s", x->snapshot_id,
                 rows, est, (double)bytes / 1e6, rate, eta, final ? " (done)" : "");
    }
    pthread_mutex_unlock(&x->mu);
}

/* ================================================================ run */

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SNAP_MAX_JOBS ? SNAP_MAX_JOBS : (int)n;
}

/* Parts in part-number order (the keys differ only in the zero-padded number). */
static int cmp_part_key(const void *a, const void *b)
{
    const ManifestPart *p = a, *q = b;
    size_t lp = strlen(p->key), lq = strlen(q->key);
    return lp != lq ? (lp < lq ? -1 : 1) : strcmp(p->key, q->key);
}

static bool write_manifests(Exp *x, Worker *w0, const char *started_at, Err *err)
{
    char done_at[32];
    snap_time_rfc3339(done_at);
    ManifestTable *mt = xcalloc(x->table_count + 1, sizeof *mt);
    for (size_t i = 0; i < x->table_count; i++) {
        STable *t = &x->tables[i];
        if (t->part_count > 1)
            qsort(t->parts, t->part_count, sizeof *t->parts, cmp_part_key);
        mt[i] = (ManifestTable){.table = t->ct->qualname,
                                .bucket = t->r2->name,
                                .dir = t->dir,
                                .cols = t->mcols,
                                .col_count = t->col_count,
                                .key = t->key,
                                .key_count = t->key_count,
                                .parts = t->parts,
                                .part_count = t->part_count,
                                .rows = t->rows,
                                .raw_bytes = t->raw_bytes,
                                .bytes = t->bytes};
    }
    Manifest m = {.snapshot_id = x->snapshot_id,
                  .lsn = snap_point_lsn(x->point),
                  .started_at = started_at,
                  .completed_at = done_at,
                  .slot = snap_point_created_slot(x->point) ? snap_point_slot(x->point) : NULL,
                  .level = x->opts->level ? x->opts->level : 3,
                  .tables = mt,
                  .table_count = x->table_count};
    bool ok = true;
    for (size_t i = 0; ok && i < x->table_count; i++) {
        char *text = manifest_json(&m, i);
        char *key = xasprintf("%s/%s", x->tables[i].dir, MANIFEST_NAME);
        ok = sink_put_bytes(w0->sinks[target_index(x->cfg, x->tables[i].r2)], key, text, strlen(text),
                            "application/json", err);
        free(key);
        free(text);
    }
    free(mt);
    return ok;
}

static int cmp_estimate(const void *a, const void *b)
{
    const STable *x = a, *y = b;
    return x->estimate < y->estimate ? 1 : x->estimate > y->estimate ? -1 : 0;
}

/*
 * Units of work, largest table first: a table larger than the range size is
 * split into block ranges (ctid, a TID range scan on PostgreSQL 14+), at least
 * a few per job so that one big table keeps every connection busy; the last
 * range is open-ended, so a row is never missed. Smaller tables are one unit.
 */
static bool plan_units(Exp *x, PgSnapshot *snap, int jobs, Err *err)
{
    uint64_t range = x->opts->range_bytes ? x->opts->range_bytes : SNAP_DEFAULT_RANGE_BYTES;
    bool can_split = pgsnap_server_version(snap) >= 140000;
    for (size_t i = 0; i < x->table_count; i++) {
        STable *t = &x->tables[i];
        uint64_t blocks = 0, block_size = 0;
        if (!pgsnap_table_blocks(snap, t->ct->oid, &blocks, &block_size, err))
            return err_prefix(err, "%s", t->ct->qualname), false;
        uint64_t n = 1;
        if (can_split && blocks * block_size > range) {
            n = (blocks * block_size + range - 1) / range;
            /* several ranges per job: a connection that gets less CPU does not leave
             * the others idle at the end */
            if (n < (uint64_t)jobs * SNAP_RANGES_PER_JOB)
                n = (uint64_t)jobs * SNAP_RANGES_PER_JOB;
            if (n > SNAP_MAX_RANGES)
                n = SNAP_MAX_RANGES;
            if (n > blocks)
                n = blocks;
        }
        uint64_t step = n > 1 ? (blocks + n - 1) / n : 0;
        if (n > 1)
            n = (blocks + step - 1) / step;
        x->units = xrealloc(x->units, (x->unit_count + n) * sizeof *x->units);
        for (uint64_t k = 0; k < n; k++)
            x->units[x->unit_count++] = (SUnit){.t = t,
                                                .ranged = n > 1,
                                                .block_lo = k * step,
                                                .block_hi = k + 1 < n ? (k + 1) * step : 0};
        t->units_left = (size_t)n;
    }
    return true;
}

bool snapshot_run(const Config *cfg, const MappingSet *maps, const SnapshotOptions *opts, SnapshotResult *out,
                  Err *err)
{
    memset(out, 0, sizeof *out);
    Exp x = {.cfg = cfg, .opts = opts, .start_ms = clock_mono_ms()};
    pthread_mutex_init(&x.mu, NULL);
    x.part_bytes = opts->part_bytes ? opts->part_bytes : SNAP_DEFAULT_PART_BYTES;
    if (opts->snapshot_id)
        snprintf(x.snapshot_id, sizeof x.snapshot_id, "%s", opts->snapshot_id);
    else
        snap_time_id(x.snapshot_id);
    char started_at[32];
    snap_time_rfc3339(started_at);

    /* which tables */
    const char **names = NULL;
    const Mapping **mlist = NULL;
    size_t n = 0;
    if (opts->table_count) {
        for (size_t i = 0; i < opts->table_count; i++) {
            names = xrealloc(names, (n + 1) * sizeof *names);
            mlist = xrealloc(mlist, (n + 1) * sizeof *mlist);
            const char *q = opts->tables[i];
            mlist[n] = mapping_set_find(maps, q);
            names[n++] = q;
        }
    } else {
        for (size_t i = 0; i < maps->count; i++)
            if (maps->items[i].snapshot_bucket) {
                names = xrealloc(names, (n + 1) * sizeof *names);
                mlist = xrealloc(mlist, (n + 1) * sizeof *mlist);
                mlist[n] = &maps->items[i];
                names[n++] = maps->items[i].source;
            }
    }
    bool ok = true;
    if (n == 0)
        ok = err_set(err, ERR_CONFIG,
                     "snapshot: no table to export (name tables with --table SCHEMA.T, or add \"snapshot\" to a mapping)");
    CatalogInfo *cat = NULL;
    if (ok) {
        cat = catalog_read(cfg->source.dsn, cfg->source.publication, names, n, err);
        ok = cat != NULL;
    }
    if (ok) {
        x.tables = xcalloc(n, sizeof *x.tables);
        for (size_t i = 0; ok && i < n; i++) {
            ok = plan_table(&x, cat, mlist[i], names[i], &x.tables[i], err);
            x.table_count = i + 1;
        }
    }
    if (ok) {
        x.ledger = ledger_open(cfg, err);
        ok = x.ledger && ledger_clean_up(x.ledger, err) && ledger_reserve(x.ledger, x.snapshot_id, err);
    }
    int jobs = opts->jobs > 0 ? (opts->jobs > SNAP_MAX_JOBS ? SNAP_MAX_JOBS : opts->jobs) : cores();
    Worker *workers = xcalloc((size_t)jobs, sizeof *workers);
    if (ok) {
        x.point = snap_point_open(cfg, opts->no_slot ? SNAP_POINT_HELPER : SNAP_POINT_SLOT_IF_MISSING, err);
        ok = x.point != NULL;
        if (ok && !snap_point_created_slot(x.point))
            log_info(&LOGC, "helper slot \"%s\" holds the point until the snapshot is complete",
                     snap_point_slot(x.point));
    }
    ok = ok && ledger_begin(x.ledger, snap_point_lsn(x.point), started_at, err);
    /* the first connection sizes the tables inside the snapshot; as many more as
     * there are units to read import the point while the exporter is idle */
    int opened = 0;
    if (ok) {
        workers[0].snap = snap_point_reader(x.point, err);
        ok = workers[0].snap != NULL;
        opened = ok ? 1 : 0;
    }
    for (size_t i = 0; ok && i < x.table_count; i++)
        ok = pgsnap_estimate_rows(workers[0].snap, x.tables[i].ct->schema, x.tables[i].ct->name,
                                  &x.tables[i].estimate, err);
    if (ok) {
        qsort(x.tables, x.table_count, sizeof *x.tables, cmp_estimate);
        ok = plan_units(&x, workers[0].snap, jobs, err);
    }
    if ((size_t)jobs > x.unit_count)
        jobs = (int)(x.unit_count ? x.unit_count : 1);
    char *spool = xasprintf("%s/snapshot/spool", cfg->state_dir);
    for (int i = 0; ok && i < jobs; i++) {
        Worker *w = &workers[i];
        w->x = &x;
        buf_init(&w->row, SNAP_ROW_CAP);
        if (i >= opened) {
            w->snap = snap_point_reader(x.point, err);
            ok = w->snap != NULL;
            opened = ok ? i + 1 : opened;
        }
        w->pw = ok ? partw_new(opts->level, err) : NULL;
        ok = ok && w->pw;
        w->sinks = xcalloc(cfg->target_count + 1, sizeof *w->sinks);
        for (size_t k = 0; ok && k < x.table_count; k++) {
            size_t ti = target_index(cfg, x.tables[k].r2);
            if (w->sinks[ti])
                continue;
            w->sinks[ti] = i == 0 ? sink_open(cfg, x.tables[k].r2, spool, opts->chunk_bytes, err)
                                  : sink_clone(workers[0].sinks[ti], err);
            ok = w->sinks[ti] != NULL;
            if (ok)
                sink_set_upload_hook(w->sinks[ti], ledger_upload, x.ledger);
        }
    }
    free(spool);
    if (ok) {
        char l[LSN_STR_MAX];
        log_info(&LOGC, "snapshot %s at %s: %zu table(s) in %zu range(s), %d connection(s)", x.snapshot_id,
                 lsn_format(snap_point_lsn(x.point), l), x.table_count, x.unit_count, jobs);
        x.start_ms = clock_mono_ms();
        for (int i = 0; ok && i < jobs; i++) {
            pthread_mutex_lock(&x.mu);
            x.running++;
            pthread_mutex_unlock(&x.mu);
            if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
                pthread_mutex_lock(&x.mu);
                x.running--;
                pthread_mutex_unlock(&x.mu);
                fail(&x, &(Err){.code = ERR_INTERNAL, .msg = "cannot start a worker thread"});
            } else {
                workers[i].started = true;
            }
        }
        int64_t last_progress = clock_mono_ms(), last_wal = 0, last_rows = 0;
        for (;;) {
            pthread_mutex_lock(&x.mu);
            bool busy = x.running > 0;
            pthread_mutex_unlock(&x.mu);
            if (!busy)
                break;
            nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000}, NULL);
            int64_t now = clock_mono_ms();
            if (now - last_progress >= (opts->tty ? 250 : 5000)) {
                show_progress(&x, false);
                last_progress = now;
            }
            if (now - last_rows >= 1000) {
                report_rows(&x);
                last_rows = now;
            }
            if (now - last_wal >= 10000) {
                snap_point_check_wal(x.point);
                last_wal = now;
            }
        }
        for (int i = 0; i < jobs; i++)
            if (workers[i].started)
                pthread_join(workers[i].thread, NULL);
        if (x.failed) {
            *err = x.err;
            ok = false;
        }
        report_rows(&x);
        if (ok)
            show_progress(&x, true);
    }
    /* manifests last: the snapshot becomes visible only now */
    ok = ok && write_manifests(&x, &workers[0], started_at, err);
    if (ok) {
        char done_at[32];
        snap_time_rfc3339(done_at);
        ok = ledger_complete(x.ledger, done_at, err);
    }
    if (ok) {
        snprintf(out->snapshot_id, sizeof out->snapshot_id, "%s", x.snapshot_id);
        out->lsn = snap_point_lsn(x.point);
        out->tables = x.table_count;
        out->seconds = (double)(clock_mono_ms() - x.start_ms) / 1000.0;
        for (size_t i = 0; i < x.table_count; i++) {
            out->rows += x.tables[i].rows;
            out->bytes += x.tables[i].bytes;
            out->raw_bytes += x.tables[i].raw_bytes;
            out->parts += x.tables[i].part_count;
        }
    }
    for (int i = 0; i < jobs; i++) {
        Worker *w = &workers[i];
        pgsnap_close(w->snap);
        partw_free(w->pw);
        free(w->key);
        free(w->spool);
        free(w->vals);
        buf_free(&w->row);
        for (size_t k = 0; w->sinks && k < cfg->target_count; k++)
            sink_free(w->sinks[k]);
        free(w->sinks);
    }
    free(workers);
    snap_point_close(x.point);
    for (size_t i = 0; i < x.table_count; i++)
        stable_free(&x.tables[i]);
    free(x.tables);
    free(x.units);
    ledger_close(x.ledger);
    catalog_free(cat);
    free(names);
    free(mlist);
    pthread_mutex_destroy(&x.mu);
    return ok;
}

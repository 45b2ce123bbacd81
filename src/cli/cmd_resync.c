/*
 * cli/cmd_resync.c - `wal2edge resync TABLE [--target NAME]... [--chunk-rows N]
 * [--restart] [--no-progress]`: an online re-copy of one mapped table into its
 * D1 and KV targets (read events to its queues) while `run` streams (docs/resync.md). Reads the table in
 * primary-key chunks; around each chunk's read a low and a high watermark go
 * into the WAL (pg/resync), the high one carrying the chunk, so `run` applies
 * it at that point of the stream, less the rows the stream changed between the
 * watermarks (d1/resync). Progress (the last key sent) is kept in
 * STATE_DIR/resync/TABLE.json after every chunk, so a killed resync resumes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/mem.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pg/resync.h"

#define RESYNC_DEFAULT_CHUNK 1000
#define RESYNC_MAX_CHUNK 100000

typedef struct Progress {
    char *run;
    char *after;               /* the last key sent; NULL: none yet */
    long chunk;
    long long rows;
} Progress;

static char *progress_path(const Config *cfg, const char *qualname)
{
    return xasprintf("%s/resync/%s.json", cfg->state_dir, qualname);
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
static char *header(const char *phase, const Progress *p, const char *table, const CliArgs *a)
{
    json_t *targets = json_null();
    if (cli_args_count(a, "--target")) {
        targets = json_array();
        for (size_t i = 0; i < cli_args_count(a, "--target"); i++)
            json_array_append_new(targets, json_string(cli_args_nth(a, "--target", i)));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:o}", "phase", phase, "run", p->run, "table", table, "chunk",
                            (json_int_t)p->chunk, "targets", targets);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* The table's one integer primary-key column and its columns; 0 or the exit code. */
static int table_shape(const Config *cfg, const char *qualname, CatalogInfo **cat, const CatTable **t,
                       const char **key)
{
    Err err;
    *cat = catalog_read(cfg->source.dsn, cfg->source.publication, &qualname, 1, &err);
    if (!*cat)
        return cli_fail(&err);
    *t = catalog_table(*cat, qualname);
    if (!*t || !(*t)->exists) {
        fprintf(stderr, "wal2edge: resync: table %s does not exist in the source\n", qualname);
        return 1;
    }
    const CatIndex *pk = catalog_primary_key(*t);
    const CatColumn *kc = pk && pk->col_count == 1 ? &(*t)->cols[pk->cols[0]] : NULL;
    if (!kc || (kc->type_oid != 20 && kc->type_oid != 21 && kc->type_oid != 23)) {
        fprintf(stderr,
                "wal2edge: resync: %s needs a primary key of one integer column (smallint, integer or bigint) to be "
                "read in chunks; copy it with `wal2edge migrate` instead\n",
                qualname);
        return 1;
    }
    *key = kc->name;
    return 0;
}

static int resync_table(const Config *cfg, const CliArgs *a, const char *qualname, long chunk_rows, bool tty)
{
    CatalogInfo *cat = NULL;
    const CatTable *t = NULL;
    const char *key = NULL;
    int rc = table_shape(cfg, qualname, &cat, &t, &key);
    if (rc || !t) { /* table_shape sets t whenever it returns 0; the check tells the optimizer too */
        catalog_free(cat);
        return rc ? rc : 1;
    }
    const char **cols = xcalloc(t->col_count + 1, sizeof *cols);
    size_t ncols = 0;
    for (size_t i = 0; i < t->col_count; i++)
        if (!t->cols[i].generated)
            cols[ncols++] = t->cols[i].name;
    char *path = progress_path(cfg, qualname);
    Progress p = {0};
    bool resumed = !cli_args_flag(a, "--restart") && progress_load(path, &p);
    if (!resumed)
        p.run = xasprintf("%" PRIx64 "-%ld", (uint64_t)clock_wall_us(), (long)getpid());
    Err err;
    PgResync *pg = pgresync_open(cfg->source.dsn, &err);
    bool ok = pg != NULL, done = false;
    int64_t start = clock_mono_ms();
    long long rows_now = 0;
    if (ok && resumed)
        fprintf(stderr, "resync %s: resuming after key %s (chunk %ld)\n", qualname, p.after ? p.after : "-", p.chunk);
    while (ok && !done) {
        p.chunk++;
        char *low = header("low", &p, qualname, a), *high = header("high", &p, qualname, a);
        char *last = NULL;
        long rows = 0, bytes = 0;
        PgResyncChunk c = {t->schema, t->name, key, cols, ncols, p.after, chunk_rows, high};
        ok = pgresync_low(pg, low, &err) && pgresync_chunk(pg, &c, &last, &rows, &bytes, &err);
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
        ok = progress_save(path, &p, &err);
        if (tty)
            fprintf(stderr, "\rresync %s: %lld rows in %ld chunks, up to key %s ", qualname, p.rows, p.chunk,
                    p.after ? p.after : "-");
    }
    if (tty)
        fputc('\n', stderr);
    double secs = (double)(clock_mono_ms() - start) / 1000.0;
    if (ok) {
        unlink(path);
        printf("resync %s: %lld rows in %ld chunks sent in %.1f s (%.0f rows/s); `wal2edge run` applies each chunk "
               "when the stream reaches it\n",
               qualname, p.rows, p.chunk, secs, secs > 0 ? (double)rows_now / secs : 0.0);
    }
    pgresync_close(pg);
    free(p.run);
    free(p.after);
    free(path);
    free(cols);
    catalog_free(cat);
    return ok ? 0 : cli_fail(&err);
}

int cmd_resync(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    long chunk_rows = RESYNC_DEFAULT_CHUNK;
    const char *v = cli_args_value(&a, "--chunk-rows");
    if (v) {
        char *end;
        chunk_rows = strtol(v, &end, 10);
        if (*end || chunk_rows < 1 || chunk_rows > RESYNC_MAX_CHUNK)
            return cli_usage_error(argv[0], "--chunk-rows: \"%s\" is not a number of rows in 1..%d", v,
                                   RESYNC_MAX_CHUNK);
    }
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);
    MappingSet *maps = mapping_set_load(cfg, &err);
    int rc;
    const Mapping *m = maps ? mapping_set_find(maps, a.operands[0]) : NULL;
    if (!maps) {
        rc = cli_fail(&err);
    } else if (!m || (!m->d1.present && !m->kv_count && !m->queue)) {
        fprintf(stderr, "wal2edge: resync: %s has no mapping with a \"d1\", \"kv\" or \"queue\" section\n",
                a.operands[0]);
        rc = 2;
    } else {
        bool tty = isatty(STDERR_FILENO) == 1 && !cli_args_flag(&a, "--no-progress");
        rc = resync_table(cfg, &a, m->source, chunk_rows, tty);
    }
    mapping_set_free(maps);
    config_free(cfg);
    return rc;
}

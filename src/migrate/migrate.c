/*
 * migrate/migrate.c - see migrate.h.
 *
 * In order: the D1 schema from the mappings and the catalog, the publication for
 * every mapped table (not only the D1 ones, so a later run streams KV- and
 * queue-only tables too), then the copy's point: the configured slot when it is
 * created here, else a helper slot past the slot's position. The copy reads the
 * point's snapshot one D1 database at a time, each table in key order through a
 * cursor. Rows reach the D1 target as INSERT changes in synthetic transactions
 * whose commit LSNs count up from MIGRATE_LSN_SPAN below the point, and a last
 * empty transaction at the point itself sets the checkpoint, so `run` skips
 * exactly what the copy holds. Large or unestimated remote tables go through
 * /import instead. Every table is then read back and its row count and checksum
 * compared with the values sent; only a verified remote copy drops its progress
 * row, so an unverified copy is reported by the next migrate.
 */
#include "migrate/migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cf/client.h"
#include "core/clock.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "daemon/source_watch.h"
#include "core/fs.h"
#include "d1/ddl.h"
#include "d1/migrations.h"
#include "d1/shard.h"
#include "migrate/checksum.h"
#include "migrate/d1_rest.h"
#include "pg/catalog.h"
#include "pg/conn.h"
#include "pg/snapshot.h"
#include "pg/source.h"
#include "pipeline/target.h"
#include "snapshot/point.h"
#include "state/sqlite.h"
#include "targets/d1_remote.h"
#include "targets/registry.h"

#define MIGRATE_FETCH 2000
/* chunk i of the copy commits at point - MIGRATE_LSN_SPAN + i; the last at the point itself */
#define MIGRATE_LSN_SPAN ((Lsn)1 << 22)

static const LogCtx LOGC = {.component = "migrate"};

/* ------------------------------------------------------------ copy */

typedef struct Copy {
    const Config *cfg;
    const MigrateOptions *opts;
    Target *target;
    Lsn point;
    Lsn next_lsn;
    bool in_tx;
    TxnInfo txn;
    long in_chunk;
    long chunk_rows;
    int64_t start_ms, last_ms;
    uint64_t rows_all;
    /* REST: set for the tables that go through /import */
    CfClient *client;
    const char *database_id;
    const char *import_path;
    const char *run;
    bool remote;
} Copy;

static bool chunk_begin(Copy *c, Err *err)
{
    c->txn = (TxnInfo){.xid = 1, .commit_lsn = c->next_lsn, .end_lsn = c->next_lsn};
    c->txn.commit_time_us = clock_wall_us();
    if (c->next_lsn >= c->point)
        return err_set(err, ERR_TOO_LARGE, "migrate: more chunks than the copy's LSN span allows");
    c->next_lsn++;
    c->in_chunk = 0;
    c->in_tx = c->target->ops->begin(c->target, &c->txn, err);
    return c->in_tx;
}

static bool chunk_end(Copy *c, Err *err)
{
    if (!c->in_tx)
        return true;
    c->in_tx = false;
    return c->target->ops->commit(c->target, &c->txn, err) && c->target->ops->flush(c->target, err);
}

static void progress(Copy *c, const char *db, const char *table, uint64_t rows, int64_t estimate, bool done)
{
    int64_t now = clock_mono_ms();
    if (!done && now - c->last_ms < (c->opts->tty ? 250 : 5000))
        return;
    c->last_ms = now;
    double secs = (double)(now - c->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)(c->rows_all + rows) / secs : 0;
    char eta[32] = "-";
    if (!done && rate > 0 && estimate > (int64_t)rows)
        snprintf(eta, sizeof eta, "%.0fs", (double)(estimate - (int64_t)rows) / rate);
    if (c->opts->tty) {
        fprintf(stderr, "\r\033[Kd1.%s %s: %" PRIu64 "/%" PRId64 " rows, %.0f rows/s, ETA %s%s", db, table, rows,
                estimate > (int64_t)rows ? estimate : (int64_t)rows, rate, eta, done ? "\n" : "");
        fflush(stderr);
    } else {
        log_info(&LOGC, "d1.%s %s: %" PRIu64 "/%" PRId64 " rows, %.0f rows/s, ETA %s%s", db, table, rows,
                 estimate > (int64_t)rows ? estimate : (int64_t)rows, rate, eta, done ? " (done)" : "");
    }
}

static bool copy_table(Copy *c, PgSnapshot *snap, const CatalogInfo *cat, const D1Table *dt, MigrateTableResult *r,
                       Err *err)
{
    const CatTable *ct = catalog_table(cat, dt->source);
    Rel rel = {.oid = ct->oid, .nspname = (char *)ct->schema, .relname = (char *)ct->name,
               .qualname = (char *)ct->qualname, .replident = (uint8_t)ct->replident};
    rel.cols = xcalloc(ct->col_count + 1, sizeof *rel.cols);
    const char **cols = xcalloc(ct->col_count + 1, sizeof *cols);
    size_t *pos = xcalloc(dt->col_count + 1, sizeof *pos); /* D1 column -> rel column */
    for (size_t i = 0; i < ct->col_count; i++) {
        if (ct->cols[i].generated)
            continue;
        cols[rel.ncols] = ct->cols[i].name;
        rel.cols[rel.ncols++] = (RelCol){(char *)ct->cols[i].name, ct->cols[i].type_oid, ct->cols[i].typmod, false};
    }
    bool ok = true;
    for (size_t k = 0; ok && k < dt->col_count; k++) {
        pos[k] = SIZE_MAX;
        for (size_t i = 0; i < rel.ncols; i++)
            if (strcmp(rel.cols[i].name, dt->cols[k].pg_name) == 0)
                pos[k] = i;
        if (pos[k] == SIZE_MAX)
            ok = err_set(err, ERR_CHECK, "%s: column %s is not readable", dt->source, dt->cols[k].pg_name);
    }
    for (size_t k = 0; k < dt->key_count; k++)
        rel.cols[pos[dt->key[k]]].key = true;
    const char **key = xcalloc(dt->key_count + 1, sizeof *key);
    for (size_t k = 0; k < dt->key_count; k++)
        key[k] = dt->cols[dt->key[k]].pg_name;
    int64_t estimate = -1;
    ok = ok && pgsnap_estimate_rows(snap, ct->schema, ct->name, &estimate, err) &&
         pgsnap_table_open(snap, ct->schema, ct->name, cols, rel.ncols, key, dt->key_count, NULL, err);
    /* an unknown estimate (never analyzed) may be a large table: /import serves both */
    MrestImport *im = NULL;
    if (ok && c->remote && (estimate < 0 || estimate >= c->opts->import_rows)) {
        im = mrest_import_new(c->client, c->database_id, dt, c->import_path, c->cfg->source.slot, c->run, err);
        ok = im != NULL;
    }
    PgoCol *vals = xcalloc(rel.ncols + 1, sizeof *vals);
    D1Value *dv = xcalloc(dt->col_count + 1, sizeof *dv);
    while (ok) {
        long n = pgsnap_fetch(snap, MIGRATE_FETCH, err);
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        for (long row = 0; ok && row < n; row++) {
            for (size_t i = 0; i < rel.ncols; i++) {
                size_t len = 0;
                const char *v = pgsnap_value(snap, row, i, &len);
                vals[i].kind = v ? PGO_COL_TEXT : PGO_COL_NULL;
                vals[i].data = (const uint8_t *)v;
                vals[i].len = (uint32_t)len;
            }
            /* a sharded table: this database copies its own rows only (d1/shard) */
            uint32_t shard = (uint32_t)dt->shard;
            if (dt->shard_col_count &&
                !d1_shard_of_tuple(dt, &rel, &(PgoTuple){.ncols = rel.ncols, .cols = vals}, &shard, err))
                ok = false;
            if (!ok || shard != dt->shard)
                continue;
            /* the checksum of the values D1 is to hold */
            for (size_t k = 0; ok && k < dt->col_count; k++) {
                const PgoCol *pc = &vals[pos[k]];
                if (pc->kind == PGO_COL_NULL)
                    dv[k] = (D1Value){.kind = D1V_NULL};
                else
                    ok = d1_value_from_text(dt->cols[k].type, (const char *)pc->data, pc->len, &dv[k], err);
            }
            if (ok)
                r->pg_sum += migrate_row_hash(dv, dt->col_count);
            bool upsert = !im, too_large = false;
            if (ok && im) {
                ok = mrest_import_row(im, dv, &too_large, err);
                upsert = too_large; /* its literals break the statement limit: bind it instead */
            }
            for (size_t k = 0; k < dt->col_count; k++)
                d1_value_clear(&dv[k]);
            if (ok && upsert) {
                if (!c->in_tx)
                    ok = chunk_begin(c, err);
                PgoTuple tup = {.ncols = rel.ncols, .cols = vals};
                Change ch = {.op = CHANGE_INSERT, .index = (uint32_t)c->in_chunk, .rel = &rel, .new_tuple = &tup};
                ok = ok && c->target->ops->change(c->target, &c->txn, &ch, err);
                if (ok && c->remote)
                    r->upserted_rows++;
                if (ok && ++c->in_chunk >= c->chunk_rows)
                    ok = chunk_end(c, err);
            }
            if (ok)
                r->pg_rows++;
        }
        progress(c, dt->database, dt->name, r->pg_rows, estimate, false);
    }
    ok = ok && chunk_end(c, err) && (!im || mrest_import_finish(im, err)) && pgsnap_table_close(snap, err);
    if (im)
        r->import_files = mrest_import_files(im);
    mrest_import_free(im);
    if (ok) {
        progress(c, dt->database, dt->name, r->pg_rows, estimate, true);
        c->rows_all += r->pg_rows;
    } else {
        if (c->in_tx)
            c->target->ops->rollback(c->target);
        c->in_tx = false;
        err_prefix(err, "copying %s into d1.%s %s", dt->source, dt->database, dt->name);
    }
    free(vals);
    free(dv);
    free(key);
    free(pos);
    free(cols);
    free(rel.cols);
    return ok;
}

/* ------------------------------------------------------------ embedded file */

static bool table_exists(Sqlite *db, const char *name, bool *out, Err *err)
{
    SqliteStmt *st = sqlite_prepare(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", err);
    bool ok = st && sqlite_bind_text(st, 1, name, strlen(name), err) && sqlite_step(st, err) == 1;
    if (ok)
        *out = sqlite_column_int64(st, 0) > 0;
    sqlite_finalize(st);
    return ok;
}

/* Empty the mapped tables and forget the slot's checkpoint: the copy starts over. */
static bool embedded_reset(const ConfigTarget *t, const D1Schema *schema, const char *slot, Err *err)
{
    Sqlite *db = sqlite_open(t->embedded_path, true, err);
    if (!db)
        return false;
    bool ok = sqlite_begin(db, err);
    for (size_t i = 0; ok && i < schema->table_count; i++) {
        const D1Table *dt = &schema->tables[i];
        bool exists = false;
        if (strcmp(dt->database, t->name) != 0 || !table_exists(db, dt->name, &exists, err) || !exists)
            continue;
        Buf b;
        buf_init(&b, 4096);
        ok = buf_append_str(&b, "DELETE FROM ", err) && d1_quote_ident(&b, dt->name, err) &&
             sqlite_exec(db, b.data, err);
        buf_free(&b);
    }
    bool st_exists = false;
    if (ok && table_exists(db, D1_STATE_TABLE, &st_exists, err) && st_exists) {
        SqliteStmt *st = sqlite_prepare(db, "DELETE FROM " D1_STATE_TABLE " WHERE slot = ?1", err);
        ok = st && sqlite_bind_text(st, 1, slot, strlen(slot), err) && sqlite_step(st, err) >= 0;
        sqlite_finalize(st);
    }
    if (ok)
        ok = sqlite_commit(db, err);
    else
        sqlite_rollback(db);
    sqlite_close(db);
    return ok;
}

/* Read every row back and compute the checksum the same way. */
static bool embedded_verify(const ConfigTarget *t, const D1Table *dt, MigrateTableResult *r, Err *err)
{
    Sqlite *db = sqlite_open(t->embedded_path, false, err);
    if (!db)
        return false;
    Buf b;
    buf_init(&b, 1 << 20);
    bool ok = buf_append_str(&b, "SELECT ", err);
    for (size_t k = 0; ok && k < dt->col_count; k++)
        ok = (k == 0 || buf_append_str(&b, ", ", err)) && d1_quote_ident(&b, dt->cols[k].d1_name, err);
    ok = ok && buf_append_str(&b, " FROM ", err) && d1_quote_ident(&b, dt->name, err);
    SqliteStmt *st = ok ? sqlite_prepare(db, b.data, err) : NULL;
    ok = st != NULL;
    D1Value *dv = xcalloc(dt->col_count + 1, sizeof *dv);
    int rc = 0;
    while (ok && (rc = sqlite_step(st, err)) == 1) {
        for (size_t k = 0; k < dt->col_count; k++) {
            int c = (int)k;
            switch (sqlite_column_type(st, c)) {
            case SQLITE_VAL_INTEGER:
                dv[k] = (D1Value){.kind = D1V_INTEGER, .i = sqlite_column_int64(st, c)};
                break;
            case SQLITE_VAL_FLOAT:
                dv[k] = (D1Value){.kind = D1V_REAL, .r = sqlite_column_double(st, c)};
                break;
            case SQLITE_VAL_TEXT: {
                size_t len = 0;
                const char *p = sqlite_column_text(st, c, &len);
                dv[k] = (D1Value){.kind = D1V_TEXT, .data = (char *)p, .len = len};
                break;
            }
            case SQLITE_VAL_BLOB: {
                size_t len = 0;
                const void *p = sqlite_column_blob(st, c, &len);
                dv[k] = (D1Value){.kind = D1V_BLOB, .data = (char *)p, .len = len};
                break;
            }
            default:
                dv[k] = (D1Value){.kind = D1V_NULL};
            }
        }
        r->d1_sum += migrate_row_hash(dv, dt->col_count);
        r->d1_rows++;
    }
    if (rc < 0)
        ok = false;
    free(dv);
    sqlite_finalize(st);
    buf_free(&b);
    sqlite_close(db);
    if (ok)
        r->verified = true;
    return ok;
}

/* ------------------------------------------------------------ run */

void migrate_result_free(MigrateResult *r)
{
    for (size_t i = 0; i < r->table_count; i++) {
        free(r->tables[i].database);
        free(r->tables[i].table);
        free(r->tables[i].source);
    }
    free(r->tables);
    memset(r, 0, sizeof *r);
}

/*
 * A remote database made ready for the copy: the schema created (opening the
 * target), an earlier copy or checkpoint cleared, and a target reopened on the
 * empty state. Says which of the three it found.
 */
static Target *remote_open(const Config *cfg, const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                           const D1Schema *schema, TargetSet *ts, const char *run, Lsn point, Err *err)
{
    Target *tg = registry_target_new(ts, cfg, maps, cat, t, NULL, err);
    if (!tg)
        return NULL;
    Lsn held = target_durable(tg).commit_lsn;
    tg->ops->free(tg);
    MrestEarlier e;
    if (!mrest_prepare(ts->client, t->remote_id, schema, t->name, cfg->source.slot, run, point, &e, err)) {
        err_prefix(err, "preparing d1.%s for the copy", t->name);
        return NULL;
    }
    char l[LSN_STR_MAX];
    if (e.unfinished)
        fprintf(stderr,
                "d1.%s: an earlier migrate (from the snapshot at %s, started %s, %" PRIu64 " rows imported) did not "
                "finish; restarting cleanly: the mapped tables were emptied and are copied again\n",
                t->name, e.lsn, e.started_at, e.imported_rows);
    else if (held != LSN_INVALID)
        fprintf(stderr,
                "d1.%s: the database held the checkpoint %s of slot \"%s\" (an earlier migrate or run); restarting "
                "cleanly: the mapped tables were emptied and are copied again\n",
                t->name, lsn_format(held, l), cfg->source.slot);
    else
        fprintf(stderr, "d1.%s: copying into the D1 database %s\n", t->name, t->remote_id);
    return registry_target_new(ts, cfg, maps, cat, t, NULL, err);
}

/* `wal2edge plan --write-migrations DIR`'s files, from the same schema. */
static bool write_migrations(const D1Schema *schema, const char *dir, Err *err)
{
    MigrationReport rep;
    bool ok = d1_migrations_write(schema, dir, &rep, err);
    for (size_t i = 0; ok && i < rep.note_count; i++)
        log_warn(&LOGC, "%s", rep.notes[i]);
    for (size_t i = 0; ok && i < rep.written_count; i++)
        fprintf(stderr, "wrote %s\n", rep.written[i]);
    if (ok && rep.written_count == 0)
        fprintf(stderr, "migrations in %s are up to date\n", dir);
    d1_migration_report_clear(&rep);
    return ok;
}

/* run needs the publication: create it for the mapped tables when missing. */
static bool ensure_publication(const Config *cfg, const char *const *names, size_t n, Err *err)
{
    PgConn *conn = pgconn_open(cfg->source.dsn, err);
    if (!conn)
        return false;
    PgServerFacts facts;
    bool created = false;
    bool ok = pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, err) &&
              source_ensure_publication(conn, &facts, cfg->source.publication, names, n, &created, err);
    if (created)
        fprintf(stderr, "created publication \"%s\" for the mapped tables\n", cfg->source.publication);
    pgconn_close(conn);
    return ok;
}

bool migrate_run(const Config *cfg, const MappingSet *maps, const MigrateOptions *opts, MigrateResult *out, Err *err)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = clock_mono_ms();
    const char **names = xcalloc(maps->count + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < maps->count; i++)
        if (maps->items[i].d1.present)
            names[n++] = maps->items[i].source;
    bool ok = true;
    if (n == 0)
        ok = err_set(err, ERR_CONFIG, "migrate: no mapping has a \"d1\" part");
    CatalogInfo *cat = ok ? catalog_read(cfg->source.dsn, cfg->source.publication, names, n, err) : NULL;
    ok = ok && cat;
    D1Schema *schema = ok ? d1_schema_build(maps, cat, NULL) : NULL;
    if (ok && schema->problem_count)
        ok = err_set(err, ERR_CONFIG, "migrate: %s%s (wal2edge plan lists every problem)", schema->problems[0],
                     schema->problem_count > 1 ? ", and more" : "");
    if (ok && opts->write_migrations)
        ok = write_migrations(schema, opts->write_migrations, err);
    SnapPoint *point = NULL;
    PgSnapshot *snap = NULL;
    /* The publication first (a slot decodes with the publications of its own past), for every
     * mapped table: a later run streams KV- and queue-only tables too. Then the slot: one made
     * here stays (permanent), so a `run` next week continues right after the copy. When the
     * slot exists, a helper slot gives the copy its point, past the slot's position: run
     * streams from the slot and D1 skips what the copy holds (its checkpoint is the point). */
    if (ok) {
        const char **published = xcalloc(maps->count + 1, sizeof *published);
        for (size_t i = 0; i < maps->count; i++)
            published[i] = maps->items[i].source;
        ok = ensure_publication(cfg, published, maps->count, err);
        free(published);
    }
    if (ok) {
        point = snap_point_open(cfg, SNAP_POINT_SLOT_IF_MISSING, err);
        ok = point != NULL;
    }

    if (ok) {
        snap = snap_point_reader(point, err);
        ok = snap != NULL;
    }
    if (ok) {
        out->lsn = snap_point_lsn(point);
        out->slot_created = snap_point_created_slot(point);
        char l[LSN_STR_MAX];
        log_info(&LOGC, "copying %zu table(s) from the snapshot at %s", schema->table_count,
                 lsn_format(out->lsn, l));
        out->tables = xcalloc(schema->table_count + 1, sizeof *out->tables);
    }
    TargetSet ts = {0}; /* only for its shared client: the databases are copied one at a time */
    char run[40], stamp[17];
    snap_time_id(stamp);
    snprintf(run, sizeof run, "%s-%ld", stamp, (long)getpid());
    char *import_path = xasprintf("%s/migrate/import.sql", cfg->state_dir);
    Copy c = {.cfg = cfg, .opts = opts, .start_ms = clock_mono_ms(), .run = run, .import_path = import_path};
    size_t dbc = 0;
    char **dbs = ok ? d1_schema_databases(schema, &dbc) : NULL;
    for (size_t d = 0; ok && d < dbc; d++) {
        const ConfigTarget *t = config_target(cfg, TARGET_D1, dbs[d]);
        if (!t) {
            ok = err_set(err, ERR_CONFIG, "migrate: no d1 target \"%s\"", dbs[d]);
            break;
        }
        bool embedded = target_is_embedded(t);
        if (embedded) {
            fprintf(stderr, "d1.%s: copying into %s (rows of the mapped tables there are replaced)\n", t->name,
                    t->embedded_path);
            ok = embedded_reset(t, schema, cfg->source.slot, err);
            c.target = ok ? registry_target_new(&ts, cfg, maps, cat, t, NULL, err) : NULL;
        } else {
            ok = registry_client(&ts, cfg, t, NULL, err) && fs_mkdir_parents(import_path, err);
            c.target = ok ? remote_open(cfg, t, maps, cat, schema, &ts, run, out->lsn, err) : NULL;
        }
        ok = ok && c.target;
        c.remote = !embedded;
        c.client = ts.client;
        c.database_id = t->remote_id;
        c.point = out->lsn;
        c.next_lsn = out->lsn - MIGRATE_LSN_SPAN;
        c.chunk_rows = opts->chunk_rows > 0 ? opts->chunk_rows : embedded ? 5000 : 200;
        for (size_t i = 0; ok && i < schema->table_count; i++) {
            const D1Table *dt = &schema->tables[i];
            if (strcmp(dt->database, t->name) != 0)
                continue;
            MigrateTableResult *r = &out->tables[out->table_count++];
            r->database = xstrdup(dt->database);
            r->table = xstrdup(dt->name);
            r->source = xstrdup(dt->source);
            ok = copy_table(&c, snap, cat, dt, r, err);
            out->rows += r->pg_rows;
        }
        /* the checkpoint: exactly the point */
        if (ok) {
            c.next_lsn = out->lsn;
            c.txn = (TxnInfo){.xid = 1, .commit_lsn = out->lsn, .end_lsn = out->lsn,
                              .commit_time_us = clock_wall_us()};
            ok = c.target->ops->begin(c.target, &c.txn, err) && c.target->ops->commit(c.target, &c.txn, err) &&
                 (embedded ? c.target->ops->flush(c.target, err) : d1_remote_flush_checkpoint(c.target, err));
        }
        if (c.target)
            c.target->ops->free(c.target);
        c.target = NULL;
        bool db_match = true;
        for (size_t i = 0; ok && i < out->table_count; i++) {
            MigrateTableResult *r = &out->tables[i];
            if (strcmp(r->database, t->name) != 0)
                continue;
            const D1Table *dt = d1_schema_table(schema, r->source);
            if (embedded)
                ok = embedded_verify(t, dt, r, err);
            else
                ok = r->verified = mrest_verify(ts.client, t->remote_id, dt, 0, &r->d1_rows, &r->d1_sum, err);
            db_match = db_match && r->pg_rows == r->d1_rows && r->pg_sum == r->d1_sum;
        }
        /* verified: a rerun no longer sees an unfinished copy (kept otherwise, so it says so) */
        if (ok && !embedded && db_match)
            ok = mrest_finish(ts.client, t->remote_id, cfg->source.slot, run, err);
    }
    /* the D1 tables now hold these relations' rows: `run` goes on from them (daemon/source_watch) */
    ok = ok && source_watch_record(cfg, cat, names, n, "d1", err);
    if (ok) {
        out->all_match = true;
        for (size_t i = 0; i < out->table_count; i++) {
            const MigrateTableResult *r = &out->tables[i];
            if (r->verified && (r->pg_rows != r->d1_rows || r->pg_sum != r->d1_sum))
                out->all_match = false;
        }
    }
    out->seconds = (double)(clock_mono_ms() - t0) / 1000.0;
    for (size_t d = 0; d < dbc; d++)
        free(dbs[d]);
    free(dbs);
    free(import_path);
    registry_free_client(&ts);
    pgsnap_close(snap);
    snap_point_close(point);
    d1_schema_free(schema);
    catalog_free(cat);
    free(names);
    return ok;
}

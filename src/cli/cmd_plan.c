/*
 * cli/cmd_plan.c - `wal2edge plan [--write-migrations DIR]`: validate the
 * config and the mappings against the Postgres catalog and D1's limits, print
 * the D1 DDL, and optionally write wrangler migration files.
 *
 * stdout: the DDL (valid SQL; comments say which source table feeds what).
 * stderr: warnings, and one line per problem ("FILE:LINE:COL: key: what").
 * Exit: 0 ok (warnings allowed), 2 config or mapping problems, 1 runtime
 * failure (connection, files).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/mapcheck.h"
#include "core/log.h"
#include "core/mem.h"
#include "d1/migrations.h"
#include "mapping/mapping.h"
#include "mapping/shard.h"
#include "pg/catalog.h"
#include "pg/keysample.h"

static void print_table_comment(const D1Table *t)
{
    printf("-- %s -> %s: %zu column%s, key (", t->source, t->name, t->col_count,
           t->col_count == 1 ? "" : "s");
    for (size_t k = 0; k < t->key_count; k++)
        printf("%s%s", k ? ", " : "", t->cols[t->key[k]].d1_name);
    printf(") from %s\n", t->key_origin);
    for (size_t i = 0; i < t->col_count; i++) {
        const D1Column *c = &t->cols[i];
        bool renamed = strcmp(c->pg_name, c->d1_name) != 0;
        printf("--   %s%s%s %s -> %s%s\n", c->pg_name, renamed ? " as " : "", renamed ? c->d1_name : "",
               c->pg_type, d1_affinity_name(c->type->affinity), c->type->overridden ? " (mapping)" : "");
    }
    if (t->unbounded)
        printf("--   largest row: %zu bytes + unbounded columns (%s); rows over %d bytes are refused "
               "when applied\n",
               t->max_row_bytes, t->unbounded, D1_MAX_ROW_BYTES);
    else
        printf("--   largest row: %zu bytes\n", t->max_row_bytes);
}

static void print_ddl(const Config *cfg, const D1Schema *s)
{
    size_t n;
    char **dbs = d1_schema_databases(s, &n);
    for (size_t i = 0; i < n; i++) {
        const ConfigTarget *target = config_target(cfg, TARGET_D1, dbs[i]);
        if (i)
            printf("\n");
        if (target && target->remote_id)
            printf("-- D1 database \"%s\" (database_id %s)\n", dbs[i], target->remote_id);
        else
            printf("-- D1 database \"%s\" (embedded: %s)\n", dbs[i],
                   target ? target->embedded_path : "?");
        char *ddl = d1_ddl_state_table();
        printf("%s", ddl);
        free(ddl);
        for (size_t k = 0; k < s->table_count; k++) {
            const D1Table *t = &s->tables[k];
            if (strcmp(t->database, dbs[i]) != 0)
                continue;
            printf("\n");
            print_table_comment(t);
            ddl = d1_ddl_table(t);
            printf("%s", ddl);
            free(ddl);
        }
        free(dbs[i]);
    }
    free(dbs);
    if (n == 0)
        printf("-- no mapping writes to D1\n");
}

/* ------------------------------------------------ sharded D1: each database's size */

#define D1_MAX_DATABASE_BYTES (10.0 * 1000 * 1000 * 1000) /* D1's 10 GB per database */
#define SHARD_SAMPLE_ROWS 200000

typedef struct ShardCount {
    uint32_t n;
    int64_t *rows;             /* sampled rows per database */
} ShardCount;

/* "812 kB", "3.4 MB", "9.1 GB" (decimal units, as D1 counts its 10 GB). */
static const char *size_text(double bytes, char buf[32])
{
    static const char *const units[] = {"bytes", "kB", "MB", "GB", "TB"};
    size_t u = 0;
    while (bytes >= 1000.0 && u < 4) {
        bytes /= 1000.0;
        u++;
    }
    snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

static bool count_group(void *user, const char *const *values, const size_t *lens, size_t n, int64_t rows, Err *err)
{
    (void)err;
    ShardCount *sc = user;
    ShardPart parts[SHARD_MAX_COLUMNS];
    for (size_t i = 0; i < n && i < SHARD_MAX_COLUMNS; i++) /* the mapping has at most that many */
        parts[i] = (ShardPart){values[i], lens[i]};
    sc->rows[shard_for(parts, n < SHARD_MAX_COLUMNS ? n : SHARD_MAX_COLUMNS, sc->n)] += rows;
    return true;
}

/* One sharded mapping: a sample's rows per database, scaled to the table's size; adds to db_bytes. */
static bool predict_mapping(PgConn *conn, const Mapping *m, double *db_bytes, const char **db_names, size_t db_count,
                            Err *err)
{
    const MappingD1 *d = &m->d1;
    const char **cols = xcalloc(d->shard_by_count + 1, sizeof *cols);
    for (size_t i = 0; i < d->shard_by_count; i++)
        cols[i] = d->shard_by[i].name;
    ShardCount sc = {.n = (uint32_t)d->database_count, .rows = xcalloc(d->database_count, sizeof(int64_t))};
    PgKeySample ks;
    int64_t nulls = 0;
    bool ok = pg_key_sample(conn, m->schema, m->relname, cols, d->shard_by_count, SHARD_SAMPLE_ROWS, &ks, &nulls,
                            count_group, &sc, err);
    if (ok) {
        char sz[32];
        printf("\n-- shards of %s: %s %.0f rows in Postgres (%s with indexes), %" PRId64
               " sampled (%.2f%% of its pages)\n",
               m->source, ks.est_rows < 0 ? "never analyzed," : "about", ks.est_rows < 0 ? 0 : ks.est_rows,
               size_text((double)ks.total_bytes, sz), ks.sampled_rows, ks.percent);
        for (size_t i = 0; i < d->database_count; i++) {
            double share = ks.sampled_rows ? (double)sc.rows[i] / (double)ks.sampled_rows : 1.0 / (double)sc.n;
            double bytes = share * (double)ks.total_bytes;
            printf("--   %s: %.1f%% of the rows, about %s\n", d->databases[i], 100.0 * share, size_text(bytes, sz));
            for (size_t k = 0; k < db_count; k++)
                if (strcmp(db_names[k], d->databases[i]) == 0)
                    db_bytes[k] += bytes;
        }
        if (nulls)
            printf("--   %" PRId64 " sampled rows have a NULL shard key and no database\n", nulls);
    }
    free(sc.rows);
    free(cols);
    return ok;
}

/* `plan` with sharded mappings: each database's predicted size against D1's 10 GB (stdout comments, warnings). */
static bool predict_shards(const Config *cfg, const MappingSet *maps, LogCtx *lc, Err *err)
{
    size_t sharded = 0, db_count = 0;
    const char **db_names = xcalloc(cfg->target_count + 1, sizeof *db_names);
    for (size_t i = 0; i < maps->count; i++)
        sharded += mapping_d1_sharded(&maps->items[i]);
    for (size_t i = 0; i < cfg->target_count; i++)
        if (cfg->targets[i].kind == TARGET_D1)
            db_names[db_count++] = cfg->targets[i].name;
    if (!sharded) {
        free(db_names);
        return true;
    }
    PgConn *conn = pgconn_open(cfg->source.dsn, err);
    double *db_bytes = xcalloc(db_count + 1, sizeof *db_bytes);
    bool ok = conn != NULL;
    for (size_t i = 0; ok && i < maps->count; i++)
        if (mapping_d1_sharded(&maps->items[i]))
            ok = predict_mapping(conn, &maps->items[i], db_bytes, db_names, db_count, err);
    pgconn_close(conn);
    if (ok) {
        printf("\n-- sharded tables per D1 database (D1 holds at most 10 GB each):\n");
        for (size_t k = 0; k < db_count; k++) {
            if (db_bytes[k] <= 0)
                continue;
            double pct = 100.0 * db_bytes[k] / D1_MAX_DATABASE_BYTES;
            char sz[32];
            printf("--   %s: about %s, %.2f%% of 10 GB\n", db_names[k], size_text(db_bytes[k], sz), pct);
            if (pct >= 80.0)
                log_warn(lc, "D1 database \"%s\" is predicted at %.1f GB, %s D1's 10 GB limit: spread the "
                             "sharded tables over more databases (docs/sharding.md)",
                         db_names[k], db_bytes[k] / 1e9, pct >= 100.0 ? "over" : "near");
        }
    }
    free(db_bytes);
    free(db_names);
    return ok;
}

int cmd_plan(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    const char *dir = cli_args_value(&a, "--write-migrations");
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);
    MappingSet *maps = mapping_set_load(cfg, &err);
    if (!maps) {
        config_free(cfg);
        return cli_fail(&err);
    }
    CatalogInfo *cat = mapcheck_catalog(cfg, maps, &err);
    if (!cat) {
        mapping_set_free(maps);
        config_free(cfg);
        return cli_fail(&err);
    }
    MapCheck mc;
    mapcheck_run(cfg, maps, cat, &mc);
    const D1Schema *schema = mc.schema;
    LogCtx lc = {.component = "plan"};
    for (size_t i = 0; i < mc.warning_count; i++)
        log_warn(&lc, "%s", mc.warnings[i]);
    int rc = 0;
    if (mc.problem_count) {
        for (size_t i = 0; i < mc.problem_count; i++) {
            char *clean = log_redact(mc.problems[i]);
            fprintf(stderr, "wal2edge: %s\n", clean);
            free(clean);
        }
        fprintf(stderr, "wal2edge: %zu problem%s in the mappings; nothing written\n", mc.problem_count,
                mc.problem_count == 1 ? "" : "s");
        rc = 2;
    } else {
        print_ddl(cfg, schema);
        if (!predict_shards(cfg, maps, &lc, &err))
            rc = cli_fail(&err);
        fflush(stdout);
        if (dir && rc == 0) {
            MigrationReport rep;
            if (!d1_migrations_write(schema, dir, &rep, &err)) {
                rc = cli_fail(&err);
            } else {
                for (size_t i = 0; i < rep.note_count; i++)
                    log_warn(&lc, "%s", rep.notes[i]);
                for (size_t i = 0; i < rep.written_count; i++)
                    fprintf(stderr, "wal2edge: wrote %s\n", rep.written[i]);
                if (rep.written_count == 0)
                    fprintf(stderr, "wal2edge: migrations in %s are up to date\n", dir);
            }
            d1_migration_report_clear(&rep);
        }
    }
    mapcheck_clear(&mc);
    catalog_free(cat);
    mapping_set_free(maps);
    config_free(cfg);
    return rc;
}

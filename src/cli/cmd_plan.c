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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/mapcheck.h"
#include "core/log.h"
#include "core/mem.h"
#include "d1/migrations.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"

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
        fflush(stdout);
        if (dir) {
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

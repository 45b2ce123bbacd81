/*
 * cli/cmd_migrate.c - `wal2edge migrate [--then-stream] [--chunk-rows N]
 * [--import-rows N] [--write-migrations DIR] [--no-progress]`: the D1 schema
 * from the mappings, a consistent copy of every mapped table, verified
 * (migrate/migrate.h; docs/migrate.md); with --then-stream the copy's point is
 * the new slot's, and the process continues as `wal2edge run`. Holds the state
 * directory's lock (state/lock) until then: run takes it itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/mem.h"
#include "mapping/mapping.h"
#include "migrate/migrate.h"
#include "state/lock.h"

static void print_table(const MigrateTableResult *r)
{
    char how[96] = "";
    if (r->import_files && r->upserted_rows)
        snprintf(how, sizeof how, " [%" PRIu64 " /import file(s), %" PRIu64 " rows upserted]", r->import_files,
                 r->upserted_rows);
    else if (r->import_files)
        snprintf(how, sizeof how, " [%" PRIu64 " /import file(s)]", r->import_files);
    else if (r->upserted_rows)
        snprintf(how, sizeof how, " [upserts]");
    if (r->verified)
        printf("  d1.%s %s <- %s: postgres %" PRIu64 " rows checksum %016" PRIx64 ", d1 %" PRIu64
               " rows checksum %016" PRIx64 "%s: %s\n",
               r->database, r->table, r->source, r->pg_rows, r->pg_sum, r->d1_rows, r->d1_sum, how,
               r->pg_rows == r->d1_rows && r->pg_sum == r->d1_sum ? "ok" : "MISMATCH");
    else
        printf("  d1.%s %s <- %s: %" PRIu64 " rows copied, checksum %016" PRIx64 "%s (not read back)\n", r->database,
               r->table, r->source, r->pg_rows, r->pg_sum, how);
}

int cmd_migrate(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    MigrateOptions o = {.tty = isatty(STDERR_FILENO) == 1 && !cli_args_flag(&a, "--no-progress"),
                        .then_stream = cli_args_flag(&a, "--then-stream"),
                        .import_rows = MIGRATE_IMPORT_ROWS_DEFAULT,
                        .write_migrations = cli_args_value(&a, "--write-migrations")};
    const char *v;
    if ((v = cli_args_value(&a, "--chunk-rows"))) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (!end || *end || n < 1 || n > 1000000)
            return cli_usage_error(argv[0], "--chunk-rows wants 1..1000000");
        o.chunk_rows = n;
    }
    if ((v = cli_args_value(&a, "--import-rows"))) {
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (!end || *end || end == v || n < 0)
            return cli_usage_error(argv[0], "--import-rows wants a number of rows (0: every table)");
        o.import_rows = n;
    }
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);
    int lock_fd = -1;
    MappingSet *maps = NULL;
    bool ok = state_dir_lock(cfg->state_dir, "migrate", &lock_fd, &err);
    if (ok) {
        maps = cfg->mapping_file_count ? mapping_set_load(cfg, &err) : mapping_set_new();
        ok = maps != NULL;
    }
    MigrateResult res = {0};
    ok = ok && migrate_run(cfg, maps, &o, &res, &err);
    if (ok) {
        char l[LSN_STR_MAX];
        printf("migrated %zu table(s), %" PRIu64 " rows in %.1f s (%.0f rows/s) from the snapshot at %s\n",
               res.table_count, res.rows, res.seconds, res.seconds > 0 ? (double)res.rows / res.seconds : 0.0,
               lsn_format(res.lsn, l));
        for (size_t i = 0; i < res.table_count; i++)
            print_table(&res.tables[i]);
        if (!res.all_match)
            ok = err_set(&err, ERR_CHECK, "migrate: verification failed (see the tables marked MISMATCH)");
    }
    bool then_stream = ok && o.then_stream;
    Lsn lsn = res.lsn;
    migrate_result_free(&res);
    mapping_set_free(maps);
    if (lock_fd >= 0)
        state_dir_unlock(lock_fd); /* run takes it again */
    if (then_stream) {
        char l[LSN_STR_MAX];
        fprintf(stderr, "continuing as `wal2edge run` right after %s\n", lsn_format(lsn, l));
        fflush(stdout);
        config_free(cfg);
        /* in this process, so the global options (--config, --log-level, --log-format) carry on */
        char run_name[] = "run";
        char *run_argv[] = {run_name, NULL};
        return cmd_run(ctx, 1, run_argv);
    }
    config_free(cfg);
    return ok ? 0 : cli_fail(&err);
}

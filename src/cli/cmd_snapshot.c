/*
 * cli/cmd_snapshot.c - `wal2edge snapshot [--table SCHEMA.T]... [options]`:
 * export tables consistently to R2 (or the local directory) as NDJSON.zst
 * parts plus a manifest written last (snapshot/export; docs/snapshots.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/mem.h"
#include "mapping/mapping.h"
#include "metrics/metrics.h"
#include "snapshot/export.h"
#include "snapshot/manifest.h"
#include "state/lock.h"

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > UINT64_MAX / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    uint64_t mul = 1;
    if (strcmp(p, "k") == 0 || strcmp(p, "KiB") == 0 || strcmp(p, "K") == 0)
        mul = 1024;
    else if (strcmp(p, "M") == 0 || strcmp(p, "MiB") == 0 || strcmp(p, "m") == 0)
        mul = 1024 * 1024;
    else if (strcmp(p, "G") == 0 || strcmp(p, "GiB") == 0 || strcmp(p, "g") == 0)
        mul = 1024ull * 1024 * 1024;
    else if (*p)
        return false;
    if (p == s || v > UINT64_MAX / mul)
        return false;
    *out = v * mul;
    return true;
}

int cmd_snapshot(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    SnapshotOptions o = {.tty = isatty(STDERR_FILENO) == 1 && !cli_args_flag(&a, "--no-progress"),
                         .no_slot = cli_args_flag(&a, "--no-slot"),
                         .bucket = cli_args_value(&a, "--bucket"),
                         .snapshot_id = cli_args_value(&a, "--id")};
    for (size_t k = 0; k < cli_args_count(&a, "--table"); k++) {
        const char *v = cli_args_nth(&a, "--table", k);
        if (!strchr(v, '.'))
            return cli_usage_error(argv[0], "--table wants SCHEMA.TABLE, not \"%s\"", v);
    }
    /* each size option: its value, its lower bound and what it wants */
    const struct { const char *name; uint64_t min; uint64_t *out; const char *want; } sizes[] = {
        {"--part-size", 1024, &o.part_bytes, "bytes (at least 1024; suffixes K, M, G)"},
        {"--chunk-size", 5ull * 1024 * 1024, &o.chunk_bytes,
         "bytes, at least 5M (R2's smallest multipart part)"},
        {"--range-size", 8192, &o.range_bytes, "bytes (at least 8K; suffixes K, M, G)"},
    };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const char *v = cli_args_value(&a, sizes[k].name);
        if (v && (!parse_u64(v, sizes[k].out) || *sizes[k].out < sizes[k].min))
            return cli_usage_error(argv[0], "%s wants %s", sizes[k].name, sizes[k].want);
    }
    const char *v;
    uint64_t u = 0;
    if ((v = cli_args_value(&a, "--jobs"))) {
        if (!parse_u64(v, &u) || u < 1 || u > SNAP_MAX_JOBS)
            return cli_usage_error(argv[0], "--jobs wants 1..%d", SNAP_MAX_JOBS);
        o.jobs = (int)u;
    }
    if ((v = cli_args_value(&a, "--level"))) {
        if (!parse_u64(v, &u) || u < 1 || u > 19)
            return cli_usage_error(argv[0], "--level wants a zstd level 1..19");
        o.level = (int)u;
    }
    if (o.snapshot_id && !manifest_id_valid(o.snapshot_id))
        return cli_usage_error(argv[0], "--id wants %s", MANIFEST_ID_RULE);
    o.table_count = cli_args_count(&a, "--table");
    o.tables = xcalloc(o.table_count + 1, sizeof *o.tables);
    for (size_t k = 0; k < o.table_count; k++)
        o.tables[k] = (char *)cli_args_nth(&a, "--table", k);
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg) {
        free(o.tables);
        return cli_fail(&err);
    }
    int lock_fd = -1;
    if (!state_dir_lock(cfg->state_dir, "snapshot", &lock_fd, &err)) {
        config_free(cfg);
        free(o.tables);
        return cli_fail(&err);
    }
    MappingSet *maps = cfg->mapping_file_count ? mapping_set_load(cfg, &err) : mapping_set_new();
    SnapshotResult res;
    Metrics *metrics = NULL; /* metrics.listen: the endpoint serves the job's progress */
    bool ok = maps && metrics_start(cfg, NULL, 0, &metrics, &err);
    metrics_set_state(metrics, METRICS_JOB, "snapshot");
    o.table_rows = metrics_snapshot_rows;
    o.table_rows_user = metrics;
    ok = ok && snapshot_run(cfg, maps, &o, &res, &err);
    metrics_stop(metrics);
    if (ok) {
        char l[LSN_STR_MAX];
        printf("snapshot %s at %s: %zu table(s), %" PRIu64 " rows, %" PRIu64 " parts, %.1f MB (%.1f MB raw) in %.1f s "
               "(%.0f rows/s)\n",
               res.snapshot_id, lsn_format(res.lsn, l), res.tables, res.rows, res.parts, (double)res.bytes / 1e6,
               (double)res.raw_bytes / 1e6, res.seconds, res.seconds > 0 ? (double)res.rows / res.seconds : 0.0);
    }
    mapping_set_free(maps);
    state_dir_unlock(lock_fd);
    config_free(cfg);
    free(o.tables);
    return ok ? 0 : cli_fail(&err);
}

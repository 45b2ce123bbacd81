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
#include "snapshot/export.h"
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

/* "--name VALUE" or "--name=VALUE"; advances *i. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strcmp(argv[*i], name) == 0 && *i + 1 < argc)
        return argv[++*i];
    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    return NULL;
}

int cmd_snapshot(CliCtx *ctx, int argc, char **argv)
{
    SnapshotOptions o = {.tty = isatty(STDERR_FILENO) == 1};
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *v;
        uint64_t u = 0;
        if ((v = opt_value(argc, argv, &i, "--table"))) {
            if (!strchr(v, '.'))
                rc = cli_usage_error(argv[0], "--table wants SCHEMA.TABLE, not \"%s\"", v);
            o.tables = xrealloc(o.tables, (o.table_count + 1) * sizeof *o.tables);
            o.tables[o.table_count++] = (char *)v;
        } else if ((v = opt_value(argc, argv, &i, "--bucket"))) {
            o.bucket = v;
        } else if ((v = opt_value(argc, argv, &i, "--jobs"))) {
            if (!parse_u64(v, &u) || u < 1 || u > SNAP_MAX_JOBS)
                rc = cli_usage_error(argv[0], "--jobs wants 1..%d", SNAP_MAX_JOBS);
            o.jobs = (int)u;
        } else if ((v = opt_value(argc, argv, &i, "--level"))) {
            if (!parse_u64(v, &u) || u < 1 || u > 19)
                rc = cli_usage_error(argv[0], "--level wants a zstd level 1..19");
            o.level = (int)u;
        } else if ((v = opt_value(argc, argv, &i, "--part-size"))) {
            if (!parse_u64(v, &u) || u < 1024)
                rc = cli_usage_error(argv[0], "--part-size wants bytes (at least 1024; suffixes K, M, G)");
            o.part_bytes = u;
        } else if ((v = opt_value(argc, argv, &i, "--chunk-size"))) {
            if (!parse_u64(v, &u) || u < 5ull * 1024 * 1024)
                rc = cli_usage_error(argv[0], "--chunk-size wants bytes, at least 5M (R2's smallest multipart part)");
            o.chunk_bytes = u;
        } else if ((v = opt_value(argc, argv, &i, "--range-size"))) {
            if (!parse_u64(v, &u) || u < 8192)
                rc = cli_usage_error(argv[0], "--range-size wants bytes (at least 8K; suffixes K, M, G)");
            o.range_bytes = u;
        } else if ((v = opt_value(argc, argv, &i, "--id"))) {
            for (const char *p = v; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      *p == '-' || *p == '_' || *p == '.'))
                    rc = cli_usage_error(argv[0], "--id wants letters, digits, '-', '_' or '.'");
            if (!*v || strlen(v) > 60)
                rc = cli_usage_error(argv[0], "--id wants 1..60 characters");
            o.snapshot_id = v;
        } else if (strcmp(argv[i], "--no-slot") == 0) {
            o.no_slot = true;
        } else if (strcmp(argv[i], "--no-progress") == 0) {
            o.tty = false;
        } else {
            rc = cli_usage_error(argv[0], "unknown option \"%s\"", argv[i]);
        }
    }
    if (rc) {
        free(o.tables);
        return rc;
    }
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
    bool ok = maps && snapshot_run(cfg, maps, &o, &res, &err);
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

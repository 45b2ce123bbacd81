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
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/mem.h"
#include "mapping/mapping.h"
#include "resync/job.h"

/* The line that says a kept progress is resumed (before the first chunk). */
static bool say_resumed(void *ctx, const ResyncProgress *p)
{
    (void)ctx;
    if (p->resumed && p->rows_now == 0 && !p->done)
        fprintf(stderr, "resync %s: resuming after key %s (chunk %ld)\n", p->table, p->after ? p->after : "-",
                p->chunk);
    return true;
}

/* That, and a progress line after every chunk, on a terminal. */
static bool show_progress(void *ctx, const ResyncProgress *p)
{
    if (p->resumed && p->rows_now == 0 && !p->done)
        return say_resumed(ctx, p);
    fprintf(stderr, "\rresync %s: %lld rows in %ld chunks, up to key %s ", p->table, p->rows, p->chunk,
            p->after ? p->after : "-");
    return true;
}

static int resync_table(const Config *cfg, const CliArgs *a, const char *qualname, long chunk_rows, bool tty)
{
    size_t ntargets = cli_args_count(a, "--target");
    const char **targets = xcalloc(ntargets + 1, sizeof *targets);
    for (size_t i = 0; i < ntargets; i++)
        targets[i] = cli_args_nth(a, "--target", i);
    ResyncJob job = {qualname, targets, ntargets, chunk_rows, cli_args_flag(a, "--restart"), "by hand"};
    ResyncProgress p;
    double secs = 0;
    Err err;
    bool ok = resync_job_run(cfg, &job, tty ? show_progress : say_resumed, NULL, &p, &secs, &err);
    if (tty)
        fputc('\n', stderr);
    free(targets);
    if (!ok)
        return cli_fail(&err);
    printf("resync %s: %lld rows in %ld chunks sent in %.1f s (%.0f rows/s); `wal2edge run` applies each chunk "
           "when the stream reaches it\n",
           qualname, p.rows, p.chunk, secs, secs > 0 ? (double)p.rows_now / secs : 0.0);
    return 0;
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

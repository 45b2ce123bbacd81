/*
 * cli/cmd_warm.c - `wal2edge warm [--mapping NAME]... [--restart] [--from-snapshot ID [--bucket NAME]]`:
 * the options (cli/args), the config and mappings, then the warm job (warm/warm) and its
 * one-line summary.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/mem.h"
#include "mapping/mapping.h"
#include "snapshot/manifest.h"
#include "warm/warm.h"

int cmd_warm(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    WarmOptions o = {.restart = cli_args_flag(&a, "--restart"),
                     .from_snapshot = cli_args_value(&a, "--from-snapshot"),
                     .bucket = cli_args_value(&a, "--bucket"),
                     .tty = isatty(STDERR_FILENO) == 1};
    if (o.from_snapshot && !manifest_id_valid(o.from_snapshot))
        return cli_usage_error(argv[0], "--from-snapshot wants a snapshot id (%s)", MANIFEST_ID_RULE);
    if (o.bucket && !o.from_snapshot)
        return cli_usage_error(argv[0], "--bucket goes with --from-snapshot ID");
    o.name_count = cli_args_count(&a, "--mapping");
    o.names = xcalloc(o.name_count + 1, sizeof *o.names);
    for (size_t k = 0; k < o.name_count; k++)
        o.names[k] = (char *)cli_args_nth(&a, "--mapping", k);
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    MappingSet *maps = NULL;
    WarmResult res;
    bool ok = cfg != NULL;
    if (ok) {
        maps = cfg->mapping_file_count ? mapping_set_load(cfg, &err) : mapping_set_new();
        ok = maps != NULL;
    }
    ok = ok && warm_run(cfg, maps, &o, &res, &err);
    if (ok) {
        char l[LSN_STR_MAX];
        printf("warm done: %" PRIu64 " keys in %.1f s (%.0f keys/s", res.keys, res.seconds,
               res.seconds > 0 ? (double)res.keys / res.seconds : 0.0);
        if (res.rest)
            printf(", %" PRIu64 " requests", res.requests);
        if (o.from_snapshot)
            printf("); snapshot %s at %s: `run` continues from there\n", o.from_snapshot, lsn_format(res.lsn, l));
        else
            printf("); snapshot at %s\n", lsn_format(res.lsn, l));
    }
    mapping_set_free(maps);
    config_free(cfg);
    free(o.names);
    return ok ? 0 : cli_fail(&err);
}

/*
 * cli/cmd_run.c - `wal2edge run [--exit-when-caught-up] [--target-log FILE]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "daemon/run.h"
#include "targets/changelog.h"

#define RUN_MAX_TARGETS 64

int cmd_run(CliCtx *ctx, int argc, char **argv)
{
    RunOptions opts = {0};
    const char *target_log = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exit-when-caught-up") == 0)
            opts.exit_when_caught_up = true;
        else if (strcmp(argv[i], "--target-log") == 0 && i + 1 < argc)
            target_log = argv[++i];
        else if (strncmp(argv[i], "--target-log=", 13) == 0)
            target_log = argv[i] + 13;
        else
            return cli_usage_error(argv[0], "unknown option \"%s\"", argv[i]);
    }
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);

    Target *targets[RUN_MAX_TARGETS];
    size_t count = 0;
    const char *log_path = target_log ? target_log : cfg->changelog_path;
    bool ok = true;
    if (log_path) {
        targets[count] = changelog_target_new(log_path, &err);
        ok = targets[count] != NULL;
        count += ok;
    }
    if (ok && count == 0)
        ok = err_set(&err, ERR_CONFIG,
                     "nothing to run: no target is configured (pass --target-log FILE, or set "
                     "\"changelog\": {\"path\": ...} in %s)",
                     cfg->path);
    if (!ok) {
        for (size_t i = 0; i < count; i++)
            targets[i]->ops->free(targets[i]);
        config_free(cfg);
        return cli_fail(&err);
    }
    ok = run_pipeline(cfg, &opts, targets, count, &err);
    config_free(cfg);
    return ok ? 0 : cli_fail(&err);
}

/*
 * cli/cli.c - see cli.h.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_commit.h" /* WAL2EDGE_GIT_COMMIT, generated at build time (cmake/GitCommit.cmake) */
#include "cli/commands.h"
#include "core/log.h"
#include "core/mem.h"

static const CliCommand commands[] = {
    {"run", "run [--exit-when-caught-up] [--target-log FILE] [--accept-gap TARGET]...",
     "stream changes to every mapped target until SIGINT/SIGTERM", cmd_run},
    {"plan", "plan [--write-migrations DIR]",
     "validate config and mappings against Postgres and Cloudflare limits; print the D1 DDL",
     cmd_plan},
    {"migrate", "migrate [--then-stream] [--chunk-rows N] [--import-rows N] [--write-migrations DIR]",
     "one-shot schema + consistent data copy into D1, verified; optionally continue as run",
     cmd_migrate},
    {"snapshot",
     "snapshot [--table SCHEMA.T]... [--bucket NAME] [--jobs N] [--level N] [--part-size B] [--range-size B]"
     " [--id ID] [--no-slot]",
     "export tables to R2 (or the local directory) as NDJSON.zst + manifest", cmd_snapshot},
    {"warm", "warm [--mapping NAME]... [--restart] [--from-snapshot ID [--bucket NAME]]",
     "fill KV for the mapped keys from Postgres (or --from-snapshot ID)", cmd_warm},
    {"status", "status [--json]",
     "slot, lag in bytes and seconds, wal_status, per-target checkpoints", cmd_status},
    {"doctor", "doctor [--json]",
     "check the source and every target's credentials; print a fix for each problem", cmd_doctor},
    {"slot", "slot create|drop [--force] [--publication]|info [--json]", "manage the replication slot (and the publication)",
     cmd_slot},
    {"decode", "decode FILE", "print a captured pgoutput stream as NDJSON, one object per message",
     cmd_decode},
    {"config", "config", "print the resolved configuration with secrets redacted", cmd_config},
    {"version", "version", "print the version", cmd_version},
    {"help", "help [COMMAND]", "show this help, or a command's usage", cmd_help},
    {NULL, NULL, NULL, NULL},
};

const CliCommand *cli_commands(void) { return commands; }

static const CliCommand *find_command(const char *name)
{
    for (const CliCommand *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void print_help(FILE *out)
{
    fprintf(out,
            "wal2edge %s - stream PostgreSQL changes to Cloudflare D1, Workers KV, Queues and R2\n\n"
            "usage: wal2edge [--config FILE] [--log-level LEVEL] [--log-format FORMAT] COMMAND "
            "[options]\n\ncommands:\n",
            WAL2EDGE_VERSION);
    for (const CliCommand *c = commands; c->name; c++)
        fprintf(out, "  %-32s %s\n", c->usage, c->summary);
    fprintf(out,
            "\nglobal options:\n"
            "  --config FILE        configuration file (default ./%s)\n"
            "  --log-level LEVEL    debug, info, warn or error (default info)\n"
            "  --log-format FORMAT  text, json or auto (default auto: text on a terminal, else json)\n"
            "\nSecrets (API token, R2 keys, database password) are read from the environment\n"
            "through ${VAR} in the config file, never from the command line.\n"
            "exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error\n",
            CLI_DEFAULT_CONFIG);
}

int cmd_help(CliCtx *ctx, int argc, char **argv)
{
    (void)ctx;
    if (argc > 1) {
        const CliCommand *c = find_command(argv[1]);
        if (!c)
            return cli_usage_error("help", "unknown command \"%s\"", argv[1]);
        printf("usage: wal2edge [--config FILE] %s\n  %s\n", c->usage, c->summary);
        return 0;
    }
    print_help(stdout);
    return 0;
}

static void print_version(void)
{
    printf("wal2edge %s (commit %s)\n", WAL2EDGE_VERSION, WAL2EDGE_GIT_COMMIT);
}

int cmd_version(CliCtx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argv;
    if (argc > 1)
        return cli_usage_error("version", "unexpected argument \"%s\"", argv[1]);
    print_version();
    return 0;
}

int cli_fail(const Err *err)
{
    char *clean = log_redact(err->msg);
    fprintf(stderr, "wal2edge: %s\n", clean);
    free(clean);
    return err_exit_code(err);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "wal2edge: %s\n", msg);
    const CliCommand *c = command ? find_command(command) : NULL;
    if (c)
        fprintf(stderr, "usage: wal2edge [--config FILE] %s\n", c->usage);
    else
        fprintf(stderr, "run \"wal2edge help\" for the list of commands\n");
    return 2;
}

Config *cli_load_config(const CliCtx *ctx, Err *err)
{
    Config *cfg = config_load(ctx->config_path, envsubst_getenv, NULL, err);
    if (!cfg)
        return NULL;
    LogCtx lc = {.component = "config"};
    for (size_t i = 0; i < cfg->warning_count; i++)
        log_warn(&lc, "%s", cfg->warnings[i]);
    return cfg;
}

int cmd_config(CliCtx *ctx, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error(argv[0], "unexpected argument \"%s\"", argv[1]);
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);
    char *text = config_dump_json(cfg);
    printf("%s\n", text);
    free(text);
    config_free(cfg);
    return 0;
}

/* Value of "--opt VALUE" or "--opt=VALUE" at argv[*i]; advances *i. NULL if argv[*i] is not opt. */
static const char *option_value(int argc, char **argv, int *i, const char *opt, bool *missing)
{
    size_t n = strlen(opt);
    const char *arg = argv[*i];
    *missing = false;
    if (strncmp(arg, opt, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

int cli_main(int argc, char **argv)
{
    CliCtx ctx = {.config_path = CLI_DEFAULT_CONFIG, .config_given = false};
    LogLevel level = LOG_INFO;
    LogFormat format = LOG_FORMAT_AUTO;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        bool missing;
        const char *v;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_help(stdout);
            return 0;
        }
        if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
            print_version();
            return 0;
        }
        if ((v = option_value(argc, argv, &i, "--config", &missing)) || missing) {
            if (missing || !v[0])
                return cli_usage_error(NULL, "--config needs a file name");
            ctx.config_path = v;
            ctx.config_given = true;
        } else if ((v = option_value(argc, argv, &i, "--log-level", &missing)) || missing) {
            if (missing || !log_level_parse(v, &level))
                return cli_usage_error(NULL, "--log-level must be debug, info, warn or error");
        } else if ((v = option_value(argc, argv, &i, "--log-format", &missing)) || missing) {
            if (missing || !log_format_parse(v, &format))
                return cli_usage_error(NULL, "--log-format must be text, json or auto");
        } else {
            return cli_usage_error(NULL, "unknown option \"%s\"", arg);
        }
    }
    log_configure(level, format);
    if (i >= argc) {
        print_help(stderr);
        return 2;
    }
    const CliCommand *c = find_command(argv[i]);
    if (!c)
        return cli_usage_error(NULL, "unknown command \"%s\"", argv[i]);
    int rc = c->handler(&ctx, argc - i, argv + i);
    log_redact_clear();
    return rc;
}

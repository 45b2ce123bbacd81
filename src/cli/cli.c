/*
 * cli/cli.c - see cli.h. The command table holds each command's options
 * (cli/args): the global options are parsed up to COMMAND with the same
 * parser, the command's handler calls cli_parse first, and `help` and every
 * usage error print the usage generated from the table, so the parser and the
 * help cannot disagree.
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

/* The options of every command: cli/args parses them and prints them in the usage. */
static const CliOpt run_opts[] = {
    {"--exit-when-caught-up", NULL, false, NULL, "exit 0 once every target has caught up with the server"},
    {"--standby", NULL, false, NULL, "wait while another instance holds the slot, take over when it is free"},
    {"--target-log", "FILE", false, NULL, "also append every change to FILE as NDJSON (the change log)"},
    {"--accept-gap", "TARGET", true, NULL, "let TARGET continue past a gap in what it was sent"},
    {NULL, NULL, false, NULL, NULL},
};
static const CliOpt write_migrations_opt[] = {
    {"--write-migrations", "DIR", false, NULL, "also write the wrangler migration files into DIR"},
    {NULL, NULL, false, NULL, NULL},
};
static const CliOpt migrate_opts[] = {
    {"--then-stream", NULL, false, NULL, "create the slot for the copy's point, then continue as run"},
    {"--chunk-rows", "N", false, NULL, "rows per applied chunk (1..1000000)"},
    {"--import-rows", "N", false, NULL, "REST: tables of at least N estimated rows go through /import"},
    {"--write-migrations", "DIR", false, NULL, "also write the wrangler migration files into DIR"},
    {"--no-progress", NULL, false, NULL, "no progress line on the terminal"},
    {NULL, NULL, false, NULL, NULL},
};
static const CliOpt snapshot_opts[] = {
    {"--table", "SCHEMA.T", true, NULL, "export this table (default: every mapped table)"},
    {"--bucket", "NAME", false, NULL, "the r2 target to write to"},
    {"--jobs", "N", false, NULL, "tables exported at once"},
    {"--level", "N", false, NULL, "zstd level 1..19"},
    {"--part-size", "B", false, NULL, "bytes of NDJSON per part (suffixes K, M, G)"},
    {"--chunk-size", "B", false, NULL, "bytes per multipart upload part (at least 5M)"},
    {"--range-size", "B", false, NULL, "bytes per ranged read (suffixes K, M, G)"},
    {"--id", "ID", false, NULL, "the snapshot's id (1..60 letters, digits, '-', '_' or '.')"},
    {"--no-slot", NULL, false, NULL, "do not create the slot at the snapshot's point"},
    {"--no-progress", NULL, false, NULL, "no progress line on the terminal"},
    {NULL, NULL, false, NULL, NULL},
};
static const CliOpt warm_opts[] = {
    {"--mapping", "NAME", true, NULL, "warm only this mapping (its source table)"},
    {"--restart", NULL, false, NULL, "start over instead of resuming an interrupted warm"},
    {"--from-snapshot", "ID", false, NULL, "read the rows from snapshot ID instead of Postgres"},
    {"--bucket", "NAME", false, NULL, "with --from-snapshot: the r2 target holding it"},
    {NULL, NULL, false, NULL, NULL},
};
static const CliOpt json_opt[] = {
    {"--json", NULL, false, NULL, "print JSON"},
    {NULL, NULL, false, NULL, NULL},
};
static const CliOpt slot_opts[] = {
    {"--force", NULL, false, "drop", "drop even while targets hold checkpoints on the slot"},
    {"--publication", NULL, false, "drop", "drop the publication too"},
    {"--json", NULL, false, "info", "print JSON"},
    {NULL, NULL, false, NULL, NULL},
};

static const CliOpt resync_opts[] = {
    {"--target", "NAME", true, NULL, "only this target (d1.NAME, kv.NAME, queues.NAME; default: all of the table's)"},
    {"--chunk-rows", "N", false, NULL, "rows per chunk (1..100000, default 1000)"},
    {"--restart", NULL, false, NULL, "start over instead of resuming an interrupted resync"},
    {"--no-progress", NULL, false, NULL, "no progress line on the terminal"},
    {NULL, NULL, false, NULL, NULL},
};

static const CliCommand commands[] = {
    {"run", {NULL, 0, 0, run_opts}, "stream changes to every mapped target until SIGINT/SIGTERM", cmd_run},
    {"plan", {NULL, 0, 0, write_migrations_opt},
     "validate config and mappings against Postgres and Cloudflare limits; print the D1 DDL", cmd_plan},
    {"migrate", {NULL, 0, 0, migrate_opts},
     "one-shot schema + consistent data copy into D1, verified; optionally continue as run", cmd_migrate},
    {"snapshot", {NULL, 0, 0, snapshot_opts},
     "export tables to R2 (or the local directory) as NDJSON.zst + manifest", cmd_snapshot},
    {"warm", {NULL, 0, 0, warm_opts}, "fill KV for the mapped keys from Postgres (or --from-snapshot ID)",
     cmd_warm},
    {"status", {NULL, 0, 0, json_opt}, "slot, lag in bytes and seconds, wal_status, per-target checkpoints",
     cmd_status},
    {"doctor", {NULL, 0, 0, json_opt},
     "check the source and every target's credentials; print a fix for each problem", cmd_doctor},
    {"resync", {"TABLE", 1, 1, resync_opts},
     "online re-copy of one table into its D1 and KV targets (read events to its queues) while run streams",
     cmd_resync},
    {"setup", {NULL, 0, 0, NULL},
     "make the source ready: the publication and the DDL capture trigger (idempotent)", cmd_setup},
    {"slot", {"create|drop|info", 1, 1, slot_opts}, "manage the replication slot (and the publication)",
     cmd_slot},
    {"decode", {"FILE", 1, 1, NULL}, "print a captured pgoutput stream as NDJSON, one object per message",
     cmd_decode},
    {"config", {NULL, 0, 0, NULL}, "print the resolved configuration with secrets redacted", cmd_config},
    {"version", {NULL, 0, 0, NULL}, "print the version", cmd_version},
    {"help", {"COMMAND", 0, 1, NULL}, "show this help, or a command's usage", cmd_help},
    {NULL, {NULL, 0, 0, NULL}, NULL, NULL},
};

/* The options before COMMAND. */
static const CliOpt global_opts[] = {
    {"--config", "FILE", false, NULL, "configuration file (default ./" CLI_DEFAULT_CONFIG ")"},
    {"--log-level", "LEVEL", false, NULL, "debug, info, warn or error (default info)"},
    {"--log-format", "FORMAT", false, NULL, "text, json or auto (default auto: text on a terminal, else json)"},
    {"--help", NULL, false, NULL, "this help (also -h)"},
    {"-h", NULL, false, NULL, NULL},
    {"--version", NULL, false, NULL, "the version (also -V)"},
    {"-V", NULL, false, NULL, NULL},
    {NULL, NULL, false, NULL, NULL},
};
static const CliSpec global_spec = {"COMMAND", 0, 0, global_opts};

const CliCommand *cli_commands(void) { return commands; }

static const CliCommand *find_command(const char *name)
{
    for (const CliCommand *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* The command's usage line (owned), from its table. */
static char *usage_of(const CliCommand *c)
{
    Buf b;
    Err e;
    buf_init(&b, 4096);
    if (!cli_args_usage(c->name, &c->spec, &b, &e))
        buf_reset(&b);
    return buf_take(&b);
}

/* Help lines of a table without its hidden aliases (options with no help). */
static void print_options(FILE *out, const CliSpec *spec)
{
    Buf b;
    Err e;
    buf_init(&b, 16384);
    if (cli_args_help(spec, &b, &e) && b.len)
        fputs(b.data, out);
    buf_free(&b);
}

static void print_help(FILE *out)
{
    fprintf(out,
            "wal2edge %s - stream PostgreSQL changes to Cloudflare D1, Workers KV, Queues and R2\n\n"
            "usage: wal2edge [--config FILE] [--log-level LEVEL] [--log-format FORMAT] COMMAND "
            "[options]\n\ncommands:\n",
            WAL2EDGE_VERSION);
    for (const CliCommand *c = commands; c->name; c++) {
        char *usage = usage_of(c);
        if (strlen(usage) <= 32)
            fprintf(out, "  %-32s %s\n", usage, c->summary);
        else /* a long usage gets a line of its own */
            fprintf(out, "  %s\n  %-32s %s\n", usage, "", c->summary);
        free(usage);
    }
    fprintf(out, "\nglobal options:\n");
    print_options(out, &global_spec);
    fprintf(out, "\nSecrets (API token, R2 keys, database password) are read from the environment\n"
                 "through ${VAR} in the config file, never from the command line.\n"
                 "exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error\n");
}

int cmd_help(CliCtx *ctx, int argc, char **argv)
{
    (void)ctx;
    CliArgs a;
    int rc = cli_parse(argc, argv, &a);
    if (rc)
        return rc;
    if (a.operand_count > 0) {
        const CliCommand *c = find_command(a.operands[0]);
        if (!c)
            return cli_usage_error("help", "unknown command \"%s\"", a.operands[0]);
        char *usage = usage_of(c);
        printf("usage: wal2edge [--config FILE] %s\n  %s\n", usage, c->summary);
        free(usage);
        print_options(stdout, &c->spec);
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
    CliArgs a;
    int rc = cli_parse(argc, argv, &a);
    if (rc)
        return rc;
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
    if (c) {
        char *usage = usage_of(c);
        fprintf(stderr, "usage: wal2edge [--config FILE] %s\n", usage);
        free(usage);
    } else
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

int cli_parse(int argc, char **argv, CliArgs *a)
{
    const CliCommand *c = find_command(argv[0]);
    char msg[256];
    if (!c) { /* a handler not in the table: a programming error */
        fprintf(stderr, "wal2edge: internal error: no command \"%s\" in the table\n", argv[0]);
        abort();
    }
    if (!cli_args_parse(&c->spec, argc, argv, false, a, NULL, msg, sizeof msg))
        return cli_usage_error(c->name, "%s", msg);
    return 0;
}

int cmd_config(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int rc = cli_parse(argc, argv, &a);
    if (rc)
        return rc;
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

int cli_main(int argc, char **argv)
{
    CliCtx ctx = {.config_path = CLI_DEFAULT_CONFIG, .config_given = false};
    LogLevel level = LOG_INFO;
    LogFormat format = LOG_FORMAT_AUTO;
    CliArgs g;
    int i = 1;
    char msg[256];
    if (!cli_args_parse(&global_spec, argc, argv, true, &g, &i, msg, sizeof msg))
        return cli_usage_error(NULL, "%s", msg);
    if (cli_args_flag(&g, "--help") || cli_args_flag(&g, "-h")) {
        print_help(stdout);
        return 0;
    }
    if (cli_args_flag(&g, "--version") || cli_args_flag(&g, "-V")) {
        print_version();
        return 0;
    }
    const char *v;
    if ((v = cli_args_value(&g, "--config"))) {
        ctx.config_path = v;
        ctx.config_given = true;
    }
    if ((v = cli_args_value(&g, "--log-level")) && !log_level_parse(v, &level))
        return cli_usage_error(NULL, "--log-level must be debug, info, warn or error");
    if ((v = cli_args_value(&g, "--log-format")) && !log_format_parse(v, &format))
        return cli_usage_error(NULL, "--log-format must be text, json or auto");
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

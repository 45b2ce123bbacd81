/*
 * cli/cli.h - the command table, global options and shared helpers for commands.
 *
 * Owns:     the command table (each command's operands and options, cli/args
 *           parses them), the global options, dispatch, `help` text and usage
 *           lines (generated from the tables), loading the config for a
 *           command, and turning an Err into a one-line message + exit code.
 * Not mine: what each command does (cli/cmd_*.c).
 */
#ifndef WAL2EDGE_CLI_CLI_H
#define WAL2EDGE_CLI_CLI_H

#include <stdbool.h>

#include "cli/args.h"
#include "config/config.h"
#include "core/err.h"

#define CLI_DEFAULT_CONFIG "wal2edge.jsonc"

typedef struct CliCtx {
    const char *config_path;   /* --config FILE, or CLI_DEFAULT_CONFIG */
    bool config_given;         /* whether --config was on the command line */
} CliCtx;

typedef int (*CliHandler)(CliCtx *ctx, int argc, char **argv);

typedef struct CliCommand {
    const char *name;
    CliSpec spec;              /* its operands and options: parsing and the usage text */
    const char *summary;       /* one line for `help` */
    CliHandler handler;
} CliCommand;

/* Entry point used by main(): parses global options and runs the command. */
int cli_main(int argc, char **argv);

/* The command table, NULL-name terminated. */
const CliCommand *cli_commands(void);

/*
 * Check a command's argv (argv[0] its name) against its table into *a: 0, or
 * the usage error printed (with the command's usage) and 2 to return.
 */
int cli_parse(int argc, char **argv, CliArgs *a) WARN_UNUSED;

/* Load and validate the configuration named by ctx; on failure *err says why. */
Config *cli_load_config(const CliCtx *ctx, Err *err);

/* Print "wal2edge: <message>" (redacted) on stderr; return the exit code for err. */
int cli_fail(const Err *err);

/* Usage error for a command: prints the message and the command's usage; returns 2. */
int cli_usage_error(const char *command, const char *fmt, ...) ATTR_PRINTF(2, 3);

#endif

/*
 * cli/args.h - the one option parser of the command line, driven by tables.
 *
 * Owns:     CliOpt (an option: its name, its value's name, whether it repeats,
 *           which action it belongs to, one line of help), checking a command's
 *           arguments against its table, reading the values back, and the
 *           usage text generated from the same table.
 * Not mine: the tables themselves and dispatch (cli/cli), what a value means
 *           (each command checks its own values: ranges, ids, names).
 * Pure:     yes: no I/O; errors are returned as text for cli/cli to print.
 * Trust:    argv is untrusted: every option must be in the table, a value
 *           option needs a non-empty value, a flag takes none.
 *
 * Accepted forms: "--name VALUE", "--name=VALUE", "--flag"; operands (words not
 * starting with '-', or "-" alone) anywhere among the options, and every word
 * after "--". An option with
 * `only` set is known only when the first operand is that action (slot's
 * "drop --force", the action first); any other option is "unknown option".
 * Values are borrowed from argv.
 */
#ifndef WAL2EDGE_CLI_ARGS_H
#define WAL2EDGE_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct CliOpt {
    const char *name;          /* "--jobs"; NULL ends a table */
    const char *arg;           /* the value's name in the usage ("N"); NULL: a flag */
    bool repeat;               /* may be given more than once ("..." in the usage) */
    const char *only;          /* known only with this action (first operand); NULL: always */
    const char *help;          /* one line for `help COMMAND`; NULL: an alias left out of usage and help */
} CliOpt;

typedef struct CliSpec {
    const char *operands;      /* the usage of the operands ("FILE", "create|drop|info"); NULL: none */
    int min_operands, max_operands;
    const CliOpt *opts;        /* NULL-name terminated; NULL: no option */
} CliSpec;

#define CLI_MAX_OPERANDS 4

typedef struct CliArgs {
    const CliSpec *spec;
    int argc;                  /* the command's argv (argv[0] is its name) */
    char **argv;
    const char *operands[CLI_MAX_OPERANDS];
    int operand_count;
} CliArgs;

/*
 * Check argv[1..argc) against spec and fill *out. On a usage error returns
 * false with msg (size bytes) saying what is wrong ("unknown option \"--x\"",
 * "--jobs needs a value", "unexpected argument \"y\"", "missing FILE").
 * With stop_at_operand, parsing ends at the first operand, whose index is then
 * *next (the global options before COMMAND); otherwise *next may be NULL.
 */
bool cli_args_parse(const CliSpec *spec, int argc, char **argv, bool stop_at_operand, CliArgs *out, int *next,
                    char *msg, size_t size);

/* Whether flag `name` was given. `name` must be in the table (abort otherwise: a programming error). */
bool cli_args_flag(const CliArgs *a, const char *name);
/* The last value of option `name`, or NULL when it was not given. */
const char *cli_args_value(const CliArgs *a, const char *name);
/* How many times option `name` was given, and its k-th value (0-based, in order). */
size_t cli_args_count(const CliArgs *a, const char *name);
const char *cli_args_nth(const CliArgs *a, const char *name, size_t k);

/* "NAME OPERANDS [--opt ARG]... [--flag]" appended to b. */
bool cli_args_usage(const char *name, const CliSpec *spec, Buf *b, Err *err) WARN_UNUSED;
/* One "  --opt ARG   help" line per option (aligned), appended to b. */
bool cli_args_help(const CliSpec *spec, Buf *b, Err *err) WARN_UNUSED;

#endif

/*
 * cli/commands.h - one handler per `wal2edge COMMAND`.
 *
 * Owns:     the handler signatures; each handler lives in cli/cmd_<name>.c.
 * Contract: argv[0] is the command name, argv[1..] its own options. The
 *           handler returns the process exit code (0 ok, 1 runtime failure,
 *           2 usage/config error) and has already printed any error through
 *           cli_fail()/log, one line on stderr.
 */
#ifndef WAL2EDGE_CLI_COMMANDS_H
#define WAL2EDGE_CLI_COMMANDS_H

#include "cli/cli.h"
#include "pg/conn.h"

int cmd_help(CliCtx *ctx, int argc, char **argv);
int cmd_version(CliCtx *ctx, int argc, char **argv);
int cmd_config(CliCtx *ctx, int argc, char **argv);
int cmd_doctor(CliCtx *ctx, int argc, char **argv);
int cmd_decode(CliCtx *ctx, int argc, char **argv);
int cmd_run(CliCtx *ctx, int argc, char **argv);
int cmd_plan(CliCtx *ctx, int argc, char **argv);
int cmd_warm(CliCtx *ctx, int argc, char **argv);
int cmd_snapshot(CliCtx *ctx, int argc, char **argv);
int cmd_migrate(CliCtx *ctx, int argc, char **argv);
int cmd_slot(CliCtx *ctx, int argc, char **argv);
int cmd_status(CliCtx *ctx, int argc, char **argv);
int cmd_setup(CliCtx *ctx, int argc, char **argv);
int cmd_resync(CliCtx *ctx, int argc, char **argv);

/*
 * What `setup` does, shared with `slot create` (cli/cmd_setup.c): wal_level
 * checked, the publication created when missing, the DDL capture trigger
 * installed (a refused privilege is said, not fatal). 0 or the exit code.
 */
int cli_setup_source(const Config *cfg, PgConn *conn, PgServerFacts *facts);

#endif

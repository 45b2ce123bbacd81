/*
 * cli/cmd_setup.c - `wal2edge setup`: make the source ready, idempotently -
 * wal_level checked, the publication created when missing (the mapped tables,
 * or every table when nothing is mapped), the DDL capture trigger installed or
 * replaced. A role that may not create event triggers is told what it needs and
 * setup goes on without it. `slot create` does the same before making the slot.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "mapping/mapping.h"
#include "pg/conn.h"
#include "pg/ddlcapture.h"
#include "pg/source.h"

/* The publication, unless it exists. 0, or the exit code after cli_fail. */
static int ensure_publication(const Config *cfg, PgConn *conn, const PgServerFacts *facts)
{
    if (facts->publication_exists) {
        printf("publication \"%s\" exists (%d table%s)\n", cfg->source.publication, facts->publication_table_count,
               facts->publication_table_count == 1 ? "" : "s");
        return 0;
    }
    Err err;
    MappingSet *maps = cfg->mapping_file_count ? mapping_set_load(cfg, &err) : mapping_set_new();
    if (!maps)
        return cli_fail(&err);
    size_t count = maps->count;
    const char **tables = calloc(count ? count : 1, sizeof *tables);
    for (size_t i = 0; i < count; i++)
        tables[i] = maps->items[i].source;
    bool ok = source_ensure_publication(conn, facts, cfg->source.publication, tables, count, NULL, &err);
    if (ok)
        printf("created publication \"%s\" for %s\n", cfg->source.publication,
               count ? "the mapped tables" : "all tables");
    free(tables);
    mapping_set_free(maps);
    return ok ? 0 : cli_fail(&err);
}

/* The trigger, installed or replaced; a refusal is said and passed over. 0 or the exit code. */
static int ensure_ddl_capture(PgConn *conn)
{
    Err err;
    bool installed = false;
    char why[ERR_MSG_MAX];
    if (!ddlcapture_install(conn, &installed, why, sizeof why, &err))
        return cli_fail(&err);
    if (installed)
        printf("DDL capture trigger installed (version %d): schema changes follow in WAL order\n",
               DDLCAPTURE_VERSION);
    else
        fprintf(stderr, "wal2edge: DDL capture trigger not installed: %s\n", why);
    return 0;
}

int cli_setup_source(const Config *cfg, PgConn *conn, PgServerFacts *facts)
{
    Err err;
    if (!source_check_wal_level(facts, &err))
        return cli_fail(&err);
    int rc = ensure_publication(cfg, conn, facts);
    return rc ? rc : ensure_ddl_capture(conn);
}

int cmd_setup(CliCtx *ctx, int argc, char **argv)
{
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);
    int rc;
    PgConn *conn = pgconn_open(cfg->source.dsn, &err);
    PgServerFacts facts;
    if (!conn || !pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, &err))
        rc = cli_fail(&err);
    else
        rc = cli_setup_source(cfg, conn, &facts);
    pgconn_close(conn);
    config_free(cfg);
    return rc;
}

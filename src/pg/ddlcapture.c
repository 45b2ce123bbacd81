/*
 * pg/ddlcapture.c - the SQL of sql/ddl_capture.sql is compiled in (a generated
 * header) and run in one simple-protocol exchange; it is a single transaction,
 * so a refusal half way leaves nothing behind. A refusal with SQLSTATE 42501
 * (insufficient_privilege) is the expected case on a role that is not a
 * superuser: it is reported, not raised. The check reads pg_event_trigger and
 * the installed version function.
 */
#include "pg/ddlcapture.h"
#include "pg/conn_intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ddl_capture_sql.h" /* DDL_CAPTURE_SQL, generated from sql/ddl_capture.sql (cmake/EmbedSql.cmake) */

#define TRIGGER_COUNT 3

/* One row of one query, as long integers; false with ERR_PG naming what was read. */
static bool query_longs(PGconn *pg, const char *sql, long *out, int n, Err *err)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != n) {
        char msg[ERR_MSG_MAX - 64];
        pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
        PQclear(res);
        return err_set(err, ERR_PG, "reading the DDL capture trigger: %s", msg[0] ? msg : "unexpected result");
    }
    for (int i = 0; i < n; i++)
        out[i] = PQgetisnull(res, 0, i) ? 0 : strtol(PQgetvalue(res, 0, i), NULL, 10);
    PQclear(res);
    return true;
}

bool ddlcapture_check(PgConn *conn, DdlCaptureState *out, Err *err)
{
    long v[3];
    if (!query_longs(pgconn_raw(conn),
                     "SELECT count(*) FILTER (WHERE evtenabled <> 'D'), count(*),"
                     " (to_regprocedure('_wal2edge.ddl_capture_version()') IS NOT NULL)::int"
                     " FROM pg_event_trigger WHERE evtname LIKE 'wal2edge\\_ddl\\_%'",
                     v, 3, err))
        return false;
    long version = 0;
    /* asked only when the function exists: naming a missing one is an error */
    if (v[2] && !query_longs(pgconn_raw(conn), "SELECT _wal2edge.ddl_capture_version()", &version, 1, err))
        return false;
    out->version = (int)version;
    if (v[1] < TRIGGER_COUNT || version == 0)
        out->status = DDLCAPTURE_MISSING;
    else if (version != DDLCAPTURE_VERSION)
        out->status = DDLCAPTURE_OUTDATED;
    else if (v[0] < TRIGGER_COUNT)
        out->status = DDLCAPTURE_DISABLED;
    else
        out->status = DDLCAPTURE_INSTALLED;
    return true;
}

bool ddlcapture_install(PgConn *conn, bool *installed, char *why, size_t why_size, Err *err)
{
    PGconn *pg = pgconn_raw(conn);
    *installed = false;
    PGresult *res = PQexec(pg, DDL_CAPTURE_SQL);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        *installed = true;
        return true;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char msg[ERR_MSG_MAX - 96];
    pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
    bool refused = state && strcmp(state, "42501") == 0;
    PQclear(res);
    /* the script's BEGIN left the session in an aborted transaction */
    PQclear(PQexec(pg, "ROLLBACK"));
    if (!refused)
        return err_set(err, ERR_PG, "installing the DDL capture trigger: %s", msg);
    snprintf(why, why_size,
             "%s; event triggers need a superuser (or the provider's equivalent role, see docs/schema-changes.md): "
             "run `wal2edge setup` as one, or psql -f sql/ddl_capture.sql; until then schema changes are "
             "followed from Relation messages, and a rename stops its table",
             msg);
    return true;
}

const char *ddlcapture_fix(DdlCaptureStatus status)
{
    switch (status) {
    case DDLCAPTURE_MISSING:
        return "run `wal2edge setup` as a superuser (or psql -f sql/ddl_capture.sql); see docs/schema-changes.md";
    case DDLCAPTURE_OUTDATED:
        return "run `wal2edge setup` as a superuser to replace it with this version";
    case DDLCAPTURE_DISABLED:
        return "run `wal2edge setup` as a superuser (it enables the triggers again), or ALTER EVENT TRIGGER ... "
               "ENABLE";
    case DDLCAPTURE_INSTALLED:
        break;
    }
    return NULL;
}

/*
 * pg/sharedckpt.c - see sharedckpt.h. LSNs travel as text in Postgres's X/X form and are
 * stored as pg_lsn, so the forward-only rule is one comparison in the upsert's WHERE.
 */
#include "pg/sharedckpt.h"

#include <stdio.h>
#include <string.h>

#include "pg/conn_intern.h"

static bool pg_fail(PGresult *res, const char *what, Err *err)
{
    char msg[ERR_MSG_MAX - 96];
    pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
    PQclear(res);
    return err_set(err, ERR_PG, "%s " SHAREDCKPT_TABLE ": %s", what, msg);
}

bool sharedckpt_ensure(PgConn *conn, Err *err)
{
    PGresult *res = PQexec(pgconn_raw(conn),
                           "CREATE UNLOGGED TABLE IF NOT EXISTS " SHAREDCKPT_TABLE
                           " (slot text NOT NULL, target text NOT NULL, commit_lsn pg_lsn NOT NULL,"
                           "  end_lsn pg_lsn NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
                           "  PRIMARY KEY (slot, target))");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(res, "creating", err);
        err_prefix(err, "the standby group's shared checkpoints need CREATE on schema public");
        return false;
    }
    PQclear(res);
    return true;
}

bool sharedckpt_save(PgConn *conn, const char *slot, const char *target, const TargetCheckpoint *cp, Err *err)
{
    char commit[LSN_STR_MAX], end[LSN_STR_MAX];
    const char *params[] = {slot, target, lsn_format(cp->commit_lsn, commit), lsn_format(cp->end_lsn, end)};
    PGresult *res = PQexecParams(pgconn_raw(conn),
                                 "INSERT INTO " SHAREDCKPT_TABLE " AS c (slot, target, commit_lsn, end_lsn)"
                                 " VALUES ($1, $2, $3, $4) ON CONFLICT (slot, target) DO UPDATE"
                                 " SET commit_lsn = excluded.commit_lsn, end_lsn = excluded.end_lsn, updated_at = now()"
                                 " WHERE excluded.commit_lsn > c.commit_lsn",
                                 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_fail(res, "writing", err);
    PQclear(res);
    return true;
}

bool sharedckpt_load(PgConn *conn, const char *slot, const char *target, TargetCheckpoint *cp, bool *found,
                     Err *err)
{
    *found = false;
    const char *params[] = {slot, target};
    PGresult *res = PQexecParams(pgconn_raw(conn),
                                 "SELECT commit_lsn::text, end_lsn::text FROM " SHAREDCKPT_TABLE
                                 " WHERE slot = $1 AND target = $2",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* a table not created yet is no checkpoint (42P01 undefined_table) */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42P01") == 0) {
            PQclear(res);
            return true;
        }
        return pg_fail(res, "reading", err);
    }
    bool ok = true;
    if (PQntuples(res) == 1) {
        ok = lsn_parse(PQgetvalue(res, 0, 0), &cp->commit_lsn, err) && lsn_parse(PQgetvalue(res, 0, 1), &cp->end_lsn, err);
        *found = ok;
    }
    PQclear(res);
    return ok;
}

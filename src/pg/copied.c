/*
 * pg/copied.c - see copied.h. Each call is one statement (the beginning one
 * transaction), so two instances racing at a takeover write the same rows and
 * ON CONFLICT DO NOTHING keeps the first.
 */
#include "pg/copied.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "pg/conn_intern.h"

static bool pg_fail(PGresult *res, const char *what, Err *err)
{
    char msg[ERR_MSG_MAX - 96];
    pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
    PQclear(res);
    return err_set(err, ERR_PG, "%s " COPIED_TABLE ": %s", what, msg);
}

static bool command(PgConn *conn, const char *sql, int nparams, const char *const *params, const char *what,
                    Err *err)
{
    PGresult *res = PQexecParams(pgconn_raw(conn), sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_fail(res, what, err);
    PQclear(res);
    return true;
}

bool copied_ensure(PgConn *conn, Err *err)
{
    if (command(conn,
                "CREATE TABLE IF NOT EXISTS " COPIED_TABLE " (slot text NOT NULL, target text NOT NULL,"
                "  source_table text NOT NULL, copied_at timestamptz NOT NULL DEFAULT now(),"
                "  PRIMARY KEY (slot, target, source_table))",
                0, NULL, "creating", err))
        return true;
    err_prefix(err, "the record of the tables copied into each target needs CREATE on schema public");
    return false;
}

bool copied_load(PgConn *conn, const char *slot, CopiedPair **pairs, size_t *count, bool *begun, Err *err)
{
    *pairs = NULL;
    *count = 0;
    *begun = false;
    const char *params[] = {slot};
    PGresult *res = PQexecParams(pgconn_raw(conn),
                                 "SELECT target, source_table FROM " COPIED_TABLE " WHERE slot = $1", 1, NULL, params,
                                 NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(res, "reading", err);
    int n = PQntuples(res);
    *pairs = xcalloc((size_t)n + 1, sizeof **pairs);
    for (int i = 0; i < n; i++) {
        const char *target = PQgetvalue(res, i, 0), *table = PQgetvalue(res, i, 1);
        if (!target[0] && !table[0]) {
            *begun = true;
            continue;
        }
        (*pairs)[*count].target = xstrdup(target);
        (*pairs)[*count].table = xstrdup(table);
        (*count)++;
    }
    PQclear(res);
    return true;
}

static const char insert_sql[] = "INSERT INTO " COPIED_TABLE " (slot, target, source_table) VALUES ($1, $2, $3)"
                                 " ON CONFLICT DO NOTHING";

bool copied_begin(PgConn *conn, const char *slot, const CopiedPair *pairs, size_t count, Err *err)
{
    const char *marker[] = {slot, "", ""};
    bool ok = command(conn, "BEGIN", 0, NULL, "writing", err);
    for (size_t i = 0; ok && i < count; i++) {
        const char *params[] = {slot, pairs[i].target, pairs[i].table};
        ok = command(conn, insert_sql, 3, params, "writing", err);
    }
    ok = ok && command(conn, insert_sql, 3, marker, "writing", err) && command(conn, "COMMIT", 0, NULL, "writing", err);
    if (!ok) {
        PGresult *res = PQexec(pgconn_raw(conn), "ROLLBACK");
        PQclear(res);
    }
    return ok;
}

bool copied_save(PgConn *conn, const char *slot, const char *target, const char *table, Err *err)
{
    const char *params[] = {slot, target, table};
    return command(conn, insert_sql, 3, params, "writing", err);
}

bool copied_has(const CopiedPair *pairs, size_t n, const char *target, const char *table)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(pairs[i].target, target) == 0 && strcmp(pairs[i].table, table) == 0)
            return true;
    return false;
}

void copied_pairs_free(CopiedPair *pairs, size_t count)
{
    for (size_t i = 0; pairs && i < count; i++) {
        free(pairs[i].target);
        free(pairs[i].table);
    }
    free(pairs);
}

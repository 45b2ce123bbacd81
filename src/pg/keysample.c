/*
 * pg/keysample.c - see keysample.h. One statement reads the size and row
 * estimate from the catalog; a second groups a TABLESAMPLE SYSTEM sample (whole
 * pages, so it is cheap on a large table) by the columns' text. A table never
 * analyzed is read whole.
 */
#include "pg/keysample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "pg/conn_intern.h"

static bool failed(PGresult *res, const char *what, Err *err)
{
    char msg[ERR_MSG_MAX - 128];
    pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
    PQclear(res);
    return err_set(err, ERR_PG, "sampling %s: %s", what, msg);
}

static bool append_ident(PGconn *pg, Buf *b, const char *name, Err *err)
{
    char *q = PQescapeIdentifier(pg, name, strlen(name));
    if (!q)
        return err_set(err, ERR_PG, "cannot quote identifier \"%s\"", name);
    bool ok = buf_append_str(b, q, err);
    PQfreemem(q);
    return ok;
}

bool pg_key_sample(PgConn *conn, const char *schema, const char *table, const char *const *cols, size_t ncols,
                   int64_t max_rows, PgKeySample *out, int64_t *null_rows, PgKeyGroupFn fn, void *user, Err *err)
{
    PGconn *pg = pgconn_raw(conn);
    memset(out, 0, sizeof *out);
    *null_rows = 0;
    Buf rel;
    buf_init(&rel, 1024);
    bool ok = append_ident(pg, &rel, schema, err) && buf_append_str(&rel, ".", err) &&
              append_ident(pg, &rel, table, err);
    if (!ok) {
        buf_free(&rel);
        return false;
    }
    const char *params[] = {rel.data};
    PGresult *res = PQexecParams(pg,
                                 "SELECT pg_total_relation_size(c.oid), c.reltuples::float8 FROM pg_class c "
                                 "WHERE c.oid = $1::regclass",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        buf_free(&rel);
        return failed(res, table, err);
    }
    out->total_bytes = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    out->est_rows = strtod(PQgetvalue(res, 0, 1), NULL);
    PQclear(res);
    out->percent = out->est_rows > (double)max_rows ? 100.0 * (double)max_rows / out->est_rows : 100.0;
    Buf q;
    buf_init(&q, 8192);
    ok = buf_append_str(&q, "SELECT count(*)", err);
    for (size_t i = 0; ok && i < ncols; i++)
        ok = buf_append_str(&q, ", ", err) && append_ident(pg, &q, cols[i], err) && buf_append_str(&q, "::text", err);
    ok = ok && buf_printf(&q, err, " FROM %s TABLESAMPLE SYSTEM (%.6f) GROUP BY ", rel.data, out->percent);
    for (size_t i = 0; ok && i < ncols; i++)
        ok = buf_printf(&q, err, "%s%zu", i ? ", " : "", i + 2);
    buf_free(&rel);
    if (!ok) {
        buf_free(&q);
        return false;
    }
    res = PQexecParams(pg, q.data, 0, NULL, NULL, NULL, NULL, 0);
    buf_free(&q);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return failed(res, table, err);
    const char **vals = xcalloc(ncols + 1, sizeof *vals);
    size_t *lens = xcalloc(ncols + 1, sizeof *lens);
    for (int r = 0; ok && r < PQntuples(res); r++) {
        int64_t rows = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        out->sampled_rows += rows;
        bool has_null = false;
        for (size_t i = 0; i < ncols; i++) {
            has_null = has_null || PQgetisnull(res, r, (int)i + 1);
            vals[i] = PQgetvalue(res, r, (int)i + 1);
            lens[i] = (size_t)PQgetlength(res, r, (int)i + 1);
        }
        if (has_null)
            *null_rows += rows;
        else
            ok = fn(user, vals, lens, ncols, rows, err);
    }
    free(vals);
    free(lens);
    PQclear(res);
    return ok;
}

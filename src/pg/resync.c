/*
 * pg/resync.c - see resync.h. The chunk statement is built with libpq's
 * identifier quoting and run with the after-key and the limit as parameters;
 * its CTE reads the chunk once, and the message is built by json_build_object
 * on the server, so the rows never make a round trip through wal2edge.
 */
#include "pg/resync.h"
#include "pg/conn_intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/mem.h"

struct PgResync {
    PGconn *pg;
};

PgResync *pgresync_open(const Secret *dsn, Err *err)
{
    PGconn *pg = pg_connect_pinned(dsn, "wal2edge resync", false, err);
    if (!pg)
        return NULL;
    PgResync *r = xcalloc(1, sizeof *r);
    r->pg = pg;
    return r;
}

void pgresync_close(PgResync *r)
{
    if (!r)
        return;
    PQfinish(r->pg);
    free(r);
}

static bool fail_with(PGresult *res, const char *what, Err *err)
{
    char msg[ERR_MSG_MAX - 64];
    pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
    PQclear(res);
    return err_set(err, ERR_PG, "%s: %s", what, msg);
}

bool pgresync_low(PgResync *r, const char *content, Err *err)
{
    const char *params[] = {content};
    PGresult *res = PQexecParams(r->pg, "SELECT pg_logical_emit_message(true, '" PGRESYNC_PREFIX "', $1)::text", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail_with(res, "emitting the low watermark", err);
    PQclear(res);
    return true;
}

static bool append_ident(PGconn *pg, Buf *b, const char *name, Err *err)
{
    char *q = PQescapeIdentifier(pg, name, strlen(name));
    bool ok = q && buf_append_str(b, q, err);
    PQfreemem(q);
    return ok || err_set(err, ERR_PG, "cannot quote the name \"%s\"", name);
}

bool pgresync_chunk(PgResync *r, const PgResyncChunk *c, char **last_key, long *rows, long *bytes, Err *err)
{
    *last_key = NULL;
    Buf sql, cols;
    buf_init(&sql, 1 << 20);
    buf_init(&cols, 1 << 20);
    bool ok = buf_append_str(&sql, "WITH c AS (SELECT * FROM ", err) && append_ident(r->pg, &sql, c->schema, err) &&
              buf_append_str(&sql, ".", err) && append_ident(r->pg, &sql, c->table, err) &&
              buf_append_str(&sql, " WHERE $1::text IS NULL OR ", err) && append_ident(r->pg, &sql, c->key, err) &&
              buf_append_str(&sql, " > $2 ORDER BY ", err) && append_ident(r->pg, &sql, c->key, err) &&
              buf_append_str(&sql, " LIMIT $3), m AS (SELECT (($4::jsonb) || jsonb_build_object('from', $1::text, "
                                   "'to', (SELECT max(", err) &&
              append_ident(r->pg, &sql, c->key, err) &&
              buf_append_str(&sql, ")::text FROM c), 'last', (SELECT count(*) FROM c) < $3, 'columns', $5::jsonb, "
                                   "'rows', COALESCE((SELECT jsonb_agg(jsonb_build_array(", err);
    for (size_t i = 0; ok && i < c->ncols; i++)
        ok = (i == 0 || buf_append_str(&sql, ", ", err)) && buf_append_str(&sql, "c.", err) &&
             append_ident(r->pg, &sql, c->cols[i], err) && buf_append_str(&sql, "::text", err);
    ok = ok && buf_append_str(&sql, ") ORDER BY c.", err) && append_ident(r->pg, &sql, c->key, err) &&
         buf_append_str(&sql, ") FROM c), '[]'::jsonb)))::text AS body) SELECT pg_logical_emit_message(true, '"
                              PGRESYNC_PREFIX "', m.body)::text, (SELECT max(",
                        err) &&
         append_ident(r->pg, &sql, c->key, err) &&
         buf_append_str(&sql, ")::text FROM c), (SELECT count(*) FROM c), length(m.body) FROM m", err);
    /* the column names as a JSON array */
    ok = ok && buf_append_str(&cols, "[", err);
    for (size_t i = 0; ok && i < c->ncols; i++) {
        ok = buf_append_str(&cols, i ? ",\"" : "\"", err);
        for (const char *p = c->cols[i]; ok && *p; p++)
            ok = (*p == '"' || *p == '\\') ? buf_printf(&cols, err, "\\%c", *p) : buf_append(&cols, p, 1, err);
        ok = ok && buf_append_str(&cols, "\"", err);
    }
    ok = ok && buf_append_str(&cols, "]", err);
    if (!ok) {
        buf_free(&sql);
        buf_free(&cols);
        return false;
    }
    char limit[32];
    snprintf(limit, sizeof limit, "%ld", c->limit);
    const char *params[] = {c->after, c->after, limit, c->header, cols.data};
    PGresult *res = PQexecParams(r->pg, sql.data, 5, NULL, params, NULL, NULL, 0);
    buf_free(&sql);
    buf_free(&cols);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail_with(res, "reading a chunk", err);
    *last_key = PQgetisnull(res, 0, 1) ? NULL : xstrdup(PQgetvalue(res, 0, 1));
    *rows = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    *bytes = strtol(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    return true;
}

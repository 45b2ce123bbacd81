/*
 * pg/resync.c - see resync.h. The chunk statement is built here (identifiers
 * quoted as quote_ident does) and run with the after-key (a JSON array whose
 * values are cast back to the key columns' types) and the limit as parameters;
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
#include "core/log.h"
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

/* The lock's two keys: one for every wal2edge resync, one per table (pg_locks shows them as classid, objid). */
#define LOCK_KEYS "hashtext('" PGRESYNC_PREFIX "'), hashtext($1)"

/* Who holds TABLE's lock: "backend pid N (application, client, state)", or "" when no one now. */
static void lock_holder(PgResync *r, const char *table, char *out, size_t size)
{
    const char *params[] = {table};
    PGresult *res = PQexecParams(
        r->pg,
        "SELECT l.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), coalesce(a.state, '?') "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted AND "
        "l.objsubid = 2 AND l.classid = hashtext('" PGRESYNC_PREFIX "')::oid AND l.objid = hashtext($1)::oid",
        1, NULL, params, NULL, NULL, 0);
    out[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        snprintf(out, size, "backend pid %s (\"%s\" from %s, %s)", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                 PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
    PQclear(res);
}

bool pgresync_lock(PgResync *r, const char *table, int wait_ms, Err *err)
{
    const char *params[] = {table};
    PGresult *res = PQexecParams(r->pg, "SELECT pg_try_advisory_lock(" LOCK_KEYS ")", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail_with(res, "taking the table's resync lock", err);
    bool got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (got)
        return true;
    char holder[256];
    lock_holder(r, table, holder, sizeof holder);
    log_info(NULL, "resync %s: waiting up to %d s for %s, which holds the table's resync lock in the source", table,
             wait_ms / 1000, *holder ? holder : "another connection");
    char timeout[64];
    snprintf(timeout, sizeof timeout, "SET lock_timeout = %d", wait_ms);
    res = PQexec(r->pg, timeout);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail_with(res, "setting lock_timeout", err);
    PQclear(res);
    res = PQexecParams(r->pg, "SELECT pg_advisory_lock(" LOCK_KEYS ")", 1, NULL, params, NULL, NULL, 0);
    got = PQresultStatus(res) == PGRES_TUPLES_OK;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    bool timed_out = !got && state && strcmp(state, "55P03") == 0;
    if (!got && !timed_out)
        return fail_with(res, "taking the table's resync lock", err);
    PQclear(res);
    res = PQexec(r->pg, "RESET lock_timeout");
    bool reset = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (got)
        return reset || err_set(err, ERR_PG, "resync %s: cannot reset lock_timeout", table);
    lock_holder(r, table, holder, sizeof holder);
    return err_set(err, ERR_NOT_READY,
                   "resync %s: another resync of it is running: %s holds the table's resync lock in the source (a "
                   "`wal2edge resync` or `run` on another machine, or the connection of a killed one whose last "
                   "chunk is still being read); wait for it, or end that connection with SELECT "
                   "pg_terminate_backend(PID)",
                   table, *holder ? holder : "a connection");
}

bool pgresync_low(PgResync *r, const char *content, Lsn *lsn, Err *err)
{
    const char *params[] = {content};
    PGresult *res = PQexecParams(r->pg, "SELECT pg_logical_emit_message(true, '" PGRESYNC_PREFIX "', $1)::text", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail_with(res, "emitting the low watermark", err);
    bool ok = PQntuples(res) == 1 ? lsn_parse(PQgetvalue(res, 0, 0), lsn, err)
                                   : err_set(err, ERR_PG, "emitting the low watermark: the server returned no LSN");
    PQclear(res);
    return ok;
}

/* "name" with its double quotes doubled, as quote_ident and PQescapeIdentifier write it. */
static bool ident(Buf *b, const char *name, Err *err)
{
    bool ok = buf_append_str(b, "\"", err);
    for (const char *p = name; ok && *p; p++)
        ok = buf_append(b, p, 1, err) && (*p != '"' || buf_append(b, p, 1, err));
    return ok && buf_append_str(b, "\"", err);
}

/* Key column i as it orders: "c.col" [COLLATE "C"] (prefix "" or "c."), DESC when asked. */
static bool key_expr(Buf *b, const PgResyncChunk *c, size_t i, const char *prefix, bool desc, Err *err)
{
    return buf_append_str(b, prefix, err) && ident(b, c->keys[i], err) &&
           (c->key_types[i] != RESYNC_KEY_TEXT || buf_append_str(b, " COLLATE \"C\"", err)) &&
           (!desc || buf_append_str(b, " DESC", err));
}

/* The key columns, comma separated, each as key_expr writes it. */
static bool key_list(Buf *b, const PgResyncChunk *c, const char *prefix, bool desc, Err *err)
{
    bool ok = true;
    for (size_t i = 0; ok && i < c->nkeys; i++)
        ok = (i == 0 || buf_append_str(b, ", ", err)) && key_expr(b, c, i, prefix, desc, err);
    return ok;
}

/* The after key's value i ($1, a JSON array of text) as the column's type. */
static bool after_value(Buf *b, const PgResyncChunk *c, size_t i, Err *err)
{
    static const char *const cast[] = {[RESYNC_KEY_INTEGER] = "::int8", [RESYNC_KEY_TEXT] = " COLLATE \"C\"",
                                       [RESYNC_KEY_UUID] = "::uuid"};
    return buf_printf(b, err, "($1::jsonb->>%zu)%s", i, cast[c->key_types[i]]);
}

/* jsonb_build_array(c.k1::text, ...): a key as the message carries it. */
static bool key_array(Buf *b, const PgResyncChunk *c, Err *err)
{
    bool ok = buf_append_str(b, "jsonb_build_array(", err);
    for (size_t i = 0; ok && i < c->nkeys; i++)
        ok = (i == 0 || buf_append_str(b, ", ", err)) && buf_append_str(b, "c.", err) && ident(b, c->keys[i], err) &&
             buf_append_str(b, "::text", err);
    return ok && buf_append_str(b, ")", err);
}

bool pgresync_chunk_sql(const PgResyncChunk *c, Buf *sql, Err *err)
{
    if (c->nkeys == 0 || c->nkeys > RESYNC_KEY_MAX_COLUMNS)
        return err_set(err, ERR_CHECK, "resync of %s.%s: a key of %zu columns", c->schema, c->table, c->nkeys);
    /* the chunk: WHERE (k1, k2) > (after) ORDER BY k1, k2 LIMIT n */
    bool ok = buf_append_str(sql, "WITH c AS (SELECT * FROM ", err) && ident(sql, c->schema, err) &&
              buf_append_str(sql, ".", err) && ident(sql, c->table, err) &&
              buf_append_str(sql, " WHERE $1::jsonb IS NULL OR (", err) && key_list(sql, c, "", false, err) &&
              buf_append_str(sql, ") > (", err);
    for (size_t i = 0; ok && i < c->nkeys; i++)
        ok = (i == 0 || buf_append_str(sql, ", ", err)) && after_value(sql, c, i, err);
    ok = ok && buf_append_str(sql, ") ORDER BY ", err) && key_list(sql, c, "", false, err) &&
         buf_append_str(sql, " LIMIT $2), ", err) &&
         /* its last key */
         buf_append_str(sql, "t AS (SELECT ", err) && key_array(sql, c, err) &&
         buf_append_str(sql, " AS k FROM c ORDER BY ", err) && key_list(sql, c, "c.", true, err) &&
         buf_append_str(sql, " LIMIT 1), ", err) &&
         /* the message */
         buf_append_str(sql, "m AS (SELECT (($3::jsonb) || jsonb_build_object('from', $1::jsonb, 'to', (SELECT k FROM "
                             "t), 'last', (SELECT count(*) FROM c) < $2, 'columns', $4::jsonb, 'rows', "
                             "COALESCE((SELECT jsonb_agg(jsonb_build_array(",
                        err);
    for (size_t i = 0; ok && i < c->ncols; i++)
        ok = (i == 0 || buf_append_str(sql, ", ", err)) && buf_append_str(sql, "c.", err) &&
             ident(sql, c->cols[i], err) && buf_append_str(sql, "::text", err);
    return ok && buf_append_str(sql, ") ORDER BY ", err) && key_list(sql, c, "c.", false, err) &&
           buf_append_str(sql, ") FROM c), '[]'::jsonb)))::text AS body) SELECT pg_logical_emit_message(true, '"
                               PGRESYNC_PREFIX "', m.body)::text, (SELECT k::text FROM t), (SELECT count(*) FROM c), "
                               "length(m.body) FROM m",
                          err);
}

bool pgresync_chunk(PgResync *r, const PgResyncChunk *c, char **last_key, long *rows, long *bytes, Err *err)
{
    *last_key = NULL;
    Buf sql, cols;
    buf_init(&sql, 1 << 20);
    buf_init(&cols, 1 << 20);
    bool ok = pgresync_chunk_sql(c, &sql, err);
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
    const char *params[] = {c->after, limit, c->header, cols.data};
    PGresult *res = PQexecParams(r->pg, sql.data, 4, NULL, params, NULL, NULL, 0);
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

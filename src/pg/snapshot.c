/*
 * pg/snapshot.c - see snapshot.h.
 *
 * One connection, one REPEATABLE READ READ ONLY transaction (importing the slot's
 * exported snapshot when given one), and one table open at a time, either way:
 * a cursor (DECLARE ... ORDER BY key, FETCH FORWARD in batches; a resumed read
 * starts after the last key by comparing the key tuple) whose values point into
 * the last batch until the next fetch, or COPY ... TO STDOUT of the table or of a
 * ctid block range, whose rows point into libpq's buffer until the next row.
 * Identifiers are quoted by libpq; the resume key goes as parameters.
 */
#include "pg/snapshot.h"
#include "pg/conn_intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/mem.h"

struct PgSnapshot {
    PGconn *pg;
    PGresult *batch;           /* last FETCH */
    bool cursor_open;
    char *copy_row;            /* last COPY row (libpq's) */
    bool copy_open;
};

static void pg_message(PGconn *pg, const PGresult *res, char *dst, size_t n)
{
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    if (!m || !m[0])
        m = PQerrorMessage(pg);
    pg_message_line(dst, n, m);
}

static bool fail(PgSnapshot *s, PGresult *res, const char *what, Err *err)
{
    char msg[ERR_MSG_MAX - 96];
    pg_message(s->pg, res, msg, sizeof msg);
    if (res)
        PQclear(res);
    return err_set(err, ERR_PG, "%s: %s", what, msg);
}

static bool command(PgSnapshot *s, const char *sql, const char *what, Err *err)
{
    PGresult *res = PQexec(s->pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(s, res, what, err);
    PQclear(res);
    return true;
}

PgSnapshot *pgsnap_open(const Secret *dsn, const char *snapshot_name, Err *err)
{
    PGconn *pg = pg_connect_pinned(dsn, "wal2edge warm", false, err);
    if (!pg)
        return NULL;
    PgSnapshot *s = xcalloc(1, sizeof *s);
    s->pg = pg;
    bool ok = command(s, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", "starting the snapshot transaction", err);
    if (ok && snapshot_name) {
        char *lit = PQescapeLiteral(pg, snapshot_name, strlen(snapshot_name));
        char *sql = xasprintf("SET TRANSACTION SNAPSHOT %s", lit ? lit : "''");
        PQfreemem(lit);
        ok = command(s, sql, "importing the slot's snapshot", err);
        free(sql);
    }
    if (!ok) {
        pgsnap_close(s);
        return NULL;
    }
    return s;
}

void pgsnap_close(PgSnapshot *s)
{
    if (!s)
        return;
    if (s->batch)
        PQclear(s->batch);
    PQfreemem(s->copy_row);
    PQfinish(s->pg);
    free(s);
}

static bool one_value(PgSnapshot *s, const char *sql, int nparams, const char *const *params, const char *what,
                      char *dst, size_t n, bool *is_null, Err *err)
{
    PGresult *res = PQexecParams(s->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(s, res, what, err);
    *is_null = PQntuples(res) != 1 || PQgetisnull(res, 0, 0);
    snprintf(dst, n, "%s", *is_null ? "" : PQgetvalue(res, 0, 0));
    PQclear(res);
    return true;
}

bool pgsnap_current_lsn(PgSnapshot *s, Lsn *out, Err *err)
{
    char v[64];
    bool is_null = true;
    if (!one_value(s, "SELECT pg_current_wal_lsn()::text", 0, NULL, "reading the WAL position", v, sizeof v,
                   &is_null, err))
        return false;
    Err sub;
    return (!is_null && lsn_parse(v, out, &sub)) ||
           err_set(err, ERR_PROTOCOL, "pg_current_wal_lsn: unexpected value");
}

bool pgsnap_estimate_rows(PgSnapshot *s, const char *schema, const char *name, int64_t *out, Err *err)
{
    const char *params[2] = {schema, name};
    char v[64];
    bool is_null = true;
    if (!one_value(s,
                   "SELECT c.reltuples::bigint::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
                   "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                   2, params, "estimating the table size", v, sizeof v, &is_null, err))
        return false;
    char *end = NULL;
    long long x = is_null ? -1 : strtoll(v, &end, 10);
    *out = (is_null || !end || *end) ? -1 : x;
    return true;
}

static bool append_ident(PgSnapshot *s, Buf *b, const char *name, Err *err)
{
    char *q = PQescapeIdentifier(s->pg, name, strlen(name));
    if (!q)
        return err_set(err, ERR_PG, "cannot quote identifier \"%s\"", name);
    bool ok = buf_append_str(b, q, err);
    PQfreemem(q);
    return ok;
}

/* "col, col FROM schema.name" */
static bool append_select_list(PgSnapshot *s, Buf *b, const char *schema, const char *name, const char *const *cols,
                               size_t col_count, Err *err)
{
    bool ok = true;
    for (size_t i = 0; ok && i < col_count; i++)
        ok = (i == 0 || buf_append_str(b, ", ", err)) && append_ident(s, b, cols[i], err);
    return ok && buf_append_str(b, " FROM ", err) && append_ident(s, b, schema, err) &&
           buf_append_str(b, ".", err) && append_ident(s, b, name, err);
}

bool pgsnap_table_open(PgSnapshot *s, const char *schema, const char *name, const char *const *cols,
                       size_t col_count, const char *const *key_cols, size_t key_count,
                       const char *const *after, Err *err)
{
    if (s->cursor_open)
        return err_set(err, ERR_INTERNAL, "a snapshot cursor is already open");
    Buf b;
    buf_init(&b, 1024 * 1024);
    bool ok = buf_append_str(&b, "DECLARE w2e_warm NO SCROLL CURSOR FOR SELECT ", err);
    ok = ok && append_select_list(s, &b, schema, name, cols, col_count, err);
    if (ok && after && key_count) {
        ok = buf_append_str(&b, " WHERE (", err);
        for (size_t i = 0; ok && i < key_count; i++)
            ok = (i == 0 || buf_append_str(&b, ", ", err)) && append_ident(s, &b, key_cols[i], err);
        ok = ok && buf_append_str(&b, ") > (", err);
        for (size_t i = 0; ok && i < key_count; i++)
            ok = buf_printf(&b, err, "%s$%zu", i ? ", " : "", i + 1);
        ok = ok && buf_append_str(&b, ")", err);
    }
    if (ok && key_count) {
        ok = buf_append_str(&b, " ORDER BY ", err);
        for (size_t i = 0; ok && i < key_count; i++)
            ok = (i == 0 || buf_append_str(&b, ", ", err)) && append_ident(s, &b, key_cols[i], err);
    }
    if (!ok) {
        buf_free(&b);
        return false;
    }
    int nparams = (after && key_count) ? (int)key_count : 0;
    PGresult *res = PQexecParams(s->pg, b.data, nparams, NULL, after, NULL, NULL, 0);
    buf_free(&b);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(s, res, "reading the table", err), err_prefix(err, "%s.%s", schema, name), false;
    PQclear(res);
    s->cursor_open = true;
    return true;
}

long pgsnap_fetch(PgSnapshot *s, long max, Err *err)
{
    if (s->batch) {
        PQclear(s->batch);
        s->batch = NULL;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH FORWARD %ld FROM w2e_warm", max);
    PGresult *res = PQexec(s->pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(s, res, "reading the table", err);
        return -1;
    }
    s->batch = res;
    return PQntuples(res);
}

const char *pgsnap_value(const PgSnapshot *s, long r, size_t c, size_t *len)
{
    if (PQgetisnull(s->batch, (int)r, (int)c)) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)PQgetlength(s->batch, (int)r, (int)c);
    return PQgetvalue(s->batch, (int)r, (int)c);
}

bool pgsnap_table_close(PgSnapshot *s, Err *err)
{
    if (s->batch) {
        PQclear(s->batch);
        s->batch = NULL;
    }
    if (!s->cursor_open)
        return true;
    s->cursor_open = false;
    return command(s, "CLOSE w2e_warm", "closing the table cursor", err);
}

int pgsnap_server_version(const PgSnapshot *s) { return PQserverVersion(s->pg); }

bool pgsnap_table_blocks(PgSnapshot *s, uint32_t oid, uint64_t *blocks, uint64_t *block_size, Err *err)
{
    char oid_text[16];
    snprintf(oid_text, sizeof oid_text, "%u", oid);
    const char *params[1] = {oid_text};
    PGresult *res = PQexecParams(s->pg,
                                 "SELECT pg_relation_size($1::oid::regclass)::text, "
                                 "current_setting('block_size')",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail(s, res, "reading the table's size", err);
    bool ok = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1);
    char *e1 = NULL, *e2 = NULL;
    unsigned long long bytes = ok ? strtoull(PQgetvalue(res, 0, 0), &e1, 10) : 0;
    unsigned long long bs = ok ? strtoull(PQgetvalue(res, 0, 1), &e2, 10) : 0;
    ok = ok && e1 && !*e1 && e2 && !*e2 && bs > 0;
    PQclear(res);
    if (!ok)
        return err_set(err, ERR_PROTOCOL, "pg_relation_size: unexpected value");
    *blocks = bytes / bs;
    *block_size = bs;
    return true;
}

bool pgsnap_copy_open(PgSnapshot *s, const char *schema, const char *name, const char *const *cols,
                      size_t col_count, bool ranged, uint64_t block_lo, uint64_t block_hi, Err *err)
{
    if (s->cursor_open || s->copy_open)
        return err_set(err, ERR_INTERNAL, "a snapshot cursor or COPY is already open");
    Buf b;
    buf_init(&b, 1024 * 1024);
    bool ok = buf_append_str(&b, "COPY (SELECT ", err);
    ok = ok && append_select_list(s, &b, schema, name, cols, col_count, err);
    if (ok && ranged) {
        ok = buf_printf(&b, err, " WHERE ctid >= '(%llu,0)'::tid", (unsigned long long)block_lo);
        if (ok && block_hi)
            ok = buf_printf(&b, err, " AND ctid < '(%llu,0)'::tid", (unsigned long long)block_hi);
    }
    ok = ok && buf_append_str(&b, ") TO STDOUT", err);
    if (!ok) {
        buf_free(&b);
        return false;
    }
    PGresult *res = PQexec(s->pg, b.data);
    buf_free(&b);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        return fail(s, res, "reading the table", err), err_prefix(err, "%s.%s", schema, name), false;
    PQclear(res);
    s->copy_open = true;
    return true;
}

int pgsnap_copy_next(PgSnapshot *s, char **row, size_t *len, Err *err)
{
    if (!s->copy_open) {
        err_set(err, ERR_INTERNAL, "no COPY is open");
        return -1;
    }
    PQfreemem(s->copy_row);
    s->copy_row = NULL;
    char *data = NULL;
    int n = PQgetCopyData(s->pg, &data, 0);
    if (n >= 0) {
        s->copy_row = data;
        *row = data;
        *len = (size_t)n;
        return 1;
    }
    s->copy_open = false;
    if (n == -2) {
        fail(s, NULL, "reading the table", err);
        return -1;
    }
    PGresult *res = PQgetResult(s->pg);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        fail(s, res, "reading the table", err);
        res = NULL;
    }
    PQclear(res);
    while ((res = PQgetResult(s->pg)) != NULL)
        PQclear(res);
    return ok ? 0 : -1;
}

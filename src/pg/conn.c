/*
 * pg/conn.c - see conn.h.
 *
 * Connections are opened with PQconnectdbParams and expand_dbname, so the DSN is
 * passed whole as "dbname" and only the keywords listed after it (replication,
 * client_encoding, options) override it; the DSN is never pasted into a conninfo
 * string. pg_connect_pinned appends the pinned output settings to any options
 * the DSN gave, so every value comes back in the text form pgoutput sends. Each
 * catalog question is one parameterized query whose single row is copied into
 * fixed fields; slot columns only newer servers have are read through to_jsonb
 * (NULL on older ones), so one query serves every version. libpq's multi-line
 * messages are folded onto one line for errors and logs.
 */
#include "pg/conn.h"
#include "pg/conn_intern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/mem.h"

struct PgConn {
    PGconn *pg;
};

PGconn *pgconn_raw(PgConn *conn) { return conn->pg; }

void pg_message_line(char *dst, size_t dst_size, const char *msg)
{
    /* libpq continues a message on a new line indented with a tab ("...refused\n\tIs the
     * server running..."): a run of white space with a line break or tab in it becomes one
     * space; other text is kept as it is. */
    if (dst_size == 0)
        return;
    const char *p = msg ? msg : "";
    size_t n = 0;
    while (*p && n + 1 < dst_size) {
        size_t run = strspn(p, " \t\r\n");
        if (run == 0) {
            dst[n++] = *p++;
            continue;
        }
        if (strcspn(p, "\t\r\n") < run) {
            if (n > 0)
                dst[n++] = ' ';
        } else {
            for (size_t i = 0; i < run && n + 1 < dst_size; i++)
                dst[n++] = ' ';
        }
        p += run;
    }
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

#define PINNED_OPTIONS \
    "-c DateStyle=ISO -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex"

PGconn *pg_connect_pinned(const Secret *dsn, const char *application_name, bool replication, Err *err)
{
    char *user = NULL;
    PQconninfoOption *opts = PQconninfoParse(secret_reveal(dsn), NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val && o->val[0])
            user = xstrdup(o->val);
    PQconninfoFree(opts);
    char *options = user ? xasprintf("%s %s", user, PINNED_OPTIONS) : xstrdup(PINNED_OPTIONS);
    free(user);
    /* Earlier keywords are defaults the DSN may override; the later ones are ours. */
    const char *keys[7], *values[7];
    size_t n = 0;
    keys[n] = "connect_timeout", values[n++] = "10";
    keys[n] = "application_name", values[n++] = application_name;
    keys[n] = "dbname", values[n++] = secret_reveal(dsn);
    if (replication)
        keys[n] = "replication", values[n++] = "database";
    keys[n] = "client_encoding", values[n++] = "UTF8";
    keys[n] = "options", values[n++] = options;
    keys[n] = NULL, values[n] = NULL;
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    free(options);
    const char *what = replication ? "cannot open a replication connection" : "cannot connect to the source database";
    if (!pg)
        return err_set(err, ERR_PG_CONNECT, "%s: out of memory", what), NULL;
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[ERR_MSG_MAX - 96];
        pg_message_line(msg, sizeof msg, PQerrorMessage(pg));
        PQfinish(pg);
        return err_set(err, ERR_PG_CONNECT, "%s: %s", what, msg), NULL;
    }
    return pg;
}

PgConn *pgconn_open(const Secret *dsn, Err *err)
{
    /* Earlier keywords are defaults; the expanded DSN (dbname) overrides them. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const values[] = {"10", "wal2edge", secret_reveal(dsn), NULL};
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    if (!pg)
        return err_set(err, ERR_PG_CONNECT, "cannot connect to the source database: out of memory"),
               NULL;
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[ERR_MSG_MAX - 64];
        pg_message_line(msg, sizeof msg, PQerrorMessage(pg));
        PQfinish(pg);
        return err_set(err, ERR_PG_CONNECT, "cannot connect to the source database: %s", msg), NULL;
    }
    PgConn *conn = xcalloc(1, sizeof *conn);
    conn->pg = pg;
    return conn;
}

void pgconn_close(PgConn *conn)
{
    if (!conn)
        return;
    PQfinish(conn->pg);
    free(conn);
}

/* Run a query expected to return exactly one row; *out must be PQclear'ed. */
static bool query_row(PgConn *conn, const char *what, const char *sql, int nparams,
                      const char *const *params, PGresult **out, Err *err)
{
    PGresult *res = PQexecParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        char msg[ERR_MSG_MAX - 64];
        pg_message_line(msg, sizeof msg,
                        PQresultStatus(res) == PGRES_TUPLES_OK ? "expected one row"
                                                               : PQresultErrorMessage(res));
        PQclear(res);
        return err_set(err, ERR_PG, "reading %s: %s", what, msg);
    }
    *out = res;
    return true;
}

static void copy_field(PGresult *res, int col, char *dst, size_t dst_size)
{
    snprintf(dst, dst_size, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}

static bool field_bool(PGresult *res, int col)
{
    return !PQgetisnull(res, 0, col) && PQgetvalue(res, 0, col)[0] == 't';
}

static long long field_ll(PGresult *res, int col, long long if_null)
{
    if (PQgetisnull(res, 0, col))
        return if_null;
    return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

static const char server_sql[] =
    "SELECT current_setting('server_version_num')::int,"
    "       current_setting('server_version'),"
    "       current_setting('wal_level'),"
    "       current_user, current_database(),"
    "       r.rolsuper, r.rolreplication,"
    "       current_setting('max_replication_slots')::int,"
    "       (SELECT count(*) FROM pg_replication_slots)::int,"
    "       current_setting('max_wal_senders')::int,"
    "       (SELECT count(*) FROM pg_stat_replication)::int,"
    "       current_setting('max_slot_wal_keep_size'),"
    "       coalesce(current_setting('synchronized_standby_slots', true), '')"  /* PG17+ */
    "  FROM pg_roles r WHERE r.rolname = current_user";

static const char publication_sql[] =
    "SELECT count(*) > 0,"
    "       coalesce(bool_or(p.puballtables), false),"
    "       coalesce((SELECT count(*) FROM pg_publication_tables t WHERE t.pubname = $1), 0)::int,"
    "       coalesce(bool_or(p.pubtruncate), false)"
    "  FROM pg_publication p WHERE p.pubname = $1";

/* wal_status and safe_wal_size exist since PG13; two_phase since PG14; failover since PG17. */
static const char slot_sql[] =
    "SELECT s.plugin, s.database, s.slot_type, s.active,"
    "       (to_jsonb(s) ->> 'two_phase')::boolean,"
    "       to_jsonb(s) ->> 'wal_status',"
    "       s.confirmed_flush_lsn::text, s.restart_lsn::text,"
    "       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint,"
    "       (to_jsonb(s) ->> 'safe_wal_size')::bigint,"
    "       pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint,"
    "       s.active_pid,"
    "       coalesce((to_jsonb(s) ->> 'failover')::boolean, false)"
    "  FROM pg_replication_slots s WHERE s.slot_name = $1";

bool pgconn_server_facts(PgConn *conn, const char *publication, const char *slot,
                         PgServerFacts *out, Err *err)
{
    memset(out, 0, sizeof *out);
    PGresult *res;
    if (!query_row(conn, "server settings", server_sql, 0, NULL, &res, err))
        return false;
    out->server_version_num = (int)field_ll(res, 0, 0);
    copy_field(res, 1, out->server_version, sizeof out->server_version);
    copy_field(res, 2, out->wal_level, sizeof out->wal_level);
    copy_field(res, 3, out->current_user, sizeof out->current_user);
    copy_field(res, 4, out->database, sizeof out->database);
    out->is_superuser = field_bool(res, 5);
    out->can_replicate = field_bool(res, 6);
    out->max_replication_slots = (int)field_ll(res, 7, 0);
    out->replication_slots_used = (int)field_ll(res, 8, 0);
    out->max_wal_senders = (int)field_ll(res, 9, 0);
    out->wal_senders_used = (int)field_ll(res, 10, 0);
    copy_field(res, 11, out->max_slot_wal_keep_size, sizeof out->max_slot_wal_keep_size);
    copy_field(res, 12, out->synchronized_standby_slots, sizeof out->synchronized_standby_slots);
    PQclear(res);

    const char *pub_params[] = {publication};
    if (!query_row(conn, "publication", publication_sql, 1, pub_params, &res, err))
        return false;
    out->publication_exists = field_bool(res, 0);
    out->publication_all_tables = field_bool(res, 1);
    out->publication_table_count = (int)field_ll(res, 2, 0);
    out->publication_publishes_truncate = field_bool(res, 3);
    PQclear(res);

    return pgconn_slot_facts(conn, slot, &out->slot, err);
}

bool pgconn_slot_facts(PgConn *conn, const char *slot, PgSlotFacts *s, Err *err)
{
    memset(s, 0, sizeof *s);
    const char *slot_params[] = {slot};
    PGresult *res = PQexecParams(conn->pg, slot_sql, 1, NULL, slot_params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[ERR_MSG_MAX - 64];
        pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
        PQclear(res);
        return err_set(err, ERR_PG, "reading replication slot: %s", msg);
    }
    s->retained_bytes = -1;
    s->safe_wal_size = -1;
    s->flush_lag_bytes = -1;
    if (PQntuples(res) == 1) {
        s->exists = true;
        copy_field(res, 0, s->plugin, sizeof s->plugin);
        copy_field(res, 1, s->database, sizeof s->database);
        copy_field(res, 2, s->slot_type, sizeof s->slot_type);
        s->active = field_bool(res, 3);
        s->two_phase = field_bool(res, 4);
        copy_field(res, 5, s->wal_status, sizeof s->wal_status);
        copy_field(res, 6, s->confirmed_flush_lsn, sizeof s->confirmed_flush_lsn);
        copy_field(res, 7, s->restart_lsn, sizeof s->restart_lsn);
        s->retained_bytes = field_ll(res, 8, -1);
        s->safe_wal_size = field_ll(res, 9, -1);
        s->has_safe_wal_size = !PQgetisnull(res, 0, 9);
        s->flush_lag_bytes = field_ll(res, 10, -1);
        s->active_pid = (int)field_ll(res, 11, 0);
        s->failover = field_bool(res, 12);
    }
    PQclear(res);
    return true;
}

bool pgconn_emit_heartbeat(PgConn *conn, const char *content, Err *err)
{
    PGresult *res = NULL;
    const char *params[] = {content};
    if (!query_row(conn, "a heartbeat", "SELECT pg_logical_emit_message(true, '" PGCONN_HEARTBEAT_PREFIX "', $1)::text",
                   1, params, &res, err))
        return false;
    PQclear(res);
    return true;
}

bool pgconn_current_wal_lsn(PgConn *conn, Lsn *out, Err *err)
{
    PGresult *res = NULL;
    if (!query_row(conn, "the current WAL position", "SELECT pg_current_wal_lsn()::text", 0, NULL, &res, err))
        return false;
    Err parse_err;
    bool ok = lsn_parse(PQgetvalue(res, 0, 0), out, &parse_err);
    PQclear(res);
    return ok || err_set(err, ERR_PG, "reading the current WAL position: malformed LSN");
}

static bool exec_command(PgConn *conn, const char *sql, const char *what, Err *err);

bool pgconn_sync_point(PgConn *conn, Lsn *out, Err *err)
{
    /*
     * A commit is flushed synchronously only if its transaction wrote WAL: a
     * temporary table dropped at commit writes catalog WAL that logical decoding
     * never publishes. Without the TEMP privilege, a transactional logical
     * message with wal2edge's reserved prefix does the same (run filters it out).
     */
    static const char *const writers[] = {
        "CREATE TEMP TABLE wal2edge_sync_point (x int) ON COMMIT DROP",
        "SELECT pg_logical_emit_message(true, '" PGCONN_SYNC_MESSAGE_PREFIX "', '')",
    };
    if (!exec_command(conn, "SET synchronous_commit = on", "flushing WAL", err))
        return false;
    bool done = false;
    for (size_t i = 0; i < 2 && !done; i++) {
        if (!exec_command(conn, "BEGIN", "flushing WAL", err))
            return false;
        PGresult *res = PQexec(conn->pg, writers[i]);
        bool wrote = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
        if (!wrote) {
            char msg[ERR_MSG_MAX - 64];
            pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
            err_set(err, ERR_PG, "flushing WAL: %s", msg);
        }
        PQclear(res);
        if (!exec_command(conn, wrote ? "COMMIT" : "ROLLBACK", "flushing WAL", err))
            return false;
        done = wrote;
    }
    if (!done)
        return false;
    PGresult *res;
    if (!query_row(conn, "the flushed WAL position", "SELECT pg_current_wal_flush_lsn()::text", 0, NULL, &res, err))
        return false;
    Err parse_err;
    bool ok = lsn_parse(PQgetvalue(res, 0, 0), out, &parse_err);
    PQclear(res);
    return ok || err_set(err, ERR_PG, "reading the flushed WAL position: malformed LSN");
}

/* "schema.table" → "schema"."table", each part escaped by libpq. */
static bool append_qualified(PgConn *conn, Buf *sql, const char *qualname, Err *err)
{
    const char *dot = strchr(qualname, '.');
    const char *parts[2] = {qualname, dot ? dot + 1 : NULL};
    size_t lens[2] = {dot ? (size_t)(dot - qualname) : strlen(qualname), dot ? strlen(dot + 1) : 0};
    for (int i = 0; i < 2 && parts[i]; i++) {
        char *q = PQescapeIdentifier(conn->pg, parts[i], lens[i]);
        if (!q)
            return err_set(err, ERR_PG, "cannot quote table name \"%s\"", qualname);
        bool ok = (i == 0 || buf_append_str(sql, ".", err)) && buf_append_str(sql, q, err);
        PQfreemem(q);
        if (!ok)
            return false;
    }
    return true;
}

static bool exec_command(PgConn *conn, const char *sql, const char *what, Err *err)
{
    PGresult *res = PQexec(conn->pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char msg[ERR_MSG_MAX - 64];
        pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
        PQclear(res);
        return err_set(err, ERR_PG, "%s: %s", what, msg);
    }
    PQclear(res);
    return true;
}

bool pgconn_create_publication(PgConn *conn, const char *name, const char *const *tables, size_t count,
                               Err *err)
{
    Buf sql;
    buf_init(&sql, 1 << 20);
    char *ident = PQescapeIdentifier(conn->pg, name, strlen(name));
    bool ok = ident && buf_printf(&sql, err, "CREATE PUBLICATION %s FOR ", ident);
    PQfreemem(ident);
    if (ok && count == 0)
        ok = buf_append_str(&sql, "ALL TABLES", err);
    else if (ok)
        ok = buf_append_str(&sql, "TABLE ", err);
    for (size_t i = 0; ok && i < count; i++)
        ok = (i == 0 || buf_append_str(&sql, ", ", err)) && append_qualified(conn, &sql, tables[i], err);
    if (ok)
        ok = exec_command(conn, sql.data, "creating the publication", err);
    buf_free(&sql);
    return ok;
}

bool pgconn_publication_add(PgConn *conn, const char *name, const char *table, bool *added, Err *err)
{
    *added = false;
    const char *dot = strchr(table, '.');
    char *schema = dot ? xstrndup(table, (size_t)(dot - table)) : xstrdup("public");
    const char *params[] = {name, schema, dot ? dot + 1 : table};
    PGresult *res = PQexecParams(conn->pg,
                                 "SELECT p.puballtables OR EXISTS (SELECT 1 FROM pg_publication_tables t WHERE "
                                 "t.pubname = p.pubname AND t.schemaname = $2 AND t.tablename = $3) "
                                 "FROM pg_publication p WHERE p.pubname = $1",
                                 3, NULL, params, NULL, NULL, 0);
    free(schema);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[ERR_MSG_MAX - 64];
        pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
        PQclear(res);
        return err_set(err, ERR_PG, "reading publication \"%s\": %s", name, msg);
    }
    /* no publication yet (run creates it with the mapped tables), or it has the table */
    bool has = PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (has)
        return true;
    Buf sql;
    buf_init(&sql, 4096);
    char *ident = PQescapeIdentifier(conn->pg, name, strlen(name));
    bool ok = ident && buf_printf(&sql, err, "ALTER PUBLICATION %s ADD TABLE ", ident) &&
              append_qualified(conn, &sql, table, err);
    PQfreemem(ident);
    if (ok) {
        char *what = xasprintf("adding %s to publication \"%s\"", table, name);
        ok = exec_command(conn, sql.data, what, err);
        free(what);
    }
    buf_free(&sql);
    *added = ok;
    return ok;
}

bool pgconn_drop_publication(PgConn *conn, const char *name, Err *err)
{
    char *ident = PQescapeIdentifier(conn->pg, name, strlen(name));
    if (!ident)
        return err_set(err, ERR_PG, "cannot quote publication name");
    char *sql = xasprintf("DROP PUBLICATION IF EXISTS %s", ident);
    PQfreemem(ident);
    bool ok = exec_command(conn, sql, "dropping the publication", err);
    free(sql);
    return ok;
}

/*
 * pg/stream.c - see stream.h.
 *
 * The replication connection accepts only the simple query protocol, so
 * commands are built as text with identifiers and literals escaped by libpq.
 */
#include "pg/stream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/mem.h"
#include "pg/conn_intern.h"
#include "pg/walproto.h"

/* How long to let data accumulate after waking on a quiet socket (adds at most this much latency). */
#define STREAM_COALESCE_US 300

struct PgStream {
    PGconn *pg;
    char *frame;           /* the last frame from PQgetCopyData, freed on the next call */
    bool copying;
};


static bool conn_error(PgStream *s, ErrCode code, const char *what, Err *err)
{
    char msg[ERR_MSG_MAX - 80];
    pg_message_line(msg, sizeof msg, PQerrorMessage(s->pg));
    return err_set(err, code, "%s: %s", what, msg);
}

static bool result_error(PGresult *res, const char *what, Err *err)
{
    char msg[ERR_MSG_MAX - 80];
    pg_message_line(msg, sizeof msg, PQresultErrorMessage(res));
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    err_set(err, ERR_PG, "%s: %s", what, msg);
    /* 55000 (slot invalidated, not in prerequisite state) and 42704 (no such slot)
     * will not cure themselves; connection-class errors (08xxx) and "slot is active"
     * (55006) may. */
    if (state && (strcmp(state, "55000") == 0 || strcmp(state, "42704") == 0 ||
                  strcmp(state, "42601") == 0 || strcmp(state, "22023") == 0 ||
                  strcmp(state, "42501") == 0))
        err->code = ERR_CHECK;
    return false;
}

PgStream *pgstream_connect(const Secret *dsn, Err *err)
{
    PGconn *pg = pg_connect_pinned(dsn, "wal2edge", true, err);
    if (!pg)
        return NULL;
    PgStream *s = xcalloc(1, sizeof *s);
    s->pg = pg;
    return s;
}

void pgstream_close(PgStream *s)
{
    if (!s)
        return;
    if (s->frame)
        PQfreemem(s->frame);
    PQfinish(s->pg);
    free(s);
}

int pgstream_server_version(const PgStream *s) { return PQserverVersion(s->pg); }

int pgstream_max_proto_version(const PgStream *s)
{
    int v = PQserverVersion(s->pg);
    return v >= 160000 ? 4 : v >= 150000 ? 3 : v >= 140000 ? 2 : 1;
}

/* Run a replication command expecting tuples (or command-ok when rows is NULL). */
static bool run_command(PgStream *s, const char *sql, const char *what, PGresult **rows, Err *err)
{
    PGresult *res = PQexec(s->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = rows ? st == PGRES_TUPLES_OK && PQntuples(res) == 1 : st == PGRES_COMMAND_OK;
    if (!ok) {
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            err_set(err, ERR_PROTOCOL, "%s: unexpected reply from the server", what);
        else
            result_error(res, what, err);
        PQclear(res);
        return false;
    }
    if (rows)
        *rows = res;
    else
        PQclear(res);
    return true;
}

static void copy_value(PGresult *res, int col, char *dst, size_t size)
{
    snprintf(dst, size, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}

bool pgstream_identify(PgStream *s, PgSystemInfo *out, Err *err)
{
    PGresult *res;
    memset(out, 0, sizeof *out);
    if (!run_command(s, "IDENTIFY_SYSTEM", "IDENTIFY_SYSTEM", &res, err))
        return false;
    bool ok = PQnfields(res) >= 4;
    if (ok) {
        copy_value(res, 0, out->system_id, sizeof out->system_id);
        int64_t timeline = 0;
        ok = str_to_i64(PQgetvalue(res, 0, 1), &timeline) && timeline > 0 && timeline <= INT32_MAX;
        out->timeline = (int)timeline;
        copy_value(res, 3, out->dbname, sizeof out->dbname);
        Err lsn_err;
        ok = ok && lsn_parse(PQgetvalue(res, 0, 2), &out->xlogpos, &lsn_err);
    }
    PQclear(res);
    out->server_version_num = PQserverVersion(s->pg);
    return ok || err_set(err, ERR_PROTOCOL, "IDENTIFY_SYSTEM: malformed reply");
}

/* Identifier quoting through libpq (the slot name is validated by config, but be safe). */
static char *quote_ident(PgStream *s, const char *name)
{
    char *q = PQescapeIdentifier(s->pg, name, strlen(name));
    char *out = xstrdup(q ? q : "\"\"");
    PQfreemem(q);
    return out;
}

static char *quote_literal(PgStream *s, const char *text)
{
    char *q = PQescapeLiteral(s->pg, text, strlen(text));
    char *out = xstrdup(q ? q : "''");
    PQfreemem(q);
    return out;
}

bool pgstream_create_slot(PgStream *s, const char *slot, bool two_phase, bool export_snapshot,
                          PgSlotCreated *out, Err *err)
{
    memset(out, 0, sizeof *out);
    char *ident = quote_ident(s, slot);
    /* The parenthesized option form exists since PG15; PG14 needs the legacy keywords. */
    char *sql;
    if (PQserverVersion(s->pg) >= 150000)
        sql = xasprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT '%s'%s)", ident,
                        export_snapshot ? "export" : "nothing", two_phase ? ", TWO_PHASE" : "");
    else
        sql = xasprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput %s", ident,
                        export_snapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
    free(ident);
    PGresult *res;
    bool ok = run_command(s, sql, "creating the replication slot", &res, err);
    free(sql);
    if (!ok)
        return false;
    copy_value(res, 0, out->slot_name, sizeof out->slot_name);
    copy_value(res, 2, out->snapshot_name, sizeof out->snapshot_name);
    Err lsn_err;
    ok = lsn_parse(PQgetvalue(res, 0, 1), &out->consistent_point, &lsn_err);
    PQclear(res);
    return ok || err_set(err, ERR_PROTOCOL, "CREATE_REPLICATION_SLOT: malformed consistent point");
}

bool pgstream_drop_slot(PgStream *s, const char *slot, Err *err)
{
    char *ident = quote_ident(s, slot);
    char *sql = xasprintf("DROP_REPLICATION_SLOT %s WAIT", ident);
    free(ident);
    bool ok = run_command(s, sql, "dropping the replication slot", NULL, err);
    free(sql);
    return ok;
}

bool pgstream_start(PgStream *s, const PgStreamOptions *opts, Lsn start, Err *err)
{
    int proto = opts->proto_version ? opts->proto_version : pgstream_max_proto_version(s);
    char *slot = quote_ident(s, opts->slot);
    /* publication_names is one string holding a list of quoted identifiers */
    char *pub_ident = quote_ident(s, opts->publication);
    char *pub_literal = quote_literal(s, pub_ident);
    char lsn[LSN_STR_MAX];
    char *sql = xasprintf("START_REPLICATION SLOT %s LOGICAL %s (proto_version '%d', "
                          "publication_names %s%s%s%s%s)",
                          slot, lsn_format(start, lsn), proto, pub_literal,
                          opts->streaming && proto >= 2 ? ", streaming 'on'" : "",
                          opts->messages && proto >= 1 && PQserverVersion(s->pg) >= 140000
                              ? ", messages 'true'"
                              : "",
                          opts->two_phase && proto >= 3 ? ", two_phase 'true'" : "",
                          opts->binary ? ", binary 'true'" : "");
    free(slot);
    free(pub_ident);
    free(pub_literal);
    PGresult *res = PQexec(s->pg, sql);
    free(sql);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        result_error(res, "starting replication", err);
        PQclear(res);
        return false;
    }
    PQclear(res);
    if (PQsetnonblocking(s->pg, 1) != 0)
        return conn_error(s, ERR_PG_CONNECT, "starting replication", err);
    s->copying = true;
    return true;
}

/* After the COPY ends (-1): collect the final result, which says why. */
static int copy_ended(PgStream *s, Err *err)
{
    s->copying = false;
    PGresult *res;
    bool reported = false;
    while ((res = PQgetResult(s->pg))) {
        if (!reported && PQresultStatus(res) != PGRES_COMMAND_OK &&
            PQresultStatus(res) != PGRES_COPY_OUT && PQresultStatus(res) != PGRES_COPY_BOTH) {
            result_error(res, "replication stream ended", err);
            if (err->code == ERR_PG)
                err->code = ERR_PG_CONNECT; /* terminated walsender, shutdown: reconnect */
            reported = true;
        }
        PQclear(res);
    }
    if (!reported)
        err_set(err, ERR_PG_CONNECT, "replication stream ended by the server");
    return -1;
}

int pgstream_next(PgStream *s, int timeout_ms, const uint8_t **frame, size_t *len, Err *err)
{
    if (s->frame) {
        PQfreemem(s->frame);
        s->frame = NULL;
    }
    for (int round = 0; round < 2; round++) {
        char *buf = NULL;
        int n = PQgetCopyData(s->pg, &buf, 1);
        if (n > 0) {
            s->frame = buf;
            *frame = (const uint8_t *)buf;
            *len = (size_t)n;
            return 1;
        }
        if (n == -1)
            return copy_ended(s, err);
        if (n == -2) {
            conn_error(s, ERR_PG_CONNECT, "reading the replication stream", err);
            return -1;
        }
        if (round == 1)
            return 0;
        /* Nothing buffered: wait for the socket, then pull what arrived. */
        struct pollfd pfd = {.fd = PQsocket(s->pg), .events = POLLIN};
        if (pfd.fd < 0) {
            err_set(err, ERR_PG_CONNECT, "reading the replication stream: connection lost");
            return -1;
        }
        /* Nothing was waiting: the stream trickles in as the server decodes. Rather than
         * waking for every kilobyte (a recv, an ACK and a context switch each, which on a
         * small machine takes CPU from the walsender itself), let a little accumulate. */
        int rc = poll(&pfd, 1, 0);
        bool waited = rc == 0;
        if (waited && timeout_ms > 0)
            rc = poll(&pfd, 1, timeout_ms);
        if (rc < 0) {
            if (errno == EINTR)
                return 0;
            err_sys(err, ERR_PG_CONNECT, "waiting for the replication stream");
            return -1;
        }
        if (rc == 0)
            return 0;
        if (waited) {
            struct timespec pause = {0, STREAM_COALESCE_US * 1000L};
            nanosleep(&pause, NULL);
        }
        if (!PQconsumeInput(s->pg)) {
            conn_error(s, ERR_PG_CONNECT, "reading the replication stream", err);
            return -1;
        }
    }
    return 0;
}

static int64_t now_unix_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Push queued output, waiting for the socket while libpq says more is pending. */
static bool flush_output(PgStream *s, Err *err)
{
    for (int rounds = 0; rounds < 1000; rounds++) {
        int rc = PQflush(s->pg);
        if (rc == 0)
            return true;
        if (rc < 0)
            return conn_error(s, ERR_PG_CONNECT, "sending to the server", err);
        struct pollfd pfd = {.fd = PQsocket(s->pg), .events = POLLOUT | POLLIN};
        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
            return err_sys(err, ERR_PG_CONNECT, "sending to the server");
        if ((pfd.revents & POLLIN) && !PQconsumeInput(s->pg))
            return conn_error(s, ERR_PG_CONNECT, "sending to the server", err);
    }
    return err_set(err, ERR_TIMEOUT, "sending to the server: the socket stayed full");
}

bool pgstream_send_status(PgStream *s, Lsn write, Lsn flush, bool reply_requested, Err *err)
{
    uint8_t msg[WALPROTO_STATUS_LEN];
    /* apply = flush: what we report as flushed is also applied downstream */
    walproto_encode_status(write, flush, flush, walproto_unix_to_pg_us(now_unix_us()), reply_requested,
                           msg);
    for (int tries = 0;; tries++) {
        int rc = PQputCopyData(s->pg, (const char *)msg, (int)sizeof msg);
        if (rc == 1)
            break;
        if (rc < 0 || tries > 100)
            return conn_error(s, ERR_PG_CONNECT, "sending a status update", err);
        if (!flush_output(s, err))
            return false;
    }
    return flush_output(s, err);
}

bool pgstream_finish(PgStream *s, Err *err)
{
    if (!s->copying)
        return true;
    s->copying = false;
    if (PQputCopyEnd(s->pg, NULL) < 0 || !flush_output(s, err))
        return conn_error(s, ERR_PG_CONNECT, "ending the replication stream", err);
    /* Drain what the server still sends until it acknowledges the end (bounded). */
    PQsetnonblocking(s->pg, 0);
    for (int i = 0; i < 100000; i++) {
        char *buf = NULL;
        int n = PQgetCopyData(s->pg, &buf, 0);
        if (buf)
            PQfreemem(buf);
        if (n < 0)
            break;
    }
    PGresult *res;
    while ((res = PQgetResult(s->pg)))
        PQclear(res);
    return true;
}

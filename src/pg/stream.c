/*
 * pg/stream.c - see stream.h.
 *
 * The replication connection accepts only the simple query protocol, so
 * commands are built as text with identifiers and literals escaped by libpq.
 * Once streaming, a reader thread owns the connection and reaches it only
 * through a PgWire (libpq's here; a test's in tests/unit/pg/stream_test.c):
 * it queues frames, sends the status updates it is handed, and answers a
 * keepalive that asks for a reply with the position last handed over. It also
 * keeps when the server last heard us for certain: the time of the last status
 * that went out before a frame came in (daemon/lease builds on it).
 */
#include "pg/stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/str.h"
#include "core/mem.h"
#include "pg/conn_intern.h"
#include "pg/walproto.h"

/* Frames the reader thread may hold that the caller has not taken yet. */
#define STREAM_QUEUE_MAX_BYTES ((size_t)16 << 20)
/* The longest pgstream_next blocks in one go, so its caller sees signals and timers. */
#define STREAM_WAIT_SLICE_MS 100
/* While data flows, wake only once this much has arrived (SO_RCVLOWAT): every wake-up
 * of the reader is paid for by the walsender's send() on a small machine. The wait is
 * bounded, so less than this is read at most STREAM_BULK_WAIT_MS late. */
#define STREAM_BULK_BYTES (64 * 1024)
#define STREAM_BULK_WAIT_MS 2
/* How long a clean stop waits for the server to acknowledge the end of the COPY. */
#define STREAM_FINISH_MS 5000

typedef struct QueuedFrame {
    char *data;            /* from PQgetCopyData */
    int len;
} QueuedFrame;

/*
 * After START_REPLICATION a reader thread owns the connection: it reads frames
 * as soon as the server sends them into a bounded queue and sends the status
 * updates it is handed, so the walsender never waits while the caller applies
 * a transaction, fsyncs, or talks to a target. The caller's thread never touches
 * the PGconn again until the thread is stopped (libpq connections are not shared).
 */
typedef struct Reader {
    pthread_t thread;
    int wake_fd;                   /* eventfd: status to send, or stop */
    pthread_mutex_t mu;
    pthread_cond_t frames_cv;      /* the caller waits here for frames */
    pthread_cond_t room_cv;        /* the reader waits here for room */
    QueuedFrame taken[256];        /* frames the caller took in one go (caller's thread only) */
    size_t taken_n, taken_i;
    QueuedFrame *ring;             /* circular queue of frames */
    size_t cap, head, count, bytes;
    bool caller_waiting, reader_waiting;
    bool stop;
    bool failed;                   /* the stream ended or broke: fail_err says why */
    Err fail_err;
    bool status_pending;           /* a status update to send */
    Lsn st_write, st_flush;
    bool st_reply;
    Lsn last_write, last_flush;    /* what was last handed over: repeated to answer keepalives */
    int64_t ping_ms;               /* ask the server for a reply this often (and in every answer); 0: never */
    int64_t sent_ms;               /* reader only: when the last status went out (monotonic) */
    int64_t heard_ms;              /* when the last status went out that a frame came in after */
} Reader;

struct PgStream {
    PGconn *pg;            /* NULL for a stream over a test's wire */
    PgWire wire;           /* how the reader talks to the server: libpq, or a test's */
    char *frame;           /* the frame handed out last, freed on the next call */
    bool copying;
    Reader *reader;        /* set while streaming */
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
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (state && strcmp(state, "42704") == 0 && primary && strncmp(primary, "publication \"", 13) == 0 &&
        strstr(primary, "\" does not exist")) {
        /* pgoutput reads the publication as of each change: one dropped (and maybe created again)
         * after a change the slot has yet to send is missing there for good */
        char line[ERR_MSG_MAX - 80];
        pg_message_line(line, sizeof line, primary);
        return err_set(err, ERR_CHECK,
                       "%s: %s at the slot's position: it was dropped (perhaps created again) while the slot had "
                       "changes to send from before, and the slot cannot decode past them; the way back: "
                       "wal2edge slot drop --force; wal2edge slot create; then rebuild each target as wal2edge run "
                       "lists them: D1 with wal2edge migrate, KV with wal2edge warm, a queue's consumers re-synced "
                       "then --accept-gap queues.NAME, the change log with --accept-gap changelog",
                       what, line);
    }
    /* 55006 object_in_use: another walsender holds the slot (run --standby waits for it);
     * 42710 duplicate_object: another instance created the slot between our look and our
     * CREATE_REPLICATION_SLOT - it holds it now, the same for a standby */
    bool busy = state && (strcmp(state, "55006") == 0 || strcmp(state, "42710") == 0);
    err_set(err, busy ? ERR_SLOT_BUSY : ERR_PG, "%s: %s", what, msg);
    /* 55000 (slot invalidated, not in prerequisite state) and 42704 (no such slot)
     * will not cure themselves; connection-class errors (08xxx) and "slot is active"
     * (55006) may. */
    if (state && (strcmp(state, "55000") == 0 || strcmp(state, "42704") == 0 ||
                  strcmp(state, "42601") == 0 || strcmp(state, "22023") == 0 ||
                  strcmp(state, "42501") == 0))
        err->code = ERR_CHECK;
    return false;
}

static PgWire libpq_wire(PgStream *s);
static char *quote_ident(PgStream *s, const char *name);

PgStream *pgstream_connect(const Secret *dsn, Err *err)
{
    PGconn *pg = pg_connect_pinned(dsn, "wal2edge", true, err);
    if (!pg)
        return NULL;
    PgStream *s = xcalloc(1, sizeof *s);
    s->pg = pg;
    s->wire = libpq_wire(s);
    return s;
}

static void reader_stop(PgStream *s);
static bool reader_start(PgStream *s, Lsn start, Err *err);

void pgstream_close(PgStream *s)
{
    if (!s)
        return;
    reader_stop(s);
    if (s->frame)
        s->wire.free_frame(s->wire.ctx, s->frame);
    if (s->pg)
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

bool pgstream_show(PgStream *s, const char *name, char *out, size_t size, Err *err)
{
    char *q = quote_ident(s, name);
    char *sql = xasprintf("SHOW %s", q);
    free(q);
    PGresult *res;
    bool ok = run_command(s, sql, "SHOW", &res, err);
    free(sql);
    if (!ok) {
        err_prefix(err, "reading the server setting %s", name);
        return false;
    }
    ok = PQnfields(res) == 1 && !PQgetisnull(res, 0, 0);
    if (ok)
        copy_value(res, 0, out, size);
    PQclear(res);
    return ok || err_set(err, ERR_PROTOCOL, "SHOW %s: malformed reply", name);
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

bool pgstream_create_slot(PgStream *s, const char *slot, unsigned flags, PgSlotCreated *out, Err *err)
{
    memset(out, 0, sizeof *out);
    char *ident = quote_ident(s, slot);
    char *sql = slotcmd_create(PQserverVersion(s->pg), ident, flags);
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
    return reader_start(s, start, err);
}

PgStream *pgstream_over_wire(const PgWire *wire, Lsn start, Err *err)
{
    PgStream *s = xcalloc(1, sizeof *s);
    s->wire = *wire;
    s->copying = true;
    if (!reader_start(s, start, err)) {
        free(s);
        return NULL;
    }
    return s;
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

/* ---- the wire: libpq's connection, the one the reader thread uses ---- */

static int wire_socket(void *ctx) { return PQsocket(((PgStream *)ctx)->pg); }

static bool wire_consume(void *ctx, Err *err)
{
    PgStream *s = ctx;
    return PQconsumeInput(s->pg) || conn_error(s, ERR_PG_CONNECT, "reading the replication stream", err);
}

static int wire_get_frame(void *ctx, char **frame, Err *err)
{
    PgStream *s = ctx;
    *frame = NULL;
    int n = PQgetCopyData(s->pg, frame, 1);
    if (n >= 0)
        return n;
    if (n == -1)
        return copy_ended(s, err);
    conn_error(s, ERR_PG_CONNECT, "reading the replication stream", err);
    return -1;
}

static bool wire_put_frame(void *ctx, const char *data, int len, Err *err)
{
    PgStream *s = ctx;
    for (int tries = 0;; tries++) {
        int rc = PQputCopyData(s->pg, data, len);
        if (rc == 1)
            break;
        if (rc < 0 || tries > 100)
            return conn_error(s, ERR_PG_CONNECT, "sending a status update", err);
        if (!flush_output(s, err))
            return false;
    }
    return flush_output(s, err);
}

static void wire_free_frame(void *ctx, char *frame)
{
    (void)ctx;
    PQfreemem(frame);
}

static PgWire libpq_wire(PgStream *s)
{
    return (PgWire){s, wire_socket, wire_consume, wire_get_frame, wire_put_frame, wire_free_frame};
}

/* On the reader thread (or before it starts): put one status update on the wire. */
static bool send_status_now(PgStream *s, Lsn write, Lsn flush, bool reply_requested, Err *err)
{
    uint8_t msg[WALPROTO_STATUS_LEN];
    /* apply = flush: what we report as flushed is also applied downstream */
    walproto_encode_status(write, flush, flush, walproto_unix_to_pg_us(clock_wall_us()), reply_requested,
                           msg);
    return s->wire.put_frame(s->wire.ctx, (const char *)msg, (int)sizeof msg, err);
}

/* ---- the reader thread ---- */

/* Read what the socket holds into *out (at most max frames); 0 frames when nothing is
 * complete yet. Returns false when the stream ended or broke (*err says which). */
static bool read_available(PgStream *s, QueuedFrame *out, size_t max, size_t *got, size_t *bytes, Err *err)
{
    *got = 0;
    *bytes = 0;
    if (!s->wire.consume(s->wire.ctx, err))
        return false;
    while (*got < max) {
        char *buf = NULL;
        int n = s->wire.get_frame(s->wire.ctx, &buf, err);
        if (n > 0) {
            out[(*got)++] = (QueuedFrame){buf, n};
            *bytes += (size_t)n;
            continue;
        }
        return n == 0;
    }
    return true;
}

static void reader_fail(Reader *rd, const Err *e)
{
    pthread_mutex_lock(&rd->mu);
    if (!rd->failed) {
        rd->failed = true;
        rd->fail_err = *e;
    }
    pthread_cond_broadcast(&rd->frames_cv);
    pthread_mutex_unlock(&rd->mu);
}

/* Append frames to the queue (the lock is held), growing the ring if needed. */
static void queue_push(Reader *rd, const QueuedFrame *frames, size_t n)
{
    if (rd->count + n > rd->cap) {
        size_t cap = rd->cap ? rd->cap : 1024;
        while (cap < rd->count + n)
            cap *= 2;
        QueuedFrame *ring = xcalloc(cap, sizeof *ring);
        for (size_t i = 0; i < rd->count; i++)
            ring[i] = rd->ring[(rd->head + i) % rd->cap];
        free(rd->ring);
        rd->ring = ring;
        rd->cap = cap;
        rd->head = 0;
    }
    for (size_t i = 0; i < n; i++) {
        rd->ring[(rd->head + rd->count) % rd->cap] = frames[i];
        rd->count++;
        rd->bytes += (size_t)frames[i].len;
    }
}

static bool is_keepalive_asking_reply(const QueuedFrame *f)
{
    return f->len == WALPROTO_KEEPALIVE_LEN && f->data[0] == WAL_MSG_KEEPALIVE && f->data[f->len - 1];
}

/* Switch the socket between waking for any byte and waking for a bulk of them. */
/*
 * Switch the socket between waking for any byte and waking for a bulk. The bulk
 * stays well under the receive buffer: the window the server may fill is about
 * half of it, and a bulk the window cannot hold would only ever end by timeout
 * (the stream would crawl at one window per STREAM_BULK_WAIT_MS). The buffer
 * grows as the kernel tunes it, so it is read again each time.
 */
static void set_bulk(int fd, bool bulk, int *lowat_now)
{
    int lowat = 1;
    if (bulk) {
        int rcvbuf = 0;
        socklen_t len = sizeof rcvbuf;
        if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0)
            lowat = rcvbuf / 4;
        if (lowat > STREAM_BULK_BYTES)
            lowat = STREAM_BULK_BYTES;
        if (lowat < 1)
            lowat = 1;
    }
    if (lowat != *lowat_now && setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) == 0)
        *lowat_now = lowat;
}

static void *reader_main(void *arg)
{
    PgStream *s = arg;
    Reader *rd = s->reader;
    /* Signals are for the caller's thread (it checks its stop flag between frames). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    enum { BATCH = 256 };
    QueuedFrame batch[BATCH];
    Err err;
    bool bulk = false;             /* the socket wakes us only for a bulk (or after a short wait) */
    int lowat = 1;                 /* SO_RCVLOWAT as set */
    size_t round_bytes = 0;        /* read since the last wait */
    for (;;) {
        pthread_mutex_lock(&rd->mu);
        while (!rd->stop && !rd->status_pending && rd->bytes >= STREAM_QUEUE_MAX_BYTES) {
            rd->reader_waiting = true;
            pthread_cond_wait(&rd->room_cv, &rd->mu);
            rd->reader_waiting = false;
        }
        bool stop = rd->stop, send = rd->status_pending;
        Lsn write = rd->st_write, flush = rd->st_flush;
        bool reply = rd->st_reply;
        int64_t ping = rd->ping_ms;
        Lsn last_write = rd->last_write, last_flush = rd->last_flush;
        rd->status_pending = false;
        pthread_mutex_unlock(&rd->mu);
        /* what went out in an earlier round was followed by a wait for the socket: a frame
         * read now came in after it (frames read right after a send may have been on the
         * way already) */
        int64_t settled = rd->sent_ms;
        /* a last status handed over before a stop still goes out */
        int64_t now = clock_mono_ms();
        if (!send && ping && now - rd->sent_ms >= ping) {
            /* the ping: nothing to hand over, so the position last handed over, asking for a reply */
            send = reply = true;
            write = last_write;
            flush = last_flush;
        }
        if (send && !send_status_now(s, write, flush, reply, &err)) {
            reader_fail(rd, &err);
            return NULL;
        }
        if (send)
            rd->sent_ms = now;
        if (stop)
            return NULL;
        size_t got, bytes;
        if (!read_available(s, batch, BATCH, &got, &bytes, &err)) {
            /* frames read before the end are not confirmed: the server sends them again */
            for (size_t i = 0; i < got; i++)
                s->wire.free_frame(s->wire.ctx, batch[i].data);
            reader_fail(rd, &err);
            return NULL;
        }
        bool answer = false;
        for (size_t i = 0; i < got; i++)
            answer = answer || is_keepalive_asking_reply(&batch[i]);
        if (got) {
            pthread_mutex_lock(&rd->mu);
            /* what went out before this came in, the server has (a cut drops both ways) */
            if (settled > rd->heard_ms)
                rd->heard_ms = settled;
            queue_push(rd, batch, got);
            if (rd->caller_waiting)
                pthread_cond_signal(&rd->frames_cv);
            write = rd->last_write;
            flush = rd->last_flush;
            pthread_mutex_unlock(&rd->mu);
        }
        /* The server wants an answer now, whatever the caller is busy with: repeat
         * the position it last handed over (never more than it has confirmed). */
        now = clock_mono_ms();
        if (answer && !send_status_now(s, write, flush, ping > 0, &err)) {
            reader_fail(rd, &err);
            return NULL;
        }
        if (answer)
            rd->sent_ms = now;
        round_bytes += bytes;
        if (got == BATCH)
            continue;  /* more may be buffered in libpq */
        struct pollfd pfd[2] = {{.fd = s->wire.socket(s->wire.ctx), .events = POLLIN},
                                {.fd = rd->wake_fd, .events = POLLIN}};
        if (pfd[0].fd < 0) {
            err_set(&err, ERR_PG_CONNECT, "reading the replication stream: connection lost");
            reader_fail(rd, &err);
            return NULL;
        }
        /* While data flows, wake for a bulk or after STREAM_BULK_WAIT_MS, whichever is
         * first: a steady stream or a trickle of small transactions then costs at most a
         * few hundred wake-ups a second. A wait that brought nothing means the stream
         * went quiet: sleep until the next byte. */
        bulk = round_bytes > 0;
        set_bulk(pfd[0].fd, bulk, &lowat);
        round_bytes = 0;
        int wait = bulk ? STREAM_BULK_WAIT_MS : 1000;
        if (ping) {
            int64_t due = rd->sent_ms + ping - clock_mono_ms();
            if (due < wait)
                wait = due < 1 ? 1 : (int)due;
        }
        if (poll(pfd, 2, wait) < 0 && errno != EINTR) {
            err_sys(&err, ERR_PG_CONNECT, "waiting for the replication stream");
            reader_fail(rd, &err);
            return NULL;
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t v;
            (void)!read(rd->wake_fd, &v, sizeof v);
        }
    }
}

static void reader_wake(Reader *rd)
{
    uint64_t one = 1;
    (void)!write(rd->wake_fd, &one, sizeof one);
}

static bool reader_start(PgStream *s, Lsn start, Err *err)
{
    Reader *rd = xcalloc(1, sizeof *rd);
    rd->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rd->wake_fd < 0) {
        free(rd);
        return err_sys(err, ERR_IO, "starting the replication reader");
    }
    pthread_mutex_init(&rd->mu, NULL);
    pthread_cond_init(&rd->frames_cv, NULL);
    pthread_cond_init(&rd->room_cv, NULL);
    rd->last_write = rd->last_flush = start;
    /* START_REPLICATION was answered: the server heard us now */
    rd->sent_ms = rd->heard_ms = clock_mono_ms();
    s->reader = rd;
    int rc = pthread_create(&rd->thread, NULL, reader_main, s);
    if (rc != 0) {
        s->reader = NULL;
        close(rd->wake_fd);
        pthread_mutex_destroy(&rd->mu);
        pthread_cond_destroy(&rd->frames_cv);
        pthread_cond_destroy(&rd->room_cv);
        free(rd);
        errno = rc;
        return err_sys(err, ERR_IO, "starting the replication reader");
    }
    return true;
}

/* Stop and join the reader; frames it queued are dropped. The connection is the
 * caller's again. */
static void reader_stop(PgStream *s)
{
    Reader *rd = s->reader;
    if (!rd)
        return;
    pthread_mutex_lock(&rd->mu);
    rd->stop = true;
    pthread_cond_broadcast(&rd->room_cv);
    pthread_mutex_unlock(&rd->mu);
    reader_wake(rd);
    pthread_join(rd->thread, NULL);
    /* Blocking reads from here on (pgstream_finish) must not wait for a bulk. */
    int lowat = 0;   /* unknown: always set */
    if (s->wire.socket(s->wire.ctx) >= 0)
        set_bulk(s->wire.socket(s->wire.ctx), false, &lowat);
    for (size_t i = 0; i < rd->count; i++)
        s->wire.free_frame(s->wire.ctx, rd->ring[(rd->head + i) % rd->cap].data);
    for (size_t i = rd->taken_i; i < rd->taken_n; i++)
        s->wire.free_frame(s->wire.ctx, rd->taken[i].data);
    free(rd->ring);
    close(rd->wake_fd);
    pthread_mutex_destroy(&rd->mu);
    pthread_cond_destroy(&rd->frames_cv);
    pthread_cond_destroy(&rd->room_cv);
    free(rd);
    s->reader = NULL;
}

int pgstream_next(PgStream *s, int timeout_ms, const uint8_t **frame, size_t *len, Err *err)
{
    if (s->frame) {
        s->wire.free_frame(s->wire.ctx, s->frame);
        s->frame = NULL;
    }
    Reader *rd = s->reader;
    if (!rd) {
        err_set(err, ERR_INTERNAL, "reading the replication stream: not streaming");
        return -1;
    }
    if (rd->taken_i == rd->taken_n) {
        /* Take a run of frames under one lock: the reader and this thread meet
         * once per run, not once per frame. */
        if (timeout_ms > STREAM_WAIT_SLICE_MS)
            timeout_ms = STREAM_WAIT_SLICE_MS;
        rd->taken_i = rd->taken_n = 0;
        pthread_mutex_lock(&rd->mu);
        if (rd->count == 0 && !rd->failed && timeout_ms > 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)timeout_ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            rd->caller_waiting = true;
            while (rd->count == 0 && !rd->failed &&
                   pthread_cond_timedwait(&rd->frames_cv, &rd->mu, &until) != ETIMEDOUT) {
            }
            rd->caller_waiting = false;
        }
        while (rd->count && rd->taken_n < sizeof rd->taken / sizeof rd->taken[0]) {
            QueuedFrame f = rd->ring[rd->head];
            rd->head = (rd->head + 1) % rd->cap;
            rd->count--;
            rd->bytes -= (size_t)f.len;
            rd->taken[rd->taken_n++] = f;
        }
        if (rd->reader_waiting && rd->bytes < STREAM_QUEUE_MAX_BYTES)
            pthread_cond_signal(&rd->room_cv);
        bool failed = rd->failed;
        if (failed && !rd->taken_n)
            *err = rd->fail_err;
        pthread_mutex_unlock(&rd->mu);
        if (!rd->taken_n)
            return failed ? -1 : 0;
    }
    QueuedFrame f = rd->taken[rd->taken_i++];
    s->frame = f.data;
    *frame = (const uint8_t *)f.data;
    *len = (size_t)f.len;
    return 1;
}

bool pgstream_has_queued(PgStream *s)
{
    Reader *rd = s->reader;
    if (!rd)
        return false;
    if (rd->taken_i < rd->taken_n)
        return true;
    pthread_mutex_lock(&rd->mu);
    bool queued = rd->count > 0;
    pthread_mutex_unlock(&rd->mu);
    return queued;
}

bool pgstream_send_status(PgStream *s, Lsn write, Lsn flush, bool reply_requested, Err *err)
{
    Reader *rd = s->reader;
    if (!rd)
        return send_status_now(s, write, flush, reply_requested, err);
    pthread_mutex_lock(&rd->mu);
    bool failed = rd->failed;
    if (failed) {
        *err = rd->fail_err;
    } else {
        rd->status_pending = true;
        rd->st_write = rd->last_write = write;
        rd->st_flush = rd->last_flush = flush;
        rd->st_reply = reply_requested;
        pthread_cond_signal(&rd->room_cv);
    }
    pthread_mutex_unlock(&rd->mu);
    if (failed)
        return false;
    reader_wake(rd);
    return true;
}

void pgstream_set_ping(PgStream *s, int64_t every_ms)
{
    Reader *rd = s->reader;
    if (!rd)
        return;
    pthread_mutex_lock(&rd->mu);
    rd->ping_ms = every_ms > 0 ? every_ms : 0;
    pthread_mutex_unlock(&rd->mu);
    reader_wake(rd);
}

int64_t pgstream_heard_ms(PgStream *s)
{
    Reader *rd = s->reader;
    if (!rd)
        return 0;
    pthread_mutex_lock(&rd->mu);
    int64_t heard = rd->heard_ms;
    pthread_mutex_unlock(&rd->mu);
    return heard;
}

bool pgstream_finish(PgStream *s, Err *err)
{
    reader_stop(s);
    if (!s->copying || !s->pg)
        return true;
    s->copying = false;
    if (PQputCopyEnd(s->pg, NULL) < 0 || !flush_output(s, err))
        return conn_error(s, ERR_PG_CONNECT, "ending the replication stream", err);
    /* Drain what the server still sends until it acknowledges the end, for at most
     * STREAM_FINISH_MS: a server that never answers must not hang a clean stop. */
    int64_t deadline = clock_mono_ms() + STREAM_FINISH_MS;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(s->pg, &buf, 1);
        if (buf)
            PQfreemem(buf);
        if (n < 0)
            break;
        if (n > 0)
            continue;
        int64_t left = deadline - clock_mono_ms();
        struct pollfd pfd = {.fd = PQsocket(s->pg), .events = POLLIN};
        if (left <= 0 || pfd.fd < 0 || poll(&pfd, 1, (int)left) <= 0 || !PQconsumeInput(s->pg))
            return err_set(err, ERR_TIMEOUT, "ending the replication stream: the server did not acknowledge");
    }
    if (PQisBusy(s->pg))
        return true;  /* the final result is still on its way; closing the connection ends it */
    PGresult *res;
    while ((res = PQgetResult(s->pg)))
        PQclear(res);
    return true;
}

/*
 * Unit tests for pg/stream's reader thread through its wire seam (PgWire): a fake
 * wire hands over CopyData frames - the XLogData and keepalive frames a real
 * PostgreSQL 15 sent (tests/fixtures/walframes/stream.frames), and keepalives made
 * here where the capture has none asking for a reply - and records the status
 * updates put on it. Shows: frames come out of pgstream_next
 * in order and byte for byte; a status update is sent as the 34-byte 'r' message; a
 * keepalive that asks for a reply is answered by the reader thread alone with the
 * position last handed over (asking for a reply in turn when pings are on); pings on their own; the end of the
 * stream comes after the frames before it; when the server last heard us for certain moves
 * only with a frame that came in after a status went out.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/mem.h"
#include "pg/pgoutput.h"
#include "pg/stream.h"
#include "pg/walproto.h"
#include "test_util.h"

/* ---- the fake wire ---- */

#define MAX_FRAMES 4096

typedef struct Frame {
    uint8_t *data;
    size_t len;
} Frame;

typedef struct FakeWire {
    pthread_mutex_t mu;
    int pipe[2];                   /* a byte written: input to read */
    Frame in[MAX_FRAMES];          /* frames the server "sent" */
    size_t in_count, in_next;
    bool ends;                     /* after the frames: the stream ends */
    Frame out[64];                 /* status updates put on the wire */
    size_t out_count;
} FakeWire;

static int fake_socket(void *ctx) { return ((FakeWire *)ctx)->pipe[0]; }

static bool fake_consume(void *ctx, Err *err)
{
    (void)err;
    char drain[64];
    while (read(((FakeWire *)ctx)->pipe[0], drain, sizeof drain) > 0) {
    }
    return true;
}

static int fake_get_frame(void *ctx, char **frame, Err *err)
{
    FakeWire *w = ctx;
    pthread_mutex_lock(&w->mu);
    int n = 0;
    if (w->in_next < w->in_count) {
        Frame f = w->in[w->in_next++];
        *frame = xmalloc(f.len);
        memcpy(*frame, f.data, f.len);
        n = (int)f.len;
    } else if (w->ends) {
        err_set(err, ERR_PG_CONNECT, "replication stream ended: server closed the connection");
        n = -1;
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

static bool fake_put_frame(void *ctx, const char *data, int len, Err *err)
{
    (void)err;
    FakeWire *w = ctx;
    pthread_mutex_lock(&w->mu);
    if (w->out_count < 64) {
        w->out[w->out_count].data = xmalloc((size_t)len);
        memcpy(w->out[w->out_count].data, data, (size_t)len);
        w->out[w->out_count++].len = (size_t)len;
    }
    pthread_mutex_unlock(&w->mu);
    return true;
}

static void fake_free_frame(void *ctx, char *frame)
{
    (void)ctx;
    free(frame);
}

/* Queue frames as the server would send them, and wake the reader. */
static void send_frames(FakeWire *w, const Frame *frames, size_t n, bool then_end)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++)
        w->in[w->in_count++] = frames[i];
    w->ends = then_end;
    pthread_mutex_unlock(&w->mu);
    cr_assert_eq(write(w->pipe[1], "x", 1), 1);
}

static size_t statuses(FakeWire *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->out_count;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* Wait up to 2 s for the fake to have received n status updates. */
static bool wait_statuses(FakeWire *w, size_t n)
{
    for (int i = 0; i < 200 && statuses(w) < n; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    return statuses(w) >= n;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static Frame keepalive(Lsn wal_end, bool reply)
{
    Frame f = {xcalloc(1, WALPROTO_KEEPALIVE_LEN), WALPROTO_KEEPALIVE_LEN};
    f.data[0] = 'k';
    put_be64(f.data + 1, wal_end);
    put_be64(f.data + 9, 0);
    f.data[17] = reply;
    return f;
}

static FakeWire *wire;
static PgStream *stream;

static void setup(void)
{
    wire = xcalloc(1, sizeof *wire);
    pthread_mutex_init(&wire->mu, NULL);
    cr_assert_eq(pipe(wire->pipe), 0);
    fcntl(wire->pipe[0], F_SETFL, O_NONBLOCK);
    PgWire pw = {wire, fake_socket, fake_consume, fake_get_frame, fake_put_frame, fake_free_frame};
    Err err;
    stream = pgstream_over_wire(&pw, 0x1000, &err);
    cr_assert_not_null(stream, "%s", err.msg);
}

static void teardown(void)
{
    pgstream_close(stream);
    for (size_t i = 0; i < wire->in_count; i++)
        free(wire->in[i].data);
    for (size_t i = 0; i < wire->out_count; i++)
        free(wire->out[i].data);
    close(wire->pipe[0]);
    close(wire->pipe[1]);
    pthread_mutex_destroy(&wire->mu);
    free(wire);
}

TestSuite(stream, .init = setup, .fini = teardown);

/* The frames of a real replication session (tests/fixtures/walframes/README.md). */
static size_t captured_frames(Frame *out, size_t max, uint8_t **capture)
{
    size_t n = 0, count = 0;
    *capture = read_fixture("walframes/stream.frames", &n);
    for (size_t at = 0; at + 4 <= n && count < max;) {
        size_t len = (size_t)(*capture)[at] << 24 | (size_t)(*capture)[at + 1] << 16 |
                     (size_t)(*capture)[at + 2] << 8 | (*capture)[at + 3];
        cr_assert_leq(at + 4 + len, n, "a frame runs past the end of the capture");
        out[count].data = xmalloc(len);
        memcpy(out[count].data, *capture + at + 4, len);
        out[count++].len = len;
        at += 4 + len;
    }
    return count;
}

Test(stream, frames_come_out_in_order_byte_for_byte)
{
    static Frame sent[MAX_FRAMES];
    uint8_t *capture;
    size_t n = captured_frames(sent, MAX_FRAMES, &capture);
    cr_assert_gt(n, 300, "the capture holds a streamed transaction");
    send_frames(wire, sent, n / 2, false);
    send_frames(wire, sent + n / 2, n - n / 2, false);
    Err err;
    size_t got = 0, keepalives = 0, commits = 0, stream_blocks = 0;
    PgoDecoder d;
    pgo_decoder_init(&d, PGO_ABORT_INFO_NO);
    while (got < n) {
        const uint8_t *frame;
        size_t len;
        int rc = pgstream_next(stream, 100, &frame, &len, &err);
        cr_assert_geq(rc, 0, "%s", err.msg);
        if (rc == 0)
            continue;
        cr_assert_eq(len, wire->in[got].len, "frame %zu", got);
        cr_assert_eq(memcmp(frame, wire->in[got].data, len), 0, "frame %zu", got);
        WalMsg msg;
        cr_assert(walproto_decode(frame, len, &msg, &err), "%s", err.msg);
        if (msg.kind == WAL_MSG_KEEPALIVE) {
            keepalives++;
        } else {
            PgoEvent ev;
            cr_assert(pgo_decode(&d, msg.u.xlog.payload, msg.u.xlog.payload_len, &ev, &err), "%s", err.msg);
            commits += ev.type == PGO_COMMIT || ev.type == PGO_STREAM_COMMIT;
            stream_blocks += ev.type == PGO_STREAM_START;
        }
        got++;
    }
    cr_assert_gt(keepalives, 0);
    cr_assert_gt(commits, 3);
    cr_assert_gt(stream_blocks, 1, "the large transaction came in several stream blocks");
    cr_assert_not(pgstream_has_queued(stream));
    const uint8_t *frame;
    size_t len;
    cr_assert_eq(pgstream_next(stream, 20, &frame, &len, &err), 0, "nothing more: a timeout");
    pgo_decoder_free(&d);
    free(capture);
}

Test(stream, a_status_update_is_the_standby_message)
{
    Err err;
    cr_assert(pgstream_send_status(stream, 0x5000, 0x4000, true, &err), "%s", err.msg);
    cr_assert(wait_statuses(wire, 1), "the reader sent it");
    const Frame *st = &wire->out[0];
    cr_assert_eq(st->len, WALPROTO_STATUS_LEN);
    cr_assert_eq(st->data[0], 'r');
    cr_assert_eq(be64(st->data + 1), 0x5000, "write");
    cr_assert_eq(be64(st->data + 9), 0x4000, "flush");
    cr_assert_eq(be64(st->data + 17), 0x4000, "apply = flush");
    cr_assert_eq(st->data[33], 1, "reply requested");
}

Test(stream, a_keepalive_asking_for_a_reply_is_answered_by_the_reader_alone)
{
    Err err;
    cr_assert(pgstream_send_status(stream, 0x5000, 0x4000, false, &err), "%s", err.msg);
    cr_assert(wait_statuses(wire, 1));
    Frame k[] = {keepalive(0x9000, false), keepalive(0x9100, true)};
    send_frames(wire, k, 2, false);
    /* the caller is busy (it does not call pgstream_next): the reader answers */
    cr_assert(wait_statuses(wire, 2), "the keepalive was answered");
    const Frame *st = &wire->out[1];
    cr_assert_eq(be64(st->data + 1), 0x5000, "the write position last handed over");
    cr_assert_eq(be64(st->data + 9), 0x4000, "never more than the loop confirmed");
    cr_assert_eq(st->data[33], 0);
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    cr_assert_eq(statuses(wire), 2, "a keepalive that asks for nothing gets no answer");
    const uint8_t *frame;
    size_t len;
    cr_assert_eq(pgstream_next(stream, 100, &frame, &len, &err), 1, "%s", err.msg);
    cr_assert_eq(pgstream_next(stream, 100, &frame, &len, &err), 1, "both keepalives reach the loop too");
    cr_assert_eq(frame[17], 1);
}

Test(stream, the_end_of_the_stream_comes_after_the_frames_before_it)
{
    Frame f[] = {keepalive(0x100, false), keepalive(0x200, false), keepalive(0x300, false)};
    send_frames(wire, f, 3, false);
    for (int i = 0; i < 200 && !pgstream_has_queued(stream); i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    cr_assert(pgstream_has_queued(stream), "the reader queued them");
    send_frames(wire, NULL, 0, true);
    Err err;
    const uint8_t *frame;
    size_t len;
    int rc, got = 0;
    while ((rc = pgstream_next(stream, 100, &frame, &len, &err)) >= 0)
        got += rc;
    cr_assert_eq(got, 3, "every frame received before the end");
    cr_assert_eq(err.code, ERR_PG_CONNECT);
    cr_assert(strstr(err.msg, "server closed the connection"), "%s", err.msg);
    cr_assert_not(pgstream_send_status(stream, 1, 1, false, &err), "a broken stream takes no status");
    cr_assert_eq(pgstream_next(stream, 10, &frame, &len, &err), -1, "and stays broken");
}

static int64_t wait_heard_after(int64_t after)
{
    for (int i = 0; i < 200 && pgstream_heard_ms(stream) <= after; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    return pgstream_heard_ms(stream);
}

Test(stream, the_server_heard_us_when_a_frame_came_after_our_status)
{
    int64_t start = pgstream_heard_ms(stream);
    cr_assert_gt(start, 0, "the start of replication counts as heard");
    nanosleep(&(struct timespec){.tv_nsec = 30 * 1000 * 1000}, NULL);
    Frame k1[] = {keepalive(0x2000, false)};
    send_frames(wire, k1, 1, false);
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    cr_assert_eq(pgstream_heard_ms(stream), start, "a frame without a status before it proves nothing new");
    Err err;
    int64_t before = clock_mono_ms();
    cr_assert(pgstream_send_status(stream, 0x2000, 0x2000, true, &err), "%s", err.msg);
    cr_assert(wait_statuses(wire, 1));
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    cr_assert_eq(pgstream_heard_ms(stream), start, "a status alone proves nothing");
    Frame k2[] = {keepalive(0x2100, false)};
    send_frames(wire, k2, 1, false);
    int64_t heard = wait_heard_after(start);
    cr_assert_geq(heard, before, "the answer came after the status went out");
    cr_assert_leq(heard, clock_mono_ms());
}

Test(stream, with_pings_the_reader_asks_for_replies_on_its_own)
{
    int64_t start = pgstream_heard_ms(stream);
    pgstream_set_ping(stream, 50);
    cr_assert(wait_statuses(wire, 2), "the reader pinged on its own, the caller idle");
    cr_assert_eq(wire->out[0].data[33], 1, "a ping asks for a reply");
    cr_assert_eq(be64(wire->out[0].data + 9), 0x1000, "repeating the position last handed over");
    Frame k[] = {keepalive(0x3000, true)};
    send_frames(wire, k, 1, false);
    size_t before = statuses(wire);
    cr_assert(wait_statuses(wire, before + 1), "the keepalive was answered");
    cr_assert_eq(wire->out[before].data[33], 1, "the answer asks for a reply in turn");
    cr_assert_gt(wait_heard_after(start), start, "the server's frame after a ping moves when it heard us");
    pgstream_set_ping(stream, 0);
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    size_t now = statuses(wire);
    nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
    cr_assert_eq(statuses(wire), now, "no pings once off");
}

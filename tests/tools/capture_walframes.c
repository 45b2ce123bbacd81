/*
 * tests/tools/capture_walframes.c - capture the CopyData frames a real server sends on a
 * replication connection (XLogData and keepalives, exactly as pg/stream receives them)
 * into a fixture for tests/unit/pg/stream_test.c. Run by scripts/capture-walframes.sh.
 *
 * usage: capture_walframes SLOT PUBLICATION END_LSN OUT   (the DSN in DATABASE_URL)
 * Streams the slot with protocol 2, streaming and messages on, until a keepalive reports
 * END_LSN sent; writes each frame as a 4-byte big-endian length and its bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/secret.h"
#include "pg/lsn.h"
#include "pg/stream.h"
#include "pg/walproto.h"

int main(int argc, char **argv)
{
    const char *dsn = getenv("DATABASE_URL");
    Lsn end;
    Err err;
    if (argc != 5 || !dsn || !lsn_parse(argv[3], &end, &err)) {
        fprintf(stderr, "usage: capture_walframes SLOT PUBLICATION END_LSN OUT (DSN in DATABASE_URL)\n");
        return 2;
    }
    FILE *out = fopen(argv[4], "wb");
    Secret *secret = secret_new(dsn);
    PgStream *s = out ? pgstream_connect(secret, &err) : NULL;
    PgStreamOptions so = {.slot = argv[1], .publication = argv[2], .proto_version = 2, .streaming = true,
                          .messages = true};
    bool ok = s && pgstream_start(s, &so, 0, &err);
    int64_t deadline = clock_mono_ms() + 30000;
    size_t frames = 0;
    while (ok) {
        const uint8_t *frame;
        size_t len;
        int rc = pgstream_next(s, 100, &frame, &len, &err);
        if (rc < 0 || clock_mono_ms() > deadline) {
            ok = rc >= 0 ? !err_set(&err, ERR_TIMEOUT, "no keepalive reached %s in 30 s", argv[3]) : false;
            break;
        }
        if (rc == 0)
            continue;
        uint8_t head[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
        ok = fwrite(head, 1, 4, out) == 4 && fwrite(frame, 1, len, out) == len;
        frames++;
        WalMsg msg;
        if (ok && walproto_decode(frame, len, &msg, &err) && msg.kind == WAL_MSG_KEEPALIVE &&
            msg.u.keepalive.wal_end >= end)
            break;
    }
    if (s && ok && !pgstream_finish(s, &err))
        ok = false;
    pgstream_close(s);
    secret_free(secret);
    if (out && fclose(out) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "capture_walframes: %s\n", out ? err.msg : "cannot write the output file");
        return 1;
    }
    fprintf(stderr, "capture_walframes: %zu frames into %s\n", frames, argv[4]);
    return 0;
}

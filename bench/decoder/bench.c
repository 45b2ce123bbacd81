/*
 * bench/decoder/bench.c - throughput of the pgoutput decoder (and of decode + NDJSON rendering).
 *
 * Loads pg_recvlogical captures, splits them into messages once, then decodes
 * the whole message list repeatedly from memory for at least --seconds, as the
 * daemon would decode CopyData payloads (pgo_decode_exact per message). Prints
 * messages/s and MB/s of pgoutput payload. Not part of the test build; see run.sh.
 *
 * usage: bench [--seconds S] CAPTURE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "pg/decode_render.h"
#include "pg/pgoutput.h"

typedef struct Msg {
    const uint8_t *p;
    size_t len;
} Msg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "%s: read failed\n", path);
        exit(1);
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

int main(int argc, char **argv)
{
    double min_seconds = 3.0;
    Msg *msgs = NULL;
    size_t nmsgs = 0, cap = 0, bytes = 0;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--seconds") == 0) {
        min_seconds = atof(argv[2]);
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: bench [--seconds S] CAPTURE...\n");
        return 2;
    }
    for (int i = first; i < argc; i++) {
        size_t n;
        uint8_t *data = slurp(argv[i], &n);
        CaptureSplitter s;
        PgoDecoder d;
        PgoEvent ev;
        Err err;
        int rc;
        capture_splitter_init(&s, data, n);
        pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
        while ((rc = capture_next(&s, &d, &ev, &err)) == 1) {
            if (nmsgs == cap) {
                cap = cap ? cap * 2 : 1024;
                msgs = realloc(msgs, cap * sizeof *msgs);
            }
            msgs[nmsgs].p = s.data + s.pos - ev.len - 1;
            msgs[nmsgs].len = ev.len;
            bytes += ev.len;
            nmsgs++;
        }
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", argv[i], err.msg);
            return 1;
        }
        pgo_decoder_free(&d);
    }
    printf("%zu messages, %zu payload bytes per pass (avg %.1f B/message)\n", nmsgs, bytes,
           (double)bytes / (double)nmsgs);

    /* 1. Decoder only. */
    PgoDecoder d;
    PgoEvent ev;
    Err err;
    size_t passes = 0;
    uint64_t sink = 0;
    pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
    double t0 = now_s(), t1;
    do {
        pgo_decoder_reset(&d);
        for (size_t i = 0; i < nmsgs; i++) {
            if (!pgo_decode_exact(&d, msgs[i].p, msgs[i].len, &ev, &err)) {
                fprintf(stderr, "decode failed: %s\n", err.msg);
                return 1;
            }
            sink += ev.type;
        }
        passes++;
        t1 = now_s();
    } while (t1 - t0 < min_seconds);
    double secs = t1 - t0;
    printf("decode:          %10.0f messages/s  %8.1f MB/s  (%zu passes in %.2f s)\n",
           (double)(passes * nmsgs) / secs, (double)(passes * bytes) / secs / 1e6, passes, secs);

    /* 2. Decode + render one NDJSON line per message (what `wal2edge decode` does). */
    DecodeRender r;
    Buf line;
    size_t out_bytes = 0;
    buf_init(&line, DECODE_LINE_MAX);
    decode_render_init(&r);
    passes = 0;
    t0 = now_s();
    do {
        pgo_decoder_reset(&d);
        for (size_t i = 0; i < nmsgs; i++) {
            buf_reset(&line);
            if (!pgo_decode_exact(&d, msgs[i].p, msgs[i].len, &ev, &err) ||
                !decode_render_event(&r, &ev, &line, &err)) {
                fprintf(stderr, "render failed: %s\n", err.msg);
                return 1;
            }
            out_bytes += line.len;
        }
        passes++;
        t1 = now_s();
    } while (t1 - t0 < min_seconds);
    secs = t1 - t0;
    printf("decode + render: %10.0f messages/s  %8.1f MB/s in, %.1f MB/s JSON out\n",
           (double)(passes * nmsgs) / secs, (double)(passes * bytes) / secs / 1e6,
           (double)out_bytes / secs / 1e6);
    buf_free(&line);
    decode_render_free(&r);
    pgo_decoder_free(&d);
    free(msgs);
    return sink == 0;
}

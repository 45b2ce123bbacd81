/*
 * tests/fuzz/pgoutput_fuzz.c - libFuzzer target for pg/pgoutput (+ relcache and rendering).
 *
 * Input: one mode byte (bit 0: start inside a stream block; bits 1-2: Stream
 * Abort trailer auto/no/yes), then bytes decoded as a sequence of messages
 * with pgo_decode until the first error. The remainder is also decoded as a
 * single framed message. Every decoded event is rendered to JSON, so the
 * relation cache and the renderer see what the decoder lets through.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/buf.h"
#include "pg/decode_render.h"
#include "pg/pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    PgoDecoder d;
    PgoEvent ev;
    DecodeRender r;
    Buf out;
    Err err;

    pgo_decoder_init(&d, (PgoAbortInfo)((mode >> 1) % 3));
    d.in_stream = mode & 1;
    d.stream_xid = 0x330;
    decode_render_init(&r);
    buf_init(&out, 1 << 24);

    /* The whole input as exactly one message. */
    if (pgo_decode_exact(&d, p, n, &ev, &err)) {
        buf_reset(&out);
        if (ev.len != n)
            abort();
        (void)decode_render_event(&r, &ev, &out, &err);
    }

    /* The input as back-to-back messages. */
    pgo_decoder_reset(&d);
    d.in_stream = mode & 1;
    while (n > 0 && pgo_decode(&d, p, n, &ev, &err)) {
        if (ev.len == 0 || ev.len > n)
            abort();
        buf_reset(&out);
        (void)decode_render_event(&r, &ev, &out, &err);
        p += ev.len;
        n -= ev.len;
    }

    buf_free(&out);
    decode_render_free(&r);
    pgo_decoder_free(&d);
    return 0;
}

/*
 * tests/fuzz/walproto_fuzz.c - libFuzzer target for pg/walproto: one CopyData
 * payload from the server ('w' XLogData or 'k' keepalive); a 'w' payload is
 * then decoded as one pgoutput message, as the stream does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pg/pgoutput.h"
#include "pg/walproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    WalMsg m;
    Err err;
    if (!walproto_decode(data, size, &m, &err))
        return 0;
    if (m.kind == WAL_MSG_XLOGDATA) {
        if (m.u.xlog.payload != data + WALPROTO_XLOGDATA_HDR ||
            m.u.xlog.payload_len != size - WALPROTO_XLOGDATA_HDR)
            abort();
        PgoDecoder d;
        PgoEvent ev;
        pgo_decoder_init(&d, PGO_ABORT_INFO_AUTO);
        (void)pgo_decode_exact(&d, m.u.xlog.payload, m.u.xlog.payload_len, &ev, &err);
        pgo_decoder_free(&d);
    } else {
        uint8_t out[WALPROTO_STATUS_LEN];
        walproto_encode_status(m.u.keepalive.wal_end, m.u.keepalive.wal_end, 0, m.u.keepalive.send_time,
                               m.u.keepalive.reply_requested, out);
        if (out[0] != 'r')
            abort();
    }
    return 0;
}

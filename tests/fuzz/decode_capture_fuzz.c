/*
 * tests/fuzz/decode_capture_fuzz.c - libFuzzer target for the pg_recvlogical
 * capture splitter and NDJSON renderer (pg/decode_render), i.e. `wal2edge decode`.
 *
 * Input: the capture file's bytes. Every emitted line must end in exactly one
 * newline, the only newline in it (the JSON escapes every 0x0A in values).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg/decode_render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool check_line(void *ctx, const char *line, size_t len, Err *err)
{
    (void)ctx;
    (void)err;
    if (len < 3 || line[0] != '{' || line[len - 2] != '}' || line[len - 1] != '\n')
        abort();
    if (memchr(line, '\n', len - 1))
        abort();
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Err err;
    (void)decode_capture(data, size, check_line, NULL, &err);
    return 0;
}

/*
 * snapshot/ndjson_zst.h - one snapshot part: NDJSON rows compressed with zstd
 *                         in streaming mode into a local file.
 *
 * Owns:     the part file while it is written: the zstd stream (level and
 *           worker threads as configured), the row, raw and compressed byte
 *           counts, and the SHA-256 of the compressed bytes (the manifest's
 *           checksum); memory is bounded by zstd's window plus two fixed
 *           buffers, whatever the part size.
 * Not mine: what a row is (pipeline/rowjson renders it), where the file goes
 *           afterwards (snapshot/sink), the layout (snapshot/export).
 * Pure:     no: writes and fsyncs the one file it is given.
 */
#ifndef WAL2EDGE_SNAPSHOT_NDJSON_ZST_H
#define WAL2EDGE_SNAPSHOT_NDJSON_ZST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct PartInfo {
    uint64_t rows;
    uint64_t raw_bytes;        /* NDJSON bytes before compression */
    uint64_t bytes;            /* compressed bytes: the object's size */
    char sha256[65];           /* lower-case hex of the compressed bytes */
} PartInfo;

typedef struct PartWriter PartWriter;

/* level: zstd level (1..19; 0 → 3). */
PartWriter *partw_new(int level, Err *err) WARN_UNUSED;
void partw_free(PartWriter *w);   /* an open part is abandoned (its file stays) */

/* Start a new part at path (created or truncated). */
bool partw_open(PartWriter *w, const char *path, Err *err) WARN_UNUSED;
/* Append one row (a JSON object without newline); the newline is added. */
bool partw_add_row(PartWriter *w, const char *json, size_t len, Err *err) WARN_UNUSED;
/* Compressed bytes written to the file so far (grows by zstd blocks). */
uint64_t partw_bytes(const PartWriter *w);
uint64_t partw_rows(const PartWriter *w);
bool partw_is_open(const PartWriter *w);
/* End the zstd frame, fsync and close; *out describes the part. */
bool partw_close(PartWriter *w, PartInfo *out, Err *err) WARN_UNUSED;


/* ---- reading a part back (warm --from-snapshot) ----
 * A PartReader decompresses one part in streaming mode and hands out its
 * lines, while hashing the compressed bytes it is given (to compare with the
 * manifest's checksum). Memory: zstd's window, one output block and the
 * longest line (capped at PARTR_MAX_LINE). Pure: bytes in, lines out. */

#define PARTR_MAX_LINE ((size_t)512 * 1024 * 1024)

typedef struct PartReader PartReader;

PartReader *partr_new(Err *err) WARN_UNUSED;
void partr_free(PartReader *r);
/* Start a new part (name for messages). */
bool partr_reset(PartReader *r, const char *name, Err *err) WARN_UNUSED;
/* Hand over the next compressed bytes; they are borrowed until partr_next
 * returns 0 (wants more input). */
void partr_input(PartReader *r, const void *data, size_t len);
/* 1: the next line (without its newline) in *line and *len, valid until the next
 * call; 0: wants more input (or, after the last input, the part is read);
 * -1: corrupt data or a line over the cap (ERR_PROTOCOL / ERR_TOO_LARGE). */
int partr_next(PartReader *r, const char **line, size_t *len, Err *err) WARN_UNUSED;
/* After the last input: the frame must be complete and end with a newline;
 * *out gets rows, raw and compressed bytes and the SHA-256 of what was fed. */
bool partr_finish(PartReader *r, PartInfo *out, Err *err) WARN_UNUSED;

#endif

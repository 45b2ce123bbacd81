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

/* SHA-256 (hex) and size of a whole file, to check a part that is already written. */
bool partw_file_sha256(const char *path, char out[65], uint64_t *size, Err *err) WARN_UNUSED;

#endif

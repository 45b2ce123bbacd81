/*
 * snapshot/reader.h - reading one table of a finished snapshot back, row by
 *                     row (warm --from-snapshot).
 *
 * Owns:     where a table's snapshot is (the mapping's "snapshot" bucket and
 *           prefix, or the only r2 target, as `snapshot` chose it:
 *           PREFIX/TABLE/SNAPSHOT_ID), telling a finished snapshot (its
 *           manifest.json exists: it is written last) from a missing or an
 *           unfinished one, the manifest fields a reader needs (LSN, columns
 *           with their type OIDs, parts), streaming every part in
 *           manifest order from the local directory or R2 (ranged GETs) through
 *           the part decompressor, and checking each part against the manifest
 *           (size, SHA-256, rows) when it ends.
 * Not mine: decompression (snapshot/ndjson_zst), the manifest's shape as
 *           written (snapshot/manifest), what a row means (snapshot/pgtext),
 *           S3 signing and retries (cf/r2).
 * Pure:     no (files, network).
 * Memory:   bounded: one read chunk, zstd's window and the longest row.
 * Trust:    manifests and parts are read as untrusted: sizes capped, a part
 *           that differs from its manifest entry is an error (ERR_CHECK),
 *           never silently used beyond the rows already handed out.
 */
#ifndef WAL2EDGE_SNAPSHOT_READER_H
#define WAL2EDGE_SNAPSHOT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/lsn.h"

typedef struct SnapReader SnapReader;

/*
 * Open snapshot `id` of table `qualname` (mapping m, may be NULL; bucket: an
 * r2 target name that overrides the default, may be NULL). A snapshot without
 * its manifest is refused: ERR_USAGE when nothing of it exists, ERR_CHECK when
 * parts exist but the manifest does not (interrupted or still running).
 */
SnapReader *snapreader_open(const Config *cfg, const Mapping *m, const char *qualname, const char *bucket,
                            const char *id, Err *err) WARN_UNUSED;
void snapreader_free(SnapReader *r);

/* "r2.lake (bucket lake) bronze/public.users/ID": for messages. */
const char *snapreader_describe(const SnapReader *r);
Lsn snapreader_lsn(const SnapReader *r);
uint64_t snapreader_rows(const SnapReader *r);
size_t snapreader_column_count(const SnapReader *r);
const char *snapreader_column(const SnapReader *r, size_t i);
uint32_t snapreader_column_type(const SnapReader *r, size_t i);

/* For messages: the part being read and the 1-based row in it of the last row
 * handed out; false before the first row and after the last part. */
bool snapreader_position(const SnapReader *r, const char **part_key, uint64_t *row);

/* 1: the next row (one JSON object, no newline), valid until the next call;
 * 0: every part was read and matched its manifest entry; -1: error. */
int snapreader_next(SnapReader *r, const char **line, size_t *len, Err *err) WARN_UNUSED;

#endif

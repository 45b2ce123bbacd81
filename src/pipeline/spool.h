/*
 * pipeline/spool.h - append-only files of raw pgoutput messages.
 *
 * Owns:     the on-disk staging of transactions that cannot go to the targets
 *           yet: streamed in-progress transactions (per top-level xid) and
 *           prepared two-phase transactions (per GID). Records keep the
 *           message bytes exactly as received, so replay decodes them with
 *           the same decoder as the live stream.
 * Not mine: deciding what to stage or replay (pipeline/assembler).
 * Trust:    spool files are our own, but they are read back with the same
 *           bounds checks as the network (a torn tail after a crash is an
 *           error, never an over-read).
 *
 * Record: kind u8 ('D' data, 'X' subtransaction aborted), flags u8 (bit 0:
 * the message carries a stream xid prefix), len u32, xid u32, lsn u64, then
 * len payload bytes. Integers are little-endian host order: spools never
 * leave the machine.
 */
#ifndef WAL2EDGE_PIPELINE_SPOOL_H
#define WAL2EDGE_PIPELINE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/lsn.h"

#define SPOOL_KIND_DATA 'D'
#define SPOOL_KIND_SUBABORT 'X'
#define SPOOL_FLAG_STREAM_PREFIX 0x01
/* One pgoutput message never exceeds Postgres' 1 GB field limit by much. */
#define SPOOL_MAX_RECORD ((uint32_t)1 << 30)

typedef struct SpoolWriter SpoolWriter;
typedef struct SpoolReader SpoolReader;

typedef struct SpoolRecord {
    uint8_t kind;
    uint8_t flags;
    uint32_t xid;
    Lsn lsn;
    const uint8_t *payload;    /* borrowed until the next spool_read */
    uint32_t len;
} SpoolRecord;

/* Create (truncating) or append to a spool file. */
SpoolWriter *spool_writer_open(const char *path, bool append, Err *err) WARN_UNUSED;
bool spool_append(SpoolWriter *w, uint8_t kind, uint8_t flags, uint32_t xid, Lsn lsn,
                  const uint8_t *payload, uint32_t len, Err *err) WARN_UNUSED;
/* Flush and fsync the file and its directory entry. */
bool spool_sync(SpoolWriter *w, Err *err) WARN_UNUSED;
/* Close; reports a failed final write. NULL is a no-op that succeeds. */
bool spool_writer_close(SpoolWriter *w, Err *err) WARN_UNUSED;
uint64_t spool_writer_bytes(const SpoolWriter *w);

SpoolReader *spool_reader_open(const char *path, Err *err) WARN_UNUSED;
/* 1: *rec filled; 0: clean end of file; -1: error (torn or corrupt record). */
int spool_read(SpoolReader *r, SpoolRecord *rec, Err *err) WARN_UNUSED;
/* Start reading again from the first record. */
bool spool_rewind(SpoolReader *r, Err *err) WARN_UNUSED;
void spool_reader_close(SpoolReader *r);

#endif

/*
 * pipeline/spool.c - see spool.h.
 *
 * A spool is a FILE with a 1 MiB stdio buffer: appends are buffered writes of an
 * 18-byte header and the payload, and spool_sync (fflush, fsync, then the parent
 * directory) is the only point where they become durable. The reader reuses one
 * payload buffer that grows to the largest record, checks kind and length before
 * reading a payload, and reports a short header or payload as truncation at its
 * byte offset; a clean end of file between records is the end.
 */
#include "pipeline/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/mem.h"

#define SPOOL_HEADER 18
#define SPOOL_IO_BUFFER (1 << 20)

struct SpoolWriter {
    FILE *f;
    char *path;
    char *iobuf;
    uint64_t bytes;
};

struct SpoolReader {
    FILE *f;
    char *path;
    char *iobuf;
    uint8_t *payload;
    size_t payload_cap;
    uint64_t offset;
};

SpoolWriter *spool_writer_open(const char *path, bool append, Err *err)
{
    FILE *f = fopen(path, append ? "ab" : "wb");
    if (!f)
        return err_sys(err, ERR_IO, "cannot open spool file \"%s\"", path), NULL;
    SpoolWriter *w = xcalloc(1, sizeof *w);
    w->f = f;
    w->path = xstrdup(path);
    w->iobuf = xmalloc(SPOOL_IO_BUFFER);
    setvbuf(f, w->iobuf, _IOFBF, SPOOL_IO_BUFFER);
    if (append) {
        long end = ftell(f);
        w->bytes = end > 0 ? (uint64_t)end : 0;
    }
    return w;
}

bool spool_append(SpoolWriter *w, uint8_t kind, uint8_t flags, uint32_t xid, Lsn lsn,
                  const uint8_t *payload, uint32_t len, Err *err)
{
    if (len > SPOOL_MAX_RECORD)
        return err_set(err, ERR_TOO_LARGE, "spool record of %u bytes is too large", len);
    uint8_t header[SPOOL_HEADER];
    header[0] = kind;
    header[1] = flags;
    memcpy(header + 2, &len, 4);
    memcpy(header + 6, &xid, 4);
    memcpy(header + 10, &lsn, 8);
    if (fwrite(header, 1, sizeof header, w->f) != sizeof header ||
        (len && fwrite(payload, 1, len, w->f) != len))
        return err_sys(err, ERR_IO, "writing spool file \"%s\"", w->path);
    w->bytes += sizeof header + len;
    return true;
}

bool spool_sync(SpoolWriter *w, Err *err)
{
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        return err_sys(err, ERR_IO, "syncing spool file \"%s\"", w->path);
    return fs_sync_parent_dir(w->path, err);
}

bool spool_writer_close(SpoolWriter *w, Err *err)
{
    if (!w)
        return true;
    bool ok = fclose(w->f) == 0 || err_sys(err, ERR_IO, "closing spool file \"%s\"", w->path);
    free(w->iobuf);
    free(w->path);
    free(w);
    return ok;
}

uint64_t spool_writer_bytes(const SpoolWriter *w) { return w->bytes; }

SpoolReader *spool_reader_open(const char *path, Err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_sys(err, ERR_IO, "cannot open spool file \"%s\"", path), NULL;
    SpoolReader *r = xcalloc(1, sizeof *r);
    r->f = f;
    r->path = xstrdup(path);
    r->iobuf = xmalloc(SPOOL_IO_BUFFER);
    setvbuf(f, r->iobuf, _IOFBF, SPOOL_IO_BUFFER);
    return r;
}

int spool_read(SpoolReader *r, SpoolRecord *rec, Err *err)
{
    uint8_t header[SPOOL_HEADER];
    size_t got = fread(header, 1, sizeof header, r->f);
    if (got == 0 && feof(r->f))
        return 0;
    if (got != sizeof header) {
        err_set(err, ERR_IO, "spool file \"%s\" is truncated at byte %llu", r->path,
                (unsigned long long)r->offset);
        return -1;
    }
    rec->kind = header[0];
    rec->flags = header[1];
    memcpy(&rec->len, header + 2, 4);
    memcpy(&rec->xid, header + 6, 4);
    memcpy(&rec->lsn, header + 10, 8);
    if ((rec->kind != SPOOL_KIND_DATA && rec->kind != SPOOL_KIND_SUBABORT) ||
        rec->len > SPOOL_MAX_RECORD) {
        err_set(err, ERR_IO, "spool file \"%s\" is corrupt at byte %llu", r->path,
                (unsigned long long)r->offset);
        return -1;
    }
    if (rec->len > r->payload_cap) {
        r->payload = xrealloc(r->payload, rec->len);
        r->payload_cap = rec->len;
    }
    if (rec->len && fread(r->payload, 1, rec->len, r->f) != rec->len) {
        err_set(err, ERR_IO, "spool file \"%s\" is truncated at byte %llu", r->path,
                (unsigned long long)r->offset);
        return -1;
    }
    rec->payload = r->payload;
    r->offset += sizeof header + rec->len;
    return 1;
}

bool spool_rewind(SpoolReader *r, Err *err)
{
    if (fseek(r->f, 0, SEEK_SET) != 0)
        return err_sys(err, ERR_IO, "rewinding spool file \"%s\"", r->path);
    r->offset = 0;
    return true;
}

void spool_reader_close(SpoolReader *r)
{
    if (!r)
        return;
    fclose(r->f);
    free(r->iobuf);
    free(r->payload);
    free(r->path);
    free(r);
}

/*
 * snapshot/reader.c - see reader.h and docs/snapshots.md.
 *
 * Opening fetches the table's manifest (a directory under the bucket's path, or
 * R2 through cf/r2); when it is missing, anything else under the snapshot's
 * directory means an unfinished snapshot, which gets its own message. The manifest
 * is checked strictly (format, table, id, LSN, columns, parts whose rows add up).
 * Rows are then read part after part: compressed bytes are fed to a PartReader in
 * 1 MiB reads from a local file or 8 MiB ranged GETs from R2, and every part is
 * held to its manifest entry (SHA-256, size, rows, raw bytes). A local part is
 * hashed whole before any of its rows is used (a second read costs little next
 * to decompressing); an R2 part is checked when it ends.
 */
#include "snapshot/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf/r2.h"
#include "cf/r2_target.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/mem.h"
#include "snapshot/export.h"
#include "snapshot/manifest.h"
#include "snapshot/ndjson_zst.h"

#define READER_CHUNK_LOCAL ((size_t)1024 * 1024)
#define READER_CHUNK_R2 ((uint64_t)8 * 1024 * 1024)
#define READER_MANIFEST_MAX ((size_t)64 * 1024 * 1024)

typedef struct RPart {
    char *key;
    uint64_t rows, bytes, raw_bytes;
    char sha256[65];
} RPart;

struct SnapReader {
    char *desc;
    char *id, *table, *dir;
    char *local_root;          /* embedded: the bucket's directory */
    R2Client *r2;
    Lsn lsn;
    uint64_t rows;
    char **col_names;
    uint32_t *col_types;
    size_t col_count;
    RPart *parts;
    size_t part_count;
    /* reading */
    PartReader *pr;
    size_t part;               /* the part being read; part_count: done */
    bool part_open;
    int fd;                    /* local */
    uint64_t offset;           /* next byte of the part to fetch */
    uint64_t row_in_part;      /* rows of the current part handed out */
    Buf chunk;                 /* R2: one ranged GET */
    char *local_buf;           /* local: one read */
};

static bool connect_store(SnapReader *r, const Config *cfg, const ConfigTarget *t, Err *err)
{
    if (target_is_embedded(t)) {
        r->local_root = xstrdup(t->embedded_path);
        size_t n = strlen(r->local_root);
        while (n > 1 && r->local_root[n - 1] == '/')
            r->local_root[--n] = '\0';
        r->desc = xasprintf("r2.%s (%s) %s", t->name, r->local_root, r->dir);
        return true;
    }
    r->desc = xasprintf("r2.%s (bucket %s) %s", t->name, t->remote_id, r->dir);
    r->r2 = r2_client_for_target(cfg, t, NULL, err);
    return r->r2 != NULL;
}

/* The manifest as JSON (*root NULL with *why when it does not parse); *found false when it does not exist. */
static bool fetch_manifest(SnapReader *r, json_t **root, char *why, size_t why_len, bool *found, Err *err)
{
    *found = false;
    *root = NULL;
    char *key = xasprintf("%s/%s", r->dir, MANIFEST_NAME);
    json_error_t je = {.text = ""};
    bool ok = true;
    if (r->r2) {
        Buf text;
        buf_init(&text, READER_MANIFEST_MAX);
        ok = r2_get_object(r->r2, key, 0, 0, READER_MANIFEST_MAX, &text, NULL, found, err);
        if (ok && *found)
            *root = json_loadb(text.data ? text.data : "", text.len, 0, &je);
        buf_free(&text);
    } else {
        char *path = xasprintf("%s/%s", r->local_root, key);
        struct stat st;
        if (stat(path, &st) == 0) {
            *found = true;
            if ((uint64_t)st.st_size > READER_MANIFEST_MAX)
                ok = err_set(err, ERR_TOO_LARGE, "\"%s\" is larger than %zu bytes", path, READER_MANIFEST_MAX);
            else
                *root = json_load_file(path, 0, &je);
        } else if (errno != ENOENT) {
            ok = err_sys(err, ERR_IO, "cannot open \"%s\"", path);
        }
        free(path);
    }
    free(key);
    snprintf(why, why_len, "%s", je.text);
    if (!ok)
        err_prefix(err, "%s", r->desc);
    return ok;
}

/* Whether anything exists under dir/ (to tell an unfinished snapshot from a missing one). */
static bool anything_under(SnapReader *r, bool *out, Err *err)
{
    *out = false;
    if (!r->r2) {
        char *path = xasprintf("%s/%s", r->local_root, r->dir);
        struct stat st;
        *out = stat(path, &st) == 0;
        free(path);
        return true;
    }
    char *prefix = xasprintf("%s/", r->dir);
    R2ListResult res = {0};
    bool ok = r2_list_objects(r->r2, prefix, NULL, NULL, 1, &res, err);
    *out = ok && res.count > 0;
    r2_list_result_free(&res);
    free(prefix);
    return ok;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool ju64(const json_t *o, const char *k, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool parse_manifest(SnapReader *r, json_t *root, const char *parse_error, Err *err)
{
    bool ok = root != NULL;
    const char *why = ok ? NULL : parse_error;
    Err sub;
    if (ok && (!jstr(root, "format") || strcmp(jstr(root, "format"), MANIFEST_FORMAT) != 0))
        why = "not a " MANIFEST_FORMAT " manifest";
    else if (ok && (!jstr(root, "lsn") || !lsn_parse(jstr(root, "lsn"), &r->lsn, &sub)))
        why = "no valid \"lsn\"";
    else if (ok && (!jstr(root, "table") || strcmp(jstr(root, "table"), r->table) != 0))
        why = "it is the manifest of another table";
    else if (ok && (!jstr(root, "snapshot_id") || strcmp(jstr(root, "snapshot_id"), r->id) != 0))
        why = "it is the manifest of another snapshot";
    else if (ok && !ju64(root, "rows", &r->rows))
        why = "no \"rows\"";
    json_t *cols = ok && !why ? json_object_get(root, "columns") : NULL;
    json_t *parts = ok && !why ? json_object_get(root, "parts") : NULL;
    if (ok && !why && (!json_is_array(cols) || !json_is_array(parts)))
        why = "no \"columns\" or \"parts\"";
    if (ok && !why) {
        r->col_count = json_array_size(cols);
        r->col_names = xcalloc(r->col_count + 1, sizeof *r->col_names);
        r->col_types = xcalloc(r->col_count + 1, sizeof *r->col_types);
        for (size_t i = 0; !why && i < r->col_count; i++) {
            json_t *c = json_array_get(cols, i);
            uint64_t oid = 0;
            if (!jstr(c, "name") || !ju64(c, "type_oid", &oid) || oid > UINT32_MAX)
                why = "a column without \"name\" or \"type_oid\"";
            else {
                r->col_names[i] = xstrdup(jstr(c, "name"));
                r->col_types[i] = (uint32_t)oid;
            }
        }
        r->part_count = json_array_size(parts);
        r->parts = xcalloc(r->part_count + 1, sizeof *r->parts);
        uint64_t sum = 0;
        for (size_t i = 0; !why && i < r->part_count; i++) {
            json_t *p = json_array_get(parts, i);
            RPart *rp = &r->parts[i];
            const char *sha = jstr(p, "sha256");
            if (!jstr(p, "key") || !ju64(p, "rows", &rp->rows) || !ju64(p, "bytes", &rp->bytes) ||
                !ju64(p, "raw_bytes", &rp->raw_bytes) || !sha || strlen(sha) != 64) {
                why = "a part without \"key\", \"rows\", \"bytes\", \"raw_bytes\" or \"sha256\"";
                break;
            }
            rp->key = xstrdup(jstr(p, "key"));
            memcpy(rp->sha256, sha, 65);
            sum += rp->rows;
        }
        if (!why && sum != r->rows)
            why = "its parts' rows do not add up to its rows";
    }
    json_decref(root);
    if (why)
        return err_set(err, ERR_CHECK, "%s: manifest.json is not usable: %s", r->desc, why);
    return true;
}

void snapreader_free(SnapReader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    partr_free(r->pr);
    r2_client_free(r->r2);
    buf_free(&r->chunk);
    free(r->local_buf);
    for (size_t i = 0; i < r->col_count; i++)
        free(r->col_names[i]);
    free(r->col_names);
    free(r->col_types);
    for (size_t i = 0; i < r->part_count; i++)
        free(r->parts[i].key);
    free(r->parts);
    free(r->desc);
    free(r->id);
    free(r->table);
    free(r->dir);
    free(r->local_root);
    free(r);
}

SnapReader *snapreader_open(const Config *cfg, const Mapping *m, const char *qualname, const char *bucket,
                            const char *id, Err *err)
{
    const ConfigTarget *t = snap_bucket_for(cfg, m, bucket, err);
    if (!t)
        return NULL;
    SnapReader *r = xcalloc(1, sizeof *r);
    r->fd = -1;
    r->id = xstrdup(id);
    r->table = xstrdup(qualname);
    const char *prefix = m && m->snapshot_prefix ? m->snapshot_prefix : "";
    r->dir = xasprintf("%s%s%s/%s", prefix, prefix[0] ? "/" : "", qualname, id);
    buf_init(&r->chunk, READER_CHUNK_R2 + 1);
    bool ok = connect_store(r, cfg, t, err);
    json_t *root = NULL;
    char why[160] = "";
    bool found = false;
    ok = ok && fetch_manifest(r, &root, why, sizeof why, &found, err);
    if (ok && !found) {
        bool partial = false;
        ok = anything_under(r, &partial, err);
        if (ok && partial)
            err_set(err, ERR_CHECK,
                    "snapshot \"%s\" of %s is not complete: %s has no %s (it is written last; the snapshot was "
                    "interrupted or is still running): rerun `wal2edge snapshot --id %s` to finish it, or use "
                    "another snapshot",
                    id, qualname, r->desc, MANIFEST_NAME, id);
        else if (ok)
            err_set(err, ERR_USAGE, "no snapshot \"%s\" of %s in %s (looked for %s/%s)", id, qualname, r->desc,
                    r->dir, MANIFEST_NAME);
        ok = false;
    }
    ok = ok && parse_manifest(r, root, why, err);
    if (ok) {
        r->pr = partr_new(err);
        ok = r->pr != NULL;
    }
    if (!ok) {
        snapreader_free(r);
        return NULL;
    }
    return r;
}

const char *snapreader_describe(const SnapReader *r) { return r->desc; }
Lsn snapreader_lsn(const SnapReader *r) { return r->lsn; }
uint64_t snapreader_rows(const SnapReader *r) { return r->rows; }
size_t snapreader_column_count(const SnapReader *r) { return r->col_count; }
const char *snapreader_column(const SnapReader *r, size_t i) { return r->col_names[i]; }
uint32_t snapreader_column_type(const SnapReader *r, size_t i) { return r->col_types[i]; }

bool snapreader_position(const SnapReader *r, const char **part_key, uint64_t *row)
{
    if (!r->part_open || r->row_in_part == 0)
        return false;
    *part_key = r->parts[r->part].key;
    *row = r->row_in_part;
    return true;
}

static bool part_open(SnapReader *r, Err *err)
{
    const RPart *p = &r->parts[r->part];
    if (!partr_reset(r->pr, p->key, err))
        return false;
    r->offset = 0;
    r->row_in_part = 0;
    if (!r->r2) {
        /* a local part is checked whole before any of its rows is used (reading it twice costs
         * little next to decompressing it); an R2 part is checked when it ends */
        char *path = xasprintf("%s/%s", r->local_root, p->key);
        char sha[65];
        uint64_t size = 0;
        bool ok = fs_sha256_hex(path, 0, FS_TO_END, sha, &size, err);
        if (!ok)
            err_prefix(err, "%s: part listed in the manifest", r->desc);
        else if (strcmp(sha, p->sha256) != 0 || size != p->bytes)
            ok = err_set(err, ERR_CHECK,
                         "%s: part \"%s\" differs from its manifest entry (sha256 %.12s..., %" PRIu64
                         " bytes; the manifest says %.12s..., %" PRIu64 " bytes): the snapshot is damaged",
                         r->desc, p->key, sha, size, p->sha256, p->bytes);
        if (ok) {
            r->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (r->fd < 0)
                ok = err_sys(err, ERR_IO, "%s: cannot open part \"%s\"", r->desc, path);
        }
        free(path);
        if (!ok)
            return false;
    }
    r->part_open = true;
    return true;
}

/* Feed the next chunk of the current part; *eof when the part has no more bytes. */
static bool part_feed(SnapReader *r, bool *eof, Err *err)
{
    const RPart *p = &r->parts[r->part];
    buf_reset(&r->chunk);
    *eof = false;
    if (r->offset >= p->bytes) {
        /* the manifest's size is reached: the object must not be longer */
        if (!r->r2) {
            char one;
            ssize_t n = read(r->fd, &one, 1);
            if (n > 0)
                return err_set(err, ERR_CHECK, "%s: part \"%s\" is longer than its manifest entry (%" PRIu64
                               " bytes)", r->desc, p->key, p->bytes);
        }
        *eof = true;
        return true;
    }
    uint64_t want = p->bytes - r->offset;
    const char *data;
    size_t n;
    if (r->r2) {
        if (want > READER_CHUNK_R2)
            want = READER_CHUNK_R2;
        bool found = false;
        if (!r2_get_object(r->r2, p->key, r->offset, want, (size_t)want + 1, &r->chunk, NULL, &found, err))
            return err_prefix(err, "%s: reading part \"%s\"", r->desc, p->key), false;
        if (!found)
            return err_set(err, ERR_CHECK, "%s: part \"%s\" listed in the manifest does not exist", r->desc,
                           p->key);
        data = r->chunk.data;
        n = r->chunk.len;
    } else {
        if (want > READER_CHUNK_LOCAL)
            want = READER_CHUNK_LOCAL;
        if (!r->local_buf)
            r->local_buf = xmalloc(READER_CHUNK_LOCAL);
        ssize_t k;
        do
            k = read(r->fd, r->local_buf, (size_t)want);
        while (k < 0 && errno == EINTR);
        if (k < 0)
            return err_sys(err, ERR_IO, "%s: cannot read part \"%s\"", r->desc, p->key);
        data = r->local_buf;
        n = (size_t)k;
    }
    if (n == 0)
        return err_set(err, ERR_CHECK, "%s: part \"%s\" is shorter than its manifest entry (%" PRIu64 " bytes)",
                       r->desc, p->key, p->bytes);
    r->offset += n;
    partr_input(r->pr, data, n);
    return true;
}

/* The part is read: it must match its manifest entry. */
static bool part_close(SnapReader *r, Err *err)
{
    const RPart *p = &r->parts[r->part];
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->part_open = false;
    PartInfo info;
    if (!partr_finish(r->pr, &info, err))
        return err_prefix(err, "%s", r->desc), false;
    if (strcmp(info.sha256, p->sha256) != 0 || info.bytes != p->bytes)
        return err_set(err, ERR_CHECK,
                       "%s: part \"%s\" differs from its manifest entry (sha256 %.12s..., %" PRIu64
                       " bytes; the manifest says %.12s..., %" PRIu64 " bytes): the snapshot is damaged",
                       r->desc, p->key, info.sha256, info.bytes, p->sha256, p->bytes);
    if (info.rows != p->rows || info.raw_bytes != p->raw_bytes)
        return err_set(err, ERR_CHECK,
                       "%s: part \"%s\" has %" PRIu64 " rows (%" PRIu64 " bytes); the manifest says %" PRIu64
                       " (%" PRIu64 " bytes)",
                       r->desc, p->key, info.rows, info.raw_bytes, p->rows, p->raw_bytes);
    r->part++;
    return true;
}

int snapreader_next(SnapReader *r, const char **line, size_t *len, Err *err)
{
    while (r->part < r->part_count) {
        if (!r->part_open && !part_open(r, err))
            return -1;
        int rc = partr_next(r->pr, line, len, err);
        if (rc < 0) {
            err_prefix(err, "%s", r->desc);
            return -1;
        }
        if (rc > 0) {
            r->row_in_part++;
            return 1;
        }
        bool eof;
        if (!part_feed(r, &eof, err))
            return -1;
        if (eof && !part_close(r, err))
            return -1;
    }
    return 0;
}

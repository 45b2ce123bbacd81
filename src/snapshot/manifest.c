/*
 * snapshot/manifest.c - see manifest.h.
 *
 * Built with jansson as one object per table: the snapshot's shared fields (id,
 * LSN, times, source, compression), this table's columns, key and parts with
 * their sizes and SHA-256, and a short "tables" list pointing at every table's
 * own manifest, so a reader that finds any one manifest can find the rest.
 * Members keep insertion order and two-space indentation, so the text is stable
 * for diffs. Snapshot ids are restricted to a safe character set of at most 60
 * characters (never "." or "..") because they become path and key components.
 */
#include "snapshot/manifest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *u64(uint64_t v) { return json_integer((json_int_t)v); }

bool manifest_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 60 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-' ||
              *p == '_' || *p == '.'))
            return false;
    return true;
}

char *manifest_json(const Manifest *m, size_t ti)
{
    const ManifestTable *t = &m->tables[ti];
    char lsn[LSN_STR_MAX];
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string(MANIFEST_FORMAT));
    json_object_set_new(root, "snapshot_id", json_string(m->snapshot_id));
    json_object_set_new(root, "lsn", json_string(lsn_format(m->lsn, lsn)));
    json_object_set_new(root, "started_at", str_or_null(m->started_at));
    json_object_set_new(root, "completed_at", str_or_null(m->completed_at));
    json_t *src = json_object();
    json_object_set_new(src, "database", str_or_null(m->database));
    json_object_set_new(src, "slot", str_or_null(m->slot));
    json_object_set_new(root, "source", src);
    json_t *comp = json_object();
    json_object_set_new(comp, "codec", json_string("zstd"));
    json_object_set_new(comp, "level", json_integer(m->level));
    json_object_set_new(comp, "format", json_string("ndjson"));
    json_object_set_new(root, "compression", comp);
    json_object_set_new(root, "table", json_string(t->table));
    json_object_set_new(root, "bucket", str_or_null(t->bucket));
    json_object_set_new(root, "dir", json_string(t->dir));
    json_t *cols = json_array();
    for (size_t i = 0; i < t->col_count; i++) {
        json_t *c = json_object();
        json_object_set_new(c, "name", json_string(t->cols[i].name));
        json_object_set_new(c, "type", str_or_null(t->cols[i].pg_type));
        json_object_set_new(c, "type_oid", json_integer(t->cols[i].type_oid));
        json_object_set_new(c, "not_null", json_boolean(t->cols[i].not_null));
        json_array_append_new(cols, c);
    }
    json_object_set_new(root, "columns", cols);
    json_t *key = json_array();
    for (size_t i = 0; i < t->key_count; i++)
        json_array_append_new(key, json_string(t->key[i]));
    json_object_set_new(root, "key", key);
    json_object_set_new(root, "rows", u64(t->rows));
    json_object_set_new(root, "bytes", u64(t->bytes));
    json_object_set_new(root, "raw_bytes", u64(t->raw_bytes));
    json_t *parts = json_array();
    for (size_t i = 0; i < t->part_count; i++) {
        const ManifestPart *p = &t->parts[i];
        json_t *o = json_object();
        json_object_set_new(o, "key", json_string(p->key));
        json_object_set_new(o, "rows", u64(p->rows));
        json_object_set_new(o, "bytes", u64(p->bytes));
        json_object_set_new(o, "raw_bytes", u64(p->raw_bytes));
        json_object_set_new(o, "sha256", json_string(p->sha256));
        json_array_append_new(parts, o);
    }
    json_object_set_new(root, "parts", parts);
    json_t *all = json_array();
    for (size_t i = 0; i < m->table_count; i++) {
        const ManifestTable *o = &m->tables[i];
        json_t *e = json_object();
        json_object_set_new(e, "table", json_string(o->table));
        json_object_set_new(e, "bucket", str_or_null(o->bucket));
        char *mk = NULL;
        size_t need = (size_t)snprintf(NULL, 0, "%s/%s", o->dir, MANIFEST_NAME) + 1;
        mk = malloc(need);
        if (mk) {
            snprintf(mk, need, "%s/%s", o->dir, MANIFEST_NAME);
            json_object_set_new(e, "manifest", json_string(mk));
            free(mk);
        }
        json_object_set_new(e, "rows", u64(o->rows));
        json_object_set_new(e, "parts", u64(o->part_count));
        json_array_append_new(all, e);
    }
    json_object_set_new(root, "tables", all);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

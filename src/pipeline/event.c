/*
 * pipeline/event.c - see event.h.
 *
 * What can be decided per table is done once in event_table_new: column types,
 * the key columns (primary key, else the replica identity index, else the
 * stream's identity flags per row), the "json_columns" member and the source
 * block's schema/table text. An event is then written by hand, member by member,
 * into the caller's buffer, numbers appended directly rather than through
 * printf (that was most of an event's cost under callgrind); row values go
 * through rowjson, so they render exactly as D1, KV and snapshots render them.
 * Every envelope ends with "}}" (the transaction block and the object), which
 * lets event_mark_last splice event_count into an event already built. Only the
 * claim-check pointer goes through jansson: it is rare and edits a finished event.
 */
#include "pipeline/event.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/hex.h"
#include "core/json_text.h"
#include "core/mem.h"
#include "pipeline/rowjson.h"
#include "value/render.h"

#ifndef WAL2EDGE_VERSION
#define WAL2EDGE_VERSION "dev"
#endif

typedef struct KeyCol {
    char *name;
    D1Type *type;              /* NULL: render as a string */
} KeyCol;

struct EventTable {
    char *qualname, *schema, *name;
    RowShape *shape;
    char **exclude;
    size_t exclude_count;
    KeyCol *key;               /* NULL with key_count 0: the stream's identity columns */
    size_t key_count;
    D1Type **types;            /* per catalog column, for identity-flag keys */
    char **col_names;
    size_t col_count;
    char *json_columns;        /* ,"json_columns":[...] of row events; NULL: no json/jsonb column */
    char *source_names;        /* ,"schema":..,"table":.. of the source block, rendered once */
};

/* The columns whose values are json/jsonb documents, so a consumer that stores a value as
 * text knows to store a JSON string or number as its JSON text ("\"null\"", not "null"). */
static char *json_columns_member(const CatTable *table, D1Type *const *types, const EventTable *t)
{
    Buf b;
    Err err;
    buf_init(&b, 1024 * 1024);
    bool ok = true, any = false;
    for (size_t i = 0; ok && i < table->col_count; i++) {
        if (!types[i] || types[i]->conv != D1C_JSON || table->cols[i].generated || event_table_excludes(t, table->cols[i].name))
            continue;
        ok = buf_append_str(&b, any ? "," : ",\"json_columns\":[", &err) &&
             json_text_append_str(&b, table->cols[i].name, strlen(table->cols[i].name), &err);
        any = true;
    }
    if (!ok || !any || !buf_append_str(&b, "]", &err)) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

static bool append_str(Buf *b, const char *s, Err *err);

static char *source_names(const EventTable *t)
{
    Buf b;
    Err err; /* two Postgres names, escaped, are far under the cap */
    buf_init(&b, 4096);
    if (!buf_append_str(&b, ",\"schema\":", &err) || !append_str(&b, t->schema, &err) ||
        !buf_append_str(&b, ",\"table\":", &err) || !append_str(&b, t->name, &err))
        buf_reset(&b);
    return buf_take(&b);
}

EventTable *event_table_new(const CatalogInfo *cat, const CatTable *table, const char *const *exclude,
                            size_t exclude_count, Err *err)
{
    RowShape *shape = rowshape_new(cat, table, exclude, exclude_count, err);
    if (!shape)
        return NULL;
    EventTable *t = xcalloc(1, sizeof *t);
    t->shape = shape;
    t->qualname = xstrdup(table->qualname);
    t->schema = xstrdup(table->schema ? table->schema : "");
    t->name = xstrdup(table->name ? table->name : table->qualname);
    t->exclude = xcalloc(exclude_count ? exclude_count : 1, sizeof *t->exclude);
    for (size_t i = 0; i < exclude_count; i++)
        t->exclude[i] = xstrdup(exclude[i]);
    t->exclude_count = exclude_count;
    t->col_count = table->col_count;
    t->types = xcalloc(table->col_count ? table->col_count : 1, sizeof *t->types);
    t->col_names = xcalloc(table->col_count ? table->col_count : 1, sizeof *t->col_names);
    for (size_t i = 0; i < table->col_count; i++) {
        Err ignored;
        t->col_names[i] = xstrdup(table->cols[i].name);
        t->types[i] = d1_type_resolve(cat, table->cols[i].type_oid, NULL, &ignored);
        if (!t->types[i])
            t->types[i] = d1_type_resolve(cat, table->cols[i].type_oid, "TEXT", &ignored);
    }
    t->json_columns = json_columns_member(table, t->types, t);
    t->source_names = source_names(t);
    const CatIndex *ix = catalog_primary_key(table);
    if (!ix)
        ix = catalog_replident_index(table);
    if (ix && ix->col_count) {
        t->key = xcalloc(ix->col_count, sizeof *t->key);
        for (size_t k = 0; k < ix->col_count; k++) {
            size_t ci = ix->cols[k];
            if (ci >= table->col_count)
                continue;
            t->key[t->key_count].name = xstrdup(table->cols[ci].name);
            Err ignored;
            t->key[t->key_count].type = d1_type_resolve(cat, table->cols[ci].type_oid, NULL, &ignored);
            if (!t->key[t->key_count].type)
                t->key[t->key_count].type = d1_type_resolve(cat, table->cols[ci].type_oid, "TEXT", &ignored);
            t->key_count++;
        }
    }
    return t;
}

void event_table_free(EventTable *t)
{
    if (!t)
        return;
    rowshape_free(t->shape);
    for (size_t i = 0; i < t->exclude_count; i++)
        free(t->exclude[i]);
    free(t->exclude);
    for (size_t i = 0; i < t->key_count; i++) {
        free(t->key[i].name);
        d1_type_free(t->key[i].type);
    }
    free(t->key);
    for (size_t i = 0; i < t->col_count; i++) {
        free(t->col_names[i]);
        d1_type_free(t->types[i]);
    }
    free(t->types);
    free(t->col_names);
    free(t->json_columns);
    free(t->source_names);
    free(t->qualname);
    free(t->schema);
    free(t->name);
    free(t);
}

const char *event_table_qualname(const EventTable *t) { return t->qualname; }
size_t event_table_key_count(const EventTable *t) { return t->key_count; }
const char *event_table_key_name(const EventTable *t, size_t i) { return t->key[i].name; }

bool event_table_excludes(const EventTable *t, const char *col)
{
    for (size_t i = 0; i < t->exclude_count; i++)
        if (strcmp(t->exclude[i], col) == 0)
            return true;
    return false;
}

char event_op_letter(ChangeOp op, bool snapshot)
{
    if (snapshot)
        return 'r';
    switch (op) {
    case CHANGE_INSERT:
        return 'c';
    case CHANGE_UPDATE:
        return 'u';
    case CHANGE_DELETE:
        return 'd';
    case CHANGE_TRUNCATE:
        return 't';
    case CHANGE_MESSAGE:
        break;
    }
    return 0;
}

static size_t put_u32(char *buf, uint32_t v)
{
    char digits[12];
    size_t d = 0, n = 0;
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (d)
        buf[n++] = digits[--d];
    return n;
}

char *event_id(Lsn commit_lsn, uint32_t index, uint32_t sub, char *buf)
{
    char l[LSN_STR_MAX];
    lsn_format(commit_lsn, l);
    size_t n = strlen(l);
    memcpy(buf, l, n);
    buf[n++] = ':';
    n += put_u32(buf + n, index);
    if (sub) {
        buf[n++] = '.';
        n += put_u32(buf + n, sub);
    }
    buf[n] = '\0';
    return buf;
}

static bool append_str(Buf *b, const char *s, Err *err)
{
    return json_text_append_str(b, s ? s : "", s ? strlen(s) : 0, err);
}

static const D1Type *col_type(const EventTable *t, const char *name, size_t hint)
{
    if (hint < t->col_count && strcmp(t->col_names[hint], name) == 0)
        return t->types[hint];
    for (size_t i = 0; i < t->col_count; i++)
        if (strcmp(t->col_names[i], name) == 0)
            return t->types[i];
    return NULL;
}

static bool append_value(Buf *b, const D1Type *type, const PgoCol *col, const Rel *rel, const char *name,
                         Err *err)
{
    switch (col->kind) {
    case PGO_COL_NULL:
        return buf_append_str(b, "null", err);
    case PGO_COL_UNCHANGED:
        return buf_append_str(b, "{\"unchanged_toast\":true}", err);
    case PGO_COL_TEXT:
        if (type) {
            if (!d1_value_append_json(type, (const char *)col->data, col->len, b, err)) {
                err_prefix(err, "column \"%s\" of %s", name, rel->qualname);
                return false;
            }
            return true;
        }
        return json_text_append_str(b, (const char *)col->data, col->len, err);
    default: {
        return buf_append_str(b, "\"\\\\x", err) && hex_append(b, col->data, col->len, err) &&
               buf_append_str(b, "\"", err);
    }
    }
}

static bool is_key_col(const EventTable *t, const Rel *rel, uint16_t i)
{
    if (!t->key_count)
        return rel->cols[i].key;
    for (size_t k = 0; k < t->key_count; k++)
        if (strcmp(t->key[k].name, rel->cols[i].name) == 0)
            return true;
    return false;
}

/* {"k1":v1,...} of the key columns of tup; "null" when none is present. */
static bool append_key(Buf *b, const EventTable *t, const Rel *rel, const PgoTuple *tup, Err *err)
{
    if (!tup)
        return buf_append_str(b, "null", err);
    bool first = true;
    for (uint16_t i = 0; i < tup->ncols && i < rel->ncols; i++) {
        if (!is_key_col(t, rel, i))
            continue;
        const char *name = rel->cols[i].name;
        if (!buf_append_str(b, first ? "{" : ",", err) || !append_str(b, name, err) || !buf_append(b, ":", 1, err) ||
            !append_value(b, col_type(t, name, i), &tup->cols[i], rel, name, err))
            return false;
        first = false;
    }
    return buf_append_str(b, first ? "null" : "}", err);
}

/* tup with its unchanged TOAST columns taken from a full old row where it has them. Owned cols. */
static PgoCol *merge_toast(const PgoTuple *tup, const PgoTuple *old, uint8_t old_kind, PgoTuple *out)
{
    *out = *tup;
    if (!old || old_kind != 'O')
        return NULL;
    bool any = false;
    for (uint16_t i = 0; i < tup->ncols && i < old->ncols; i++)
        if (tup->cols[i].kind == PGO_COL_UNCHANGED && old->cols[i].kind != PGO_COL_UNCHANGED)
            any = true;
    if (!any)
        return NULL;
    PgoCol *cols = xcalloc(tup->ncols, sizeof *cols);
    memcpy(cols, tup->cols, tup->ncols * sizeof *cols);
    for (uint16_t i = 0; i < tup->ncols && i < old->ncols; i++)
        if (cols[i].kind == PGO_COL_UNCHANGED && old->cols[i].kind != PGO_COL_UNCHANGED)
            cols[i] = old->cols[i];
    out->cols = cols;
    return cols;
}

static bool append_source(Buf *b, const EventTable *t, const EventMeta *m, Err *err)
{
    char l[LSN_STR_MAX];
    lsn_format(m->commit_lsn, l);
    int64_t ts_ms = m->commit_time_us / 1000;
    return buf_append_str(b, ",\"source\":{\"version\":\"" WAL2EDGE_VERSION "\",\"connector\":\"" EVENT_CONNECTOR
                             "\",\"name\":",
                          err) &&
           append_str(b, m->server ? m->server : EVENT_CONNECTOR, err) &&
           buf_append_str(b, ",\"ts_ms\":", err) && buf_append_i64(b, ts_ms, err) &&
           buf_append_str(b, m->snapshot ? ",\"snapshot\":\"true\",\"db\":" : ",\"snapshot\":\"false\",\"db\":", err) &&
           append_str(b, m->db, err) && buf_append_str(b, t->source_names, err) &&
           buf_append_str(b, ",\"txId\":", err) && buf_append_u64(b, m->xid, err) &&
           buf_append_str(b, ",\"lsn\":", err) && buf_append_u64(b, (uint64_t)m->commit_lsn, err) &&
           buf_append_str(b, ",\"commit_lsn\":\"", err) && buf_append_str(b, l, err) && buf_append(b, "\"}", 2, err);
}

static bool append_tail(Buf *b, const EventMeta *m, Err *err)
{
    char l[LSN_STR_MAX];
    lsn_format(m->commit_lsn, l);
    /* buf_printf's cost was most of an event's (callgrind): the numbers appended directly */
    return buf_append_str(b, ",\"ts_ms\":", err) && buf_append_i64(b, m->now_ms, err) &&
           buf_append_str(b, ",\"transaction\":{\"id\":\"", err) && buf_append_u64(b, m->xid, err) &&
           buf_append(b, ":", 1, err) && buf_append_str(b, l, err) && buf_append_str(b, "\",\"total_order\":", err) &&
           buf_append_u64(b, m->total_order, err) && buf_append_str(b, ",\"data_collection_order\":", err) &&
           buf_append_u64(b, m->table_order, err) && buf_append(b, "}}", 2, err);
}

static bool append_head(Buf *b, const EventMeta *m, char op, Err *err)
{
    char id[EVENT_ID_MAX];
    event_id(m->commit_lsn, m->index, m->sub, id);
    return buf_append_str(b, "{\"id\":\"", err) && buf_append_str(b, id, err) &&
           buf_append_str(b, "\",\"op\":\"", err) && buf_append(b, &op, 1, err) && buf_append(b, "\"", 1, err);
}

/* The old row as `before`: all columns for a full old row, the key columns for a key-only one. */
static bool append_before(Buf *b, const EventTable *t, const Change *c, Err *err)
{
    if (!c->old_tuple)
        return buf_append_str(b, "null", err);
    if (c->old_kind == 'O')
        return rowjson_append(t->shape, c->rel, c->old_tuple, ROWJSON_MARK_UNCHANGED, b, NULL, err);
    /* key only: the other columns were not sent (pgoutput fills them with nulls) */
    bool first = true;
    const PgoTuple *tup = c->old_tuple;
    if (!buf_append_str(b, "{", err))
        return false;
    for (uint16_t i = 0; i < tup->ncols && i < c->rel->ncols; i++) {
        const char *name = c->rel->cols[i].name;
        if (!c->rel->cols[i].key || event_table_excludes(t, name))
            continue;
        if ((!first && !buf_append(b, ",", 1, err)) || !append_str(b, name, err) || !buf_append(b, ":", 1, err) ||
            !append_value(b, col_type(t, name, i), &tup->cols[i], c->rel, name, err))
            return false;
        first = false;
    }
    return buf_append_str(b, "}", err);
}

bool event_append_row(Buf *out, const EventTable *t, const EventMeta *m, const Change *c, Err *err)
{
    if (!c->rel || (c->op != CHANGE_INSERT && c->op != CHANGE_UPDATE && c->op != CHANGE_DELETE))
        return err_set(err, ERR_INTERNAL, "event_append_row: not a row change");
    char op = event_op_letter(c->op, m->snapshot);
    const PgoTuple *new_tup = c->op == CHANGE_DELETE ? NULL : c->new_tuple;
    PgoTuple merged;
    PgoCol *owned = NULL;
    if (new_tup) {
        owned = merge_toast(new_tup, c->old_tuple, c->old_kind, &merged);
        new_tup = &merged;
    }
    const PgoTuple *key_tup = new_tup ? new_tup : c->old_tuple;
    bool ok = append_head(out, m, op, err) && buf_append_str(out, ",\"key\":", err) &&
              append_key(out, t, c->rel, key_tup, err) && buf_append_str(out, ",\"before\":", err) &&
              (c->op == CHANGE_INSERT || m->snapshot ? buf_append_str(out, "null", err)
                                                     : append_before(out, t, c, err)) &&
              buf_append_str(out, ",\"after\":", err);
    bool had_unchanged = false;
    if (ok)
        ok = new_tup ? rowjson_append(t->shape, c->rel, new_tup, ROWJSON_MARK_UNCHANGED, out, &had_unchanged, err)
                     : buf_append_str(out, "null", err);
    if (ok && had_unchanged) {
        ok = buf_append_str(out, ",\"unchanged_toast\":[", err);
        bool first = true;
        for (uint16_t i = 0; ok && i < new_tup->ncols && i < c->rel->ncols; i++) {
            const char *name = c->rel->cols[i].name;
            if (new_tup->cols[i].kind != PGO_COL_UNCHANGED || event_table_excludes(t, name))
                continue;
            ok = (first || buf_append(out, ",", 1, err)) && append_str(out, name, err);
            first = false;
        }
        ok = ok && buf_append_str(out, "]", err);
    }
    free(owned);
    ok = ok && (!t->json_columns || buf_append_str(out, t->json_columns, err));
    return ok && append_source(out, t, m, err) && append_tail(out, m, err);
}

bool event_append_truncate(Buf *out, const EventTable *t, const EventMeta *m, Err *err)
{
    return append_head(out, m, 't', err) && buf_append_str(out, ",\"key\":null,\"before\":null,\"after\":null", err) &&
           append_source(out, t, m, err) && append_tail(out, m, err);
}

bool event_append_ddl(Buf *out, const EventTable *t, const EventMeta *m, const char *ddl_json, Err *err)
{
    return append_head(out, m, 's', err) &&
           buf_append_str(out, ",\"key\":null,\"before\":null,\"after\":null,\"ddl\":", err) && buf_append_str(out, ddl_json, err) &&
           append_source(out, t, m, err) && append_tail(out, m, err);
}

bool event_mark_last(Buf *event, uint64_t event_count, Err *err)
{
    if (event->len < 2 || memcmp(event->data + event->len - 2, "}}", 2) != 0)
        return err_set(err, ERR_INTERNAL, "event_mark_last: not an event");
    event->len -= 2;
    event->data[event->len] = '\0';
    return buf_append_str(event, ",\"event_count\":", err) && buf_append_u64(event, event_count, err) &&
           buf_append(event, "}}", 2, err);
}

bool event_claim_pointer(const char *event, size_t len, const char *bucket, const char *key,
                         const char *sha256_hex, Buf *out, Err *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(event, len, JSON_DECODE_ANY, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return err_set(err, ERR_INTERNAL, "claim check: the event is not a JSON object (%s)", jerr.text);
    }
    json_object_del(doc, "before");
    json_object_del(doc, "after");
    json_object_del(doc, "unchanged_toast");
    json_t *cc = json_object();
    json_object_set_new(cc, "bucket", json_string(bucket));
    json_object_set_new(cc, "key", json_string(key));
    json_object_set_new(cc, "bytes", json_integer((json_int_t)len));
    json_object_set_new(cc, "sha256", json_string(sha256_hex));
    json_object_set_new(doc, "claim_check", cc);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        return err_set(err, ERR_INTERNAL, "claim check: cannot render the pointer event");
    bool ok = buf_append_str(out, text, err);
    free(text);
    return ok;
}

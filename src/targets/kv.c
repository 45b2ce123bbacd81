/*
 * targets/kv.c - see kv.h and docs/kv.md.
 */
#include "targets/kv.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/mem.h"
#include "pipeline/deadletter.h"
#include "pipeline/keytemplate.h"
#include "pipeline/rowjson.h"
#include "state/sqlite.h"
#include "targets/checkpoint.h"
#include "targets/core.h"
#include "value/render.h"

#define KV_COOLDOWN_MS 1000    /* one write per second per key */
#define KV_COOLDOWN_MARGIN_MS 100
#define KV_RETRY_ROUNDS 8
#define KV_PAGE_BYTES (64u * 1024 * 1024)
#define KV_WARM_FETCH 5000

/* ------------------------------------------------------------------ specs */

typedef enum { KVV_ROW, KVV_TEMPLATE, KVV_COLUMNS } KvValueKind;

typedef struct KvEntry {
    size_t index;              /* position in the mapping's "kv" array */
    KeyTemplate *key;
    KvValueKind vkind;
    KeyTemplate *value_tpl;    /* KVV_TEMPLATE */
    char **value_cols;         /* KVV_COLUMNS */
    size_t value_col_count;
    char **meta_names;         /* "metadata": {"name": "template"} */
    KeyTemplate **meta_tpls;
    size_t meta_count;
    int64_t ttl;
    bool key_from_identity;    /* every key column is a row-identity column */
} KvEntry;

typedef struct KvTable {
    char *qualname, *schema, *name;
    RowShape *row_shape;       /* "row": every column but the mapping's d1.exclude */
    RowShape *all_shape;       /* column lists: every column */
    KvEntry *entries;
    size_t entry_count;
    char **ident;              /* row identity columns (replica identity) */
    size_t ident_count;
    bool ordered;              /* ident is a unique key: warm can resume by it */
    char **state_cols;         /* TOAST-able columns the keys/values need: kept as row state */
    size_t state_count;
    char **needed;             /* every column the keys, values, metadata and identity use */
    size_t needed_count;
    Rel rel;                   /* the catalog's columns, as a Relation (warm) */
    const Mapping *mapping;    /* borrowed: its kv[].on_error */
} KvTable;

static void strv_add(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return;
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void entry_clear(KvEntry *e)
{
    keytemplate_free(e->key);
    keytemplate_free(e->value_tpl);
    strv_free(e->value_cols, e->value_col_count);
    for (size_t i = 0; i < e->meta_count; i++) {
        free(e->meta_names[i]);
        keytemplate_free(e->meta_tpls[i]);
    }
    free(e->meta_names);
    free(e->meta_tpls);
}

static void table_clear(KvTable *t)
{
    for (size_t i = 0; i < t->entry_count; i++)
        entry_clear(&t->entries[i]);
    free(t->entries);
    rowshape_free(t->row_shape);
    rowshape_free(t->all_shape);
    strv_free(t->ident, t->ident_count);
    strv_free(t->state_cols, t->state_count);
    strv_free(t->needed, t->needed_count);
    for (uint16_t i = 0; i < t->rel.ncols; i++)
        free(t->rel.cols[i].name);
    free(t->rel.cols);
    free(t->qualname);
    free(t->schema);
    free(t->name);
}

static void note(char ***v, size_t *n, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void note(char ***v, size_t *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(msg);
}

/* Types whose values have a fixed size and so are never TOASTed. */
static bool fixed_size_type(const CatalogInfo *cat, uint32_t oid)
{
    for (int depth = 0; depth < 16; depth++) {
        const CatType *ty = catalog_type(cat, oid);
        if (ty && ty->typtype == 'd') {
            oid = ty->base_oid;
            continue;
        }
        if (ty && ty->typtype == 'e')
            return true;
        break;
    }
    static const uint32_t fixed[] = {16, 18, 19, 20, 21, 23, 26, 700, 701, 790, 829, 774, 1082, 1083,
                                     1114, 1184, 1186, 1266, 2950};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i] == oid)
            return true;
    return false;
}

static const JsoncNode *entry_node(const Mapping *m, size_t k)
{
    return m->kv_node && k < m->kv_node->item_count ? m->kv_node->items[k] : NULL;
}

/* Column names a template needs that the table lacks, as problems. */
static void check_template_cols(const Mapping *m, const MappingKv *mk, const char *what, const KeyTemplate *kt,
                                const CatTable *ct, KvPlanNotes *notes, size_t k)
{
    for (size_t i = 0; i < keytemplate_column_count(kt); i++) {
        const char *c = keytemplate_column(kt, i);
        if (catalog_column_index(ct, c) < 0)
            note(&notes->errors, &notes->error_count,
                 "%s:%d:%d: kv[%zu].%s: unknown column \"%s\" of %s in \"%s\"", m->file,
                 strcmp(what, "key") == 0 ? mk->key_line : mk->value_line,
                 strcmp(what, "key") == 0 ? mk->key_col : mk->value_col, k, what, c, m->source,
                 keytemplate_text(kt));
    }
}

static void need_col(const CatalogInfo *cat, const CatTable *ct, KvTable *t, const char *col)
{
    long ci = catalog_column_index(ct, col);
    if (ci >= 0)
        strv_add(&t->needed, &t->needed_count, col);
    if (ci >= 0 && !fixed_size_type(cat, ct->cols[ci].type_oid))
        strv_add(&t->state_cols, &t->state_count, col);
}

/*
 * Build the KV spec of mapping m for namespace ns (NULL: every namespace, for
 * plan). Problems go to notes; false when there is an error.
 */
static bool build_table(const Mapping *m, const CatalogInfo *cat, const char *ns, KvTable *t, KvPlanNotes *notes)
{
    size_t errors_before = notes->error_count;
    memset(t, 0, sizeof *t);
    t->mapping = m;
    t->qualname = xstrdup(m->source);
    t->schema = xstrdup(m->schema);
    t->name = xstrdup(m->relname);
    const CatTable *ct = catalog_table(cat, m->source);
    if (!ct || !ct->exists) {
        note(&notes->errors, &notes->error_count, "%s:%d:%d: table: %s does not exist", m->file, m->source_line,
             m->source_col, m->source);
        return false;
    }
    /* the relation the warm reads and the identity */
    t->rel.nspname = t->schema;
    t->rel.relname = t->name;
    t->rel.qualname = t->qualname;
    t->rel.oid = ct->oid;
    t->rel.replident = (uint8_t)ct->replident;
    t->rel.ncols = (uint16_t)ct->col_count;
    t->rel.cols = xcalloc(ct->col_count ? ct->col_count : 1, sizeof *t->rel.cols);
    for (size_t i = 0; i < ct->col_count; i++) {
        t->rel.cols[i].name = xstrdup(ct->cols[i].name);
        t->rel.cols[i].type_oid = ct->cols[i].type_oid;
        t->rel.cols[i].typmod = ct->cols[i].typmod;
    }
    const CatIndex *idx = NULL;
    if (ct->replident == 'i')
        idx = catalog_replident_index(ct);
    else if (ct->replident == 'd' || ct->replident == 'f')
        idx = catalog_primary_key(ct);
    if (idx) {
        for (size_t i = 0; i < idx->col_count; i++)
            strv_add(&t->ident, &t->ident_count, ct->cols[idx->cols[i]].name);
        t->ordered = true;
    } else if (ct->replident == 'f') {
        for (size_t i = 0; i < ct->col_count; i++)
            if (!ct->cols[i].generated)
                strv_add(&t->ident, &t->ident_count, ct->cols[i].name);
    } else {
        note(&notes->errors, &notes->error_count,
             "%s:%d:%d: kv: %s has no primary key or replica identity, so its rows cannot be told apart "
             "(add a primary key, or ALTER TABLE %s REPLICA IDENTITY FULL)",
             m->file, m->source_line, m->source_col, m->source, m->source);
    }
    for (size_t i = 0; i < t->ident_count; i++) {
        long ci = catalog_column_index(ct, t->ident[i]);
        if (ci >= 0)
            t->rel.cols[ci].key = true;
        strv_add(&t->needed, &t->needed_count, t->ident[i]);
    }
    const char **excl = xcalloc(m->d1.exclude_count + 1, sizeof *excl);
    for (size_t i = 0; i < m->d1.exclude_count; i++)
        excl[i] = m->d1.exclude[i].name;
    Err e;
    t->row_shape = rowshape_new(cat, ct, excl, m->d1.present ? m->d1.exclude_count : 0, &e);
    t->all_shape = rowshape_new(cat, ct, NULL, 0, &e);
    free(excl);

    for (size_t k = 0; k < m->kv_count; k++) {
        const MappingKv *mk = &m->kv[k];
        if (ns && strcmp(mk->namespace_name, ns) != 0)
            continue;
        t->entries = xrealloc(t->entries, (t->entry_count + 1) * sizeof *t->entries);
        KvEntry *en = &t->entries[t->entry_count++];
        memset(en, 0, sizeof *en);
        en->index = k;
        en->ttl = mk->ttl;
        en->key = keytemplate_parse(mk->key, &e);
        if (!en->key) {
            note(&notes->errors, &notes->error_count, "%s:%d:%d: kv[%zu].key: %s", m->file, mk->key_line,
                 mk->key_col, k, e.msg);
            continue;
        }
        check_template_cols(m, mk, "key", en->key, ct, notes, k);
        en->key_from_identity = true;
        for (size_t i = 0; i < keytemplate_column_count(en->key); i++) {
            const char *c = keytemplate_column(en->key, i);
            need_col(cat, ct, t, c);
            if (!strv_has(t->ident, t->ident_count, c))
                en->key_from_identity = false;
        }
        const JsoncNode *node = entry_node(m, k);
        const JsoncMember *vm = node ? jsonc_member(node, "value") : NULL;
        if (vm && vm->value->type == JSONC_ARRAY) {
            en->vkind = KVV_COLUMNS;
            for (size_t i = 0; i < vm->value->item_count; i++) {
                const JsoncNode *it = vm->value->items[i];
                if (it->type != JSONC_STRING || catalog_column_index(ct, it->text) < 0) {
                    note(&notes->errors, &notes->error_count,
                         "%s:%d:%d: kv[%zu].value[%zu]: not a column of %s", m->file, it->line, it->col, k, i,
                         m->source);
                    continue;
                }
                strv_add(&en->value_cols, &en->value_col_count, it->text);
                need_col(cat, ct, t, it->text);
            }
        } else if (strcmp(mk->value, "row") == 0) {
            en->vkind = KVV_ROW;
            for (size_t i = 0; i < ct->col_count; i++)
                if (!(m->d1.present && mapping_d1_excludes(m, ct->cols[i].name)))
                    need_col(cat, ct, t, ct->cols[i].name);
        } else {
            en->vkind = KVV_TEMPLATE;
            en->value_tpl = keytemplate_parse(mk->value, &e);
            if (!en->value_tpl) {
                note(&notes->errors, &notes->error_count, "%s:%d:%d: kv[%zu].value: %s", m->file,
                     mk->value_line, mk->value_col, k, e.msg);
                continue;
            }
            check_template_cols(m, mk, "value", en->value_tpl, ct, notes, k);
            for (size_t i = 0; i < keytemplate_column_count(en->value_tpl); i++)
                need_col(cat, ct, t, keytemplate_column(en->value_tpl, i));
        }
        const JsoncMember *mm = node ? jsonc_member(node, "metadata") : NULL;
        if (mm && mm->value->type == JSONC_OBJECT) {
            for (size_t i = 0; i < mm->value->member_count; i++) {
                const JsoncMember *x = &mm->value->members[i];
                KeyTemplate *kt = x->value->type == JSONC_STRING ? keytemplate_parse(x->value->text, &e) : NULL;
                if (!kt || strcmp(x->key, "commit_lsn") == 0 || strcmp(x->key, "commit_time") == 0) {
                    note(&notes->errors, &notes->error_count,
                         "%s:%d:%d: kv[%zu].metadata.%s: %s", m->file, x->line, x->col, k, x->key,
                         kt ? "reserved name (wal2edge sets it)" : "must be a template string");
                    keytemplate_free(kt);
                    continue;
                }
                for (size_t c = 0; c < keytemplate_column_count(kt); c++) {
                    if (catalog_column_index(ct, keytemplate_column(kt, c)) < 0)
                        note(&notes->errors, &notes->error_count,
                             "%s:%d:%d: kv[%zu].metadata.%s: unknown column \"%s\" of %s", m->file, x->line,
                             x->col, k, x->key, keytemplate_column(kt, c), m->source);
                    need_col(cat, ct, t, keytemplate_column(kt, c));
                }
                en->meta_names = xrealloc(en->meta_names, (en->meta_count + 1) * sizeof *en->meta_names);
                en->meta_tpls = xrealloc(en->meta_tpls, (en->meta_count + 1) * sizeof *en->meta_tpls);
                en->meta_names[en->meta_count] = xstrdup(x->key);
                en->meta_tpls[en->meta_count++] = kt;
            }
        }
        /* plan: values that may not fit */
        size_t max = 0;
        bool unbounded = false;
        for (size_t i = 0; i < ct->col_count; i++) {
            const CatColumn *c = &ct->cols[i];
            bool used = en->vkind == KVV_ROW ? !(m->d1.present && mapping_d1_excludes(m, c->name))
                        : en->vkind == KVV_COLUMNS ? strv_has(en->value_cols, en->value_col_count, c->name)
                                                   : false;
            if (en->vkind == KVV_TEMPLATE && en->value_tpl)
                for (size_t j = 0; j < keytemplate_column_count(en->value_tpl); j++)
                    if (strcmp(keytemplate_column(en->value_tpl, j), c->name) == 0)
                        used = true;
            if (!used)
                continue;
            D1Type *ty = d1_type_resolve(cat, c->type_oid, NULL, &e);
            if (!ty)
                ty = d1_type_resolve(cat, c->type_oid, "TEXT", &e);
            size_t b = ty ? d1_type_max_bytes(ty, c->typmod) : 0;
            d1_type_free(ty);
            if (b == 0)
                unbounded = true;
            max += b * 2 + strlen(c->name) + 8; /* JSON escaping can double the text */
        }
        if (unbounded || max > KV_MAX_VALUE_BYTES)
            note(&notes->warnings, &notes->warning_count,
                 "%s:%d:%d: kv[%zu].value: values of %s could exceed 25 MiB (unbounded columns); such a "
                 "key is deleted instead of written, and a warning is logged",
                 m->file, mk->value_line, mk->value_col, k, m->source);
    }
    if (t->state_count && ct->replident != 'f')
        note(&notes->warnings, &notes->warning_count,
             "%s:%d:%d: kv: %s: unchanged TOAST values of column(s) needed by KV (%s%s) are taken from "
             "wal2edge's local row state, filled by `wal2edge warm` and `run`; for rows neither has seen, "
             "the key is deleted rather than written wrong (or set REPLICA IDENTITY FULL)",
             m->file, m->source_line, m->source_col, m->source, t->state_cols[0],
             t->state_count > 1 ? ", ..." : "");
    return notes->error_count == errors_before;
}

void kv_plan_check(const MappingSet *maps, const CatalogInfo *cat, KvPlanNotes *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < maps->count; i++) {
        if (!maps->items[i].kv_count)
            continue;
        KvTable t;
        (void)build_table(&maps->items[i], cat, NULL, &t, out);
        table_clear(&t);
    }
}

void kv_plan_notes_free(KvPlanNotes *n)
{
    strv_free(n->errors, n->error_count);
    strv_free(n->warnings, n->warning_count);
    memset(n, 0, sizeof *n);
}

/* ------------------------------------------------------------------ target */

typedef struct Kv {
    Target base;
    char *ns;
    char *namespace_id;        /* remote; NULL: embedded */
    CfClient *client;          /* borrowed */
    char *slot;
    Sqlite *db;
    KvTable *tables;
    size_t table_count;
    SqliteStmt *get_row, *put_row, *del_row, *rows_of, *del_rows_of;
    SqliteStmt *put, *del;     /* embedded: the kv table; remote: the pending table */
    SqliteStmt *page, *get_pending;
    bool in_tx;                /* a SQLite transaction is open */
    TxnCore core;              /* skip / apply / broken, and the checkpoint not yet flushed */
    uint64_t window_emits;     /* puts + deletes emitted since the last flush */
    uint64_t emit_bytes;       /* bytes of keys, values and metadata emitted */
    KvStats stats;
    Buf key, value, meta, pk, tmp;
    Lsn lsn;                   /* of the change being applied */
    uint32_t xid;              /* and its transaction (0 in warm) */
    int64_t time_us;
    LogCtx log;
} Kv;

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int step_done(SqliteStmt *st, Err *err)
{
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
    }
    sqlite_reset(st);
    return rc;
}

static bool bind_value(SqliteStmt *st, int idx, const char *p, size_t n, Err *err)
{
    return kt_utf8_valid(p, n) ? sqlite_bind_text(st, idx, p, n, err) : sqlite_bind_blob(st, idx, p, n, err);
}

static bool emit_put(Kv *kv, const Buf *key, const Buf *value, const Buf *meta, int64_t ttl, Err *err)
{
    SqliteStmt *st = kv->put;
    sqlite_reset(st);
    bool ok = sqlite_bind_text(st, 1, key->data, key->len, err) && bind_value(st, 2, value->data, value->len, err) &&
              sqlite_bind_text(st, 3, meta->data, meta->len, err);
    if (ok && kv->namespace_id)
        ok = ttl ? sqlite_bind_int64(st, 4, ttl, err) : sqlite_bind_null(st, 4, err);
    else if (ok)
        ok = ttl ? sqlite_bind_int64(st, 4, (int64_t)time(NULL) + ttl, err) : sqlite_bind_null(st, 4, err);
    ok = ok && step_done(st, err) == 0;
    if (ok) {
        kv->window_emits++;
        kv->emit_bytes += key->len + value->len + meta->len;
    }
    if (ok && !kv->namespace_id)
        kv->stats.puts++;
    return ok;
}

static bool emit_del(Kv *kv, const char *key, size_t len, Err *err)
{
    SqliteStmt *st = kv->del;
    sqlite_reset(st);
    bool ok = sqlite_bind_text(st, 1, key, len, err) && step_done(st, err) == 0;
    if (ok)
        kv->window_emits++;
    if (ok && !kv->namespace_id && sqlite_changes(kv->db) > 0)
        kv->stats.deletes++;
    return ok;
}

/* The row identity as a JSON array of Postgres texts. false: a column is absent/unchanged. */
static bool identity_json(const KvTable *tab, const Rel *rel, const PgoTuple *tup, Buf *out, Err *err,
                          bool *complete)
{
    buf_reset(out);
    *complete = false;
    if (!buf_append(out, "[", 1, err))
        return false;
    for (size_t i = 0; i < tab->ident_count; i++) {
        long c = kt_rel_column(rel, tab->ident[i]);
        if (c < 0 || (size_t)c >= tup->ncols || tup->cols[c].kind == PGO_COL_UNCHANGED)
            return true;
        const PgoCol *col = &tup->cols[c];
        if (i && !buf_append(out, ",", 1, err))
            return false;
        bool ok = col->kind == PGO_COL_NULL ? buf_append_str(out, "null", err)
                                            : json_text_append_str(out, (const char *)col->data, col->len, err);
        if (!ok)
            return false;
    }
    *complete = true;
    return buf_append(out, "]", 1, err);
}

typedef struct IndexRow {
    bool found;
    json_t *keys;              /* array of strings */
    json_t *state;             /* object or NULL */
} IndexRow;

static void index_row_clear(IndexRow *r)
{
    json_decref(r->keys);
    json_decref(r->state);
    memset(r, 0, sizeof *r);
}

static bool index_get(Kv *kv, const KvTable *tab, const Buf *pk, IndexRow *out, Err *err)
{
    memset(out, 0, sizeof *out);
    SqliteStmt *st = kv->get_row;
    sqlite_reset(st);
    if (!sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err) ||
        !sqlite_bind_text(st, 2, pk->data, pk->len, err))
        return false;
    int rc = sqlite_step(st, err);
    if (rc < 0)
        return false;
    if (rc == 1) {
        size_t kl = 0, sl = 0;
        const char *k = sqlite_column_text(st, 0, &kl);
        const char *s = sqlite_column_text(st, 1, &sl);
        out->found = true;
        out->keys = k ? json_loadb(k, kl, 0, NULL) : NULL;
        out->state = s ? json_loadb(s, sl, 0, NULL) : NULL;
        if (!json_is_array(out->keys)) {
            json_decref(out->keys);
            out->keys = json_array();
        }
    }
    sqlite_reset(st);
    return true;
}

static bool index_put(Kv *kv, const KvTable *tab, const Buf *pk, json_t *keys, const char *state, Err *err)
{
    char *k = json_dumps(keys, JSON_COMPACT);
    SqliteStmt *st = kv->put_row;
    sqlite_reset(st);
    bool ok = sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err) &&
              sqlite_bind_text(st, 2, pk->data, pk->len, err) && sqlite_bind_text(st, 3, k, strlen(k), err) &&
              (state ? sqlite_bind_text(st, 4, state, strlen(state), err) : sqlite_bind_null(st, 4, err)) &&
              step_done(st, err) == 0;
    free(k);
    return ok;
}

static bool index_del(Kv *kv, const KvTable *tab, const Buf *pk, Err *err)
{
    SqliteStmt *st = kv->del_row;
    sqlite_reset(st);
    return sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err) &&
           sqlite_bind_text(st, 2, pk->data, pk->len, err) && step_done(st, err) == 0;
}

static bool json_array_has(const json_t *a, const char *s, size_t len)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        if (json_string_length(v) == len && memcmp(json_string_value(v), s, len) == 0)
            return true;
    }
    return false;
}

static void format_time(int64_t us, char *out, size_t n)
{
    time_t s = (time_t)(us / 1000000);
    int64_t frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        s -= 1;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

/* Metadata: {"commit_lsn","commit_time", user templates...}; falls back to the first two when too large. */
static bool render_meta(Kv *kv, const KvEntry *en, const Rel *rel, const PgoTuple *tup, Err *err)
{
    char lsn[LSN_STR_MAX], ts[80];
    lsn_format(kv->lsn, lsn);
    format_time(kv->time_us, ts, sizeof ts);
    buf_reset(&kv->meta);
    if (!buf_printf(&kv->meta, err, "{\"commit_lsn\":\"%s\",\"commit_time\":\"%s\"", lsn, ts))
        return false;
    size_t base_len = kv->meta.len;
    for (size_t i = 0; i < en->meta_count; i++) {
        buf_reset(&kv->tmp);
        KtResult r = keytemplate_render(en->meta_tpls[i], KT_RAW, rel, tup, &kv->tmp, NULL, err);
        if (r == KT_ERROR)
            return false;
        if (r != KT_OK)
            continue;
        if (!buf_append(&kv->meta, ",", 1, err) ||
            !json_text_append_str(&kv->meta, en->meta_names[i], strlen(en->meta_names[i]), err) ||
            !buf_append(&kv->meta, ":", 1, err) || !json_text_append_str(&kv->meta, kv->tmp.data, kv->tmp.len, err))
            return false;
    }
    if (kv->meta.len + 1 > KV_MAX_METADATA_BYTES) {
        log_warn(&kv->log, "%s: metadata of a key of %s is over %d bytes; only commit_lsn and commit_time are kept",
                 kv->base.name, rel->qualname, KV_MAX_METADATA_BYTES);
        kv->meta.len = base_len;
        kv->meta.data[base_len] = '\0';
    }
    return buf_append(&kv->meta, "}", 1, err);
}

/* A sub-relation of the listed columns (for column-list values). */
static KtResult render_columns(Kv *kv, const KvTable *tab, const KvEntry *en, const Rel *rel, const PgoTuple *tup,
                               Err *err)
{
    RelCol cols[64];
    PgoCol vals[64];
    size_t n = en->value_col_count < 64 ? en->value_col_count : 64;
    for (size_t i = 0; i < n; i++) {
        long c = kt_rel_column(rel, en->value_cols[i]);
        if (c < 0 || (size_t)c >= tup->ncols || tup->cols[c].kind == PGO_COL_UNCHANGED)
            return KT_MISSING;
        cols[i] = rel->cols[c];
        vals[i] = tup->cols[c];
    }
    Rel sub = *rel;
    sub.cols = cols;
    sub.ncols = (uint16_t)n;
    PgoTuple st = {.ncols = (uint16_t)n, .cols = vals};
    return rowjson_append(tab->all_shape, &sub, &st, ROWJSON_MARK_UNCHANGED, &kv->value, NULL, err) ? KT_OK
                                                                                                   : KT_ERROR;
}

static KtResult render_value(Kv *kv, const KvTable *tab, const KvEntry *en, const Rel *rel, const PgoTuple *tup,
                             Err *err)
{
    buf_reset(&kv->value);
    switch (en->vkind) {
    case KVV_ROW: {
        bool unchanged = false;
        if (!rowjson_append(tab->row_shape, rel, tup, ROWJSON_MARK_UNCHANGED, &kv->value, &unchanged, err))
            return KT_ERROR;
        return unchanged ? KT_MISSING : KT_OK;
    }
    case KVV_COLUMNS:
        return render_columns(kv, tab, en, rel, tup, err);
    case KVV_TEMPLATE:
        return keytemplate_render(en->value_tpl, KT_RAW, rel, tup, &kv->value, NULL, err);
    }
    return KT_ERROR;
}

/* Render entry en's key into kv->key: KT_OK, KT_NULL (no key; *invalid says why when the row's data
 * forms no valid KV key), KT_MISSING, or KT_ERROR. */
static KtResult render_key(Kv *kv, const KvEntry *en, const Rel *rel, const PgoTuple *tup, const char **invalid,
                           Err *err)
{
    buf_reset(&kv->key);
    *invalid = NULL;
    const char *missing = NULL;
    KtResult r = keytemplate_render(en->key, KT_ESCAPE_KEY, rel, tup, &kv->key, &missing, err);
    if (r == KT_ERROR && err->code == ERR_TOO_LARGE) { /* longer than the key buffer: far over 512 bytes */
        *invalid = "the key is longer than 512 bytes";
        return KT_NULL;
    }
    if (r != KT_OK)
        return r;
    if (!kt_key_valid(kv->key.data ? kv->key.data : "", kv->key.len, invalid))
        return KT_NULL;
    return KT_OK;
}

/* A put KV refuses for this row alone (a key or value over its limit): dead letter, or stop
 * (docs/mappings.md, "on_error"). value: the refused value, NULL for a bad key. */
static bool refuse_put(Kv *kv, const KvTable *tab, const KvEntry *en, const Rel *rel, const PgoTuple *tup,
                       const char *reason, const Buf *value, Err *err)
{
    Buf key;
    buf_init(&key, 2 * DEADLETTER_MAX_KEY + 4096);
    deadletter_cols_json(rel, tup, (const char *const *)tab->ident, tab->ident_count, DEADLETTER_MAX_KEY, &key);
    char section[32], why[ERR_MSG_MAX / 2];
    snprintf(section, sizeof section, "kv[%zu]", en->index);
    snprintf(why, sizeof why, "KV key \"%.60s%s\" from \"%s\": %s", kv->key.data ? kv->key.data : "",
             kv->key.len > 60 ? "..." : "", keytemplate_text(en->key), reason);
    DlPolicy p = {
        .skip = tab->mapping && tab->mapping->kv[en->index].on_error == MAP_ON_ERROR_SKIP,
        .mapping_file = tab->mapping ? tab->mapping->file : "the mapping file",
        .section = section,
        .ways_out = value ? "put fewer columns in the value (a column list or a template instead of \"row\"), or "
                            "make the row smaller in Postgres"
                          : "change the key template, or fix the row in Postgres",
        .code = ERR_TOO_LARGE,
    };
    DlEntry e = {.target = kv->base.name, .table = tab->qualname, .commit_lsn = kv->lsn, .xid = kv->xid,
                 .key = key.data, .reason = why, .value = value ? value->data : NULL,
                 .value_len = value ? value->len : 0};
    bool ok = deadletter_refuse(kv->base.deadletter, &p, &e, err);
    buf_free(&key);
    if (ok)
        kv->stats.skipped_keys++;
    return ok;
}

/* Delete every key indexed for (tab, pk) (or, for a row never indexed, the keys
 * computable from the old tuple) and the index row. */
static bool remove_row(Kv *kv, const KvTable *tab, const Rel *rel, const PgoTuple *old, uint8_t old_kind,
                       const Buf *pk, Err *err)
{
    IndexRow ir;
    if (!index_get(kv, tab, pk, &ir, err))
        return false;
    bool ok = true;
    if (ir.found) {
        size_t i;
        json_t *v;
        json_array_foreach(ir.keys, i, v) {
            if (ok && json_is_string(v))
                ok = emit_del(kv, json_string_value(v), json_string_length(v), err);
        }
        ok = ok && index_del(kv, tab, pk, err);
    } else if (old) {
        for (size_t e = 0; ok && e < tab->entry_count; e++) {
            const KvEntry *en = &tab->entries[e];
            if (!en->key_from_identity && old_kind != 'O')
                continue;
            const char *invalid;
            KtResult r = render_key(kv, en, rel, old, &invalid, err);
            if (r == KT_ERROR)
                ok = false;
            else if (r == KT_OK)
                ok = emit_del(kv, kv->key.data, kv->key.len, err);
        }
    }
    index_row_clear(&ir);
    return ok;
}

static bool apply_upsert(Kv *kv, const KvTable *tab, const Rel *rel, const PgoTuple *nt, const PgoTuple *ot,
                         uint8_t old_kind, Err *err)
{
    Buf pk_old;
    buf_init(&pk_old, 1024 * 1024);
    bool complete;
    bool ok = identity_json(tab, rel, nt, &kv->pk, err, &complete);
    if (ok && !complete)
        ok = err_set(err, ERR_PROTOCOL, "%s: a row of %s arrived without its identity columns", kv->base.name,
                     rel->qualname);
    IndexRow moved = {0};      /* the row under its old identity, when the identity changed */
    if (ok && ot && (old_kind == 'K' || old_kind == 'O')) {
        ok = identity_json(tab, rel, ot, &pk_old, err, &complete);
        if (ok && complete && strcmp(pk_old.data, kv->pk.data) != 0)
            ok = index_get(kv, tab, &pk_old, &moved, err) && remove_row(kv, tab, rel, ot, old_kind, &pk_old, err);
    }
    IndexRow ir = {0};
    ok = ok && index_get(kv, tab, &kv->pk, &ir, err);
    if (ok && !ir.found && moved.state) {
        ir.state = moved.state; /* its row state moves with it (unchanged TOAST values) */
        moved.state = NULL;
    }
    index_row_clear(&moved);
    PgoCol *cols = NULL;
    json_t *new_keys = json_array();
    if (ok) {
        /* fill unchanged TOAST values from the row state or the full old row */
        cols = xcalloc(nt->ncols ? nt->ncols : 1, sizeof *cols);
        for (uint16_t i = 0; i < nt->ncols; i++) {
            cols[i] = nt->cols[i];
            if (cols[i].kind != PGO_COL_UNCHANGED || i >= rel->ncols)
                continue;
            json_t *sv = ir.state ? json_object_get(ir.state, rel->cols[i].name) : NULL;
            if (sv && json_is_string(sv)) {
                cols[i].kind = PGO_COL_TEXT;
                cols[i].data = (const uint8_t *)json_string_value(sv);
                cols[i].len = (uint32_t)json_string_length(sv);
            } else if (sv && json_is_null(sv)) {
                cols[i].kind = PGO_COL_NULL;
            } else if (ot && old_kind == 'O' && i < ot->ncols && ot->cols[i].kind != PGO_COL_UNCHANGED) {
                cols[i] = ot->cols[i];
            }
        }
    }
    PgoTuple merged = {.ncols = nt->ncols, .cols = cols};
    for (size_t e = 0; ok && e < tab->entry_count; e++) {
        const KvEntry *en = &tab->entries[e];
        const char *invalid;
        KtResult r = render_key(kv, en, rel, &merged, &invalid, err);
        if (r == KT_ERROR) {
            ok = false;
            break;
        }
        if (r == KT_NULL && invalid) {
            ok = refuse_put(kv, tab, en, rel, &merged, invalid, NULL, err);
            continue;
        }
        if (r == KT_MISSING) {
            log_warn(&kv->log, "%s: %s: a key column of \"%s\" is an unchanged TOAST value wal2edge has no copy of; "
                     "key not written (run `wal2edge warm`, or set REPLICA IDENTITY FULL)",
                     kv->base.name, rel->qualname, keytemplate_text(en->key));
            kv->stats.skipped_keys++;
            continue;
        }
        if (r == KT_NULL)
            continue;
        r = render_value(kv, tab, en, rel, &merged, err);
        /* over the limit at any size: past the value buffer's cap (25 MiB + 1 MiB) rendering stops there */
        bool capped = r == KT_ERROR && err->code == ERR_TOO_LARGE;
        if (r == KT_ERROR && !capped) {
            ok = false;
            break;
        }
        if (r == KT_MISSING) {
            log_warn(&kv->log, "%s: %s: the value of key \"%.60s\" needs an unchanged TOAST value wal2edge has "
                     "no copy of; the key is deleted instead (run `wal2edge warm`, or set REPLICA IDENTITY FULL)",
                     kv->base.name, rel->qualname, kv->key.data);
            kv->stats.skipped_keys++;
            ok = emit_del(kv, kv->key.data, kv->key.len, err);
            continue;
        }
        if (capped || kv->value.len > KV_MAX_VALUE_BYTES) {
            char reason[160];
            snprintf(reason, sizeof reason, "the value is %s%zu bytes, over the 25 MiB (%u-byte) KV value limit",
                     capped ? "more than " : "", capped ? kv->value.cap : kv->value.len, KV_MAX_VALUE_BYTES);
            /* skipped: the key is deleted, so no older value of the row stays behind */
            ok = refuse_put(kv, tab, en, rel, &merged, reason, &kv->value, err) &&
                 emit_del(kv, kv->key.data, kv->key.len, err);
            continue;
        }
        ok = render_meta(kv, en, rel, &merged, err) && emit_put(kv, &kv->key, &kv->value, &kv->meta, en->ttl, err);
        if (ok && !json_array_has(new_keys, kv->key.data, kv->key.len))
            json_array_append_new(new_keys, json_stringn(kv->key.data, kv->key.len));
    }
    /* stale keys: written for the old version of the row, not formed by the new one */
    if (ok && ir.found) {
        size_t i;
        json_t *v;
        json_array_foreach(ir.keys, i, v) {
            if (ok && json_is_string(v) && !json_array_has(new_keys, json_string_value(v), json_string_length(v)))
                ok = emit_del(kv, json_string_value(v), json_string_length(v), err);
        }
    } else if (ok && ot && old_kind == 'O') {
        for (size_t e = 0; ok && e < tab->entry_count; e++) {
            const char *invalid;
            KtResult r = render_key(kv, &tab->entries[e], rel, ot, &invalid, err);
            if (r == KT_ERROR)
                ok = false;
            else if (r == KT_OK && !json_array_has(new_keys, kv->key.data, kv->key.len))
                ok = emit_del(kv, kv->key.data, kv->key.len, err);
        }
    }
    char *state = NULL;
    if (ok && tab->state_count) {
        json_t *obj = json_object();
        for (size_t s = 0; s < tab->state_count; s++) {
            long c = kt_rel_column(rel, tab->state_cols[s]);
            if (c < 0 || (size_t)c >= merged.ncols)
                continue;
            const PgoCol *col = &merged.cols[c];
            if (col->kind == PGO_COL_NULL)
                json_object_set_new(obj, tab->state_cols[s], json_null());
            else if (col->kind == PGO_COL_TEXT || col->kind == PGO_COL_BINARY)
                json_object_set_new(obj, tab->state_cols[s], json_stringn((const char *)col->data, col->len));
        }
        state = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
    }
    ok = ok && index_put(kv, tab, &kv->pk, new_keys, state, err);
    free(state);
    free(cols);
    json_decref(new_keys);
    index_row_clear(&ir);
    buf_free(&pk_old);
    return ok;
}

static bool apply_delete(Kv *kv, const KvTable *tab, const Rel *rel, const PgoTuple *ot, uint8_t old_kind, Err *err)
{
    if (!ot)
        return err_set(err, ERR_PROTOCOL, "%s: a delete of %s arrived without the old key", kv->base.name,
                       rel->qualname);
    bool complete;
    if (!identity_json(tab, rel, ot, &kv->pk, err, &complete))
        return false;
    if (!complete)
        return err_set(err, ERR_PROTOCOL, "%s: a delete of %s arrived without its identity columns", kv->base.name,
                       rel->qualname);
    return remove_row(kv, tab, rel, ot, old_kind, &kv->pk, err);
}

static bool apply_truncate(Kv *kv, const KvTable *tab, Err *err)
{
    SqliteStmt *st = kv->rows_of;
    sqlite_reset(st);
    if (!sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err))
        return false;
    /* collect first: emitting writes to the same database while stepping */
    json_t *all = json_array();
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
        size_t len = 0;
        const char *k = sqlite_column_text(st, 0, &len);
        json_t *keys = k ? json_loadb(k, len, 0, NULL) : NULL;
        if (json_is_array(keys))
            json_array_extend(all, keys);
        json_decref(keys);
    }
    sqlite_reset(st);
    bool ok = rc == 0;
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        if (ok && json_is_string(v))
            ok = emit_del(kv, json_string_value(v), json_string_length(v), err);
    }
    json_decref(all);
    if (ok) {
        sqlite_reset(kv->del_rows_of);
        ok = sqlite_bind_text(kv->del_rows_of, 1, tab->qualname, strlen(tab->qualname), err) &&
             step_done(kv->del_rows_of, err) == 0;
    }
    return ok;
}

static const KvTable *find_table(const Kv *kv, const char *qualname)
{
    for (size_t i = 0; i < kv->table_count; i++)
        if (strcmp(kv->tables[i].qualname, qualname) == 0)
            return &kv->tables[i];
    return NULL;
}

/* ------------------------------------------------------------------ flush */

typedef struct PendingPage {
    CfKvPair *puts;
    size_t put_count;
    char **dels;
    size_t del_count;
    char **owned;              /* keys, values and metadata strings to free */
    size_t owned_count, owned_alloc;
    size_t bytes;
} PendingPage;

static char *page_own(PendingPage *p, const void *data, size_t len)
{
    if (p->owned_count == p->owned_alloc) {
        p->owned_alloc = p->owned_alloc ? p->owned_alloc * 2 : 1024;
        p->owned = xrealloc(p->owned, p->owned_alloc * sizeof *p->owned);
    }
    char *s = xmalloc(len + 1);
    if (len)
        memcpy(s, data, len);
    s[len] = '\0';
    p->owned[p->owned_count++] = s;
    return s;
}

static void page_clear(PendingPage *p)
{
    for (size_t i = 0; i < p->owned_count; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->puts);
    free(p->dels);
    memset(p, 0, sizeof *p);
}

/* Add the current row of a pending-table statement (key, del, value, metadata, ttl). */
static void page_add(PendingPage *p, SqliteStmt *st)
{
    size_t klen = 0, vlen = 0, mlen = 0;
    const char *k = sqlite_column_text(st, 0, &klen);
    char *key = page_own(p, k ? k : "", klen);
    if (sqlite_column_int64(st, 1)) {
        p->dels = xrealloc(p->dels, (p->del_count + 1) * sizeof *p->dels);
        p->dels[p->del_count++] = key;
        p->bytes += klen;
        return;
    }
    const void *v = sqlite_column_type(st, 2) == SQLITE_VAL_BLOB ? sqlite_column_blob(st, 2, &vlen)
                                                                 : (const void *)sqlite_column_text(st, 2, &vlen);
    const char *m = sqlite_column_text(st, 3, &mlen);
    CfKvPair pair = {0};
    pair.key = key;
    pair.value = page_own(p, v ? v : "", vlen);
    pair.value_len = vlen;
    pair.metadata_json = m ? page_own(p, m, mlen) : NULL;
    pair.expiration_ttl = sqlite_column_int64(st, 4);
    p->puts = xrealloc(p->puts, (p->put_count + 1) * sizeof *p->puts);
    p->puts[p->put_count++] = pair;
    p->bytes += klen + vlen + mlen;
}

/* Send a page; keys the API did not take are appended to *retry. */
static bool page_send(Kv *kv, PendingPage *p, char ***retry, size_t *retry_count, Err *err)
{
    CfKvBulkResult res;
    if (p->put_count) {
        bool ok = cf_kv_bulk_write(kv->client, kv->namespace_id, p->puts, p->put_count, &res, err);
        kv->stats.requests += res.requests;
        if (ok) {
            kv->stats.puts += p->put_count - res.unsuccessful_count;
            for (size_t i = 0; i < res.unsuccessful_count; i++)
                strv_add(retry, retry_count, res.unsuccessful_keys[i]);
        }
        cf_kv_bulk_result_free(&res);
        if (!ok)
            return false;
    }
    if (p->del_count) {
        bool ok = cf_kv_bulk_delete(kv->client, kv->namespace_id, (const char *const *)p->dels, p->del_count, &res,
                                    err);
        kv->stats.requests += res.requests;
        if (ok) {
            kv->stats.deletes += p->del_count - res.unsuccessful_count;
            for (size_t i = 0; i < res.unsuccessful_count; i++)
                strv_add(retry, retry_count, res.unsuccessful_keys[i]);
        }
        cf_kv_bulk_result_free(&res);
        if (!ok)
            return false;
    }
    return true;
}

/* Write every pending key to KV (remote): coalesced, cooled down, partial failures retried. */
static bool send_pending(Kv *kv, Err *err)
{
    if (!kv->namespace_id)
        return true;
    /* one write per second per key: wait until the newest earlier write of a pending key is a second old */
    SqliteStmt *st = sqlite_prepare(kv->db,
                                    "SELECT max(r.at_ms) FROM _wal2edge_kv_pending p JOIN temp.kv_recent r "
                                    "ON r.key = p.key",
                                    err);
    if (!st)
        return false;
    int rc = sqlite_step(st, err);
    int64_t last = rc == 1 && sqlite_column_type(st, 0) != SQLITE_VAL_NULL ? sqlite_column_int64(st, 0) : 0;
    sqlite_finalize(st);
    if (rc < 0)
        return false;
    if (last) {
        int64_t wait = last + KV_COOLDOWN_MS + KV_COOLDOWN_MARGIN_MS - clock_mono_ms();
        if (wait > 0) {
            kv->stats.cooldown_waits++;
            sleep_ms(wait);
        }
    }
    char **retry = NULL;
    size_t retry_count = 0;
    bool ok = true;
    char *after = xstrdup("");
    uint64_t written_before = kv->stats.puts + kv->stats.deletes;
    while (ok) {
        PendingPage p = {0};
        sqlite_reset(kv->page);
        ok = sqlite_bind_text(kv->page, 1, after, strlen(after), err);
        while (ok && (rc = sqlite_step(kv->page, err)) == 1) {
            page_add(&p, kv->page);
            if (p.put_count + p.del_count >= KV_BULK_PAIRS || p.bytes >= KV_PAGE_BYTES)
                break;
        }
        sqlite_reset(kv->page);
        if (rc < 0)
            ok = false;
        size_t n = p.put_count + p.del_count;
        if (ok && n) {
            /* the page's last key, in key order, is the largest of its puts and deletes */
            const char *lp = p.put_count ? p.puts[p.put_count - 1].key : "";
            const char *ld = p.del_count ? p.dels[p.del_count - 1] : "";
            free(after);
            after = xstrdup(strcmp(lp, ld) > 0 ? lp : ld);
            ok = page_send(kv, &p, &retry, &retry_count, err);
        }
        page_clear(&p);
        if (!n)
            break;
    }
    free(after);
    for (int round = 0; ok && retry_count && round < KV_RETRY_ROUNDS; round++) {
        sleep_ms(KV_COOLDOWN_MS + KV_COOLDOWN_MARGIN_MS);
        char **again = retry;
        size_t again_count = retry_count;
        retry = NULL;
        retry_count = 0;
        kv->stats.retried_keys += again_count;
        PendingPage p = {0};
        for (size_t i = 0; ok && i < again_count; i++) {
            sqlite_reset(kv->get_pending);
            ok = sqlite_bind_text(kv->get_pending, 1, again[i], strlen(again[i]), err);
            rc = ok ? sqlite_step(kv->get_pending, err) : -1;
            if (rc == 1)
                page_add(&p, kv->get_pending);
            else if (rc < 0)
                ok = false;
            sqlite_reset(kv->get_pending);
            if (ok && (p.put_count + p.del_count >= KV_BULK_PAIRS || i + 1 == again_count)) {
                ok = page_send(kv, &p, &retry, &retry_count, err);
                page_clear(&p);
            }
        }
        page_clear(&p);
        strv_free(again, again_count);
    }
    if (ok && retry_count)
        ok = err_set(err, ERR_HTTP, "%s: %zu key(s) still refused by the KV bulk API after %d retries (e.g. \"%.60s\")",
                     kv->base.name, retry_count, KV_RETRY_ROUNDS, retry[0]);
    strv_free(retry, retry_count);
    if (!ok)
        return false;
    uint64_t written = kv->stats.puts + kv->stats.deletes - written_before;
    if (kv->window_emits > written)
        kv->stats.coalesced += kv->window_emits - written;
    char *sql = xasprintf("INSERT OR REPLACE INTO temp.kv_recent(key, at_ms) SELECT key, %" PRId64
                          " FROM _wal2edge_kv_pending; DELETE FROM temp.kv_recent WHERE at_ms < %" PRId64
                          "; DELETE FROM _wal2edge_kv_pending;",
                          clock_mono_ms(), clock_mono_ms() - 2 * KV_COOLDOWN_MS);
    ok = sqlite_exec(kv->db, sql, err);
    free(sql);
    return ok;
}

static bool write_checkpoint(Kv *kv, Err *err)
{
    if (kv->core.pending.commit_lsn == kv->base.durable.commit_lsn)
        return true;
    SqliteStmt *st = sqlite_prepare(kv->db,
                                    "INSERT INTO _wal2edge_kv_checkpoint(slot, commit_lsn, end_lsn, updated_at) "
                                    "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ','now')) ON CONFLICT(slot) "
                                    "DO UPDATE SET commit_lsn = excluded.commit_lsn, end_lsn = excluded.end_lsn, "
                                    "updated_at = excluded.updated_at",
                                    err);
    if (!st)
        return false;
    char c[LSN_STR_MAX], e[LSN_STR_MAX];
    lsn_format(kv->core.pending.commit_lsn, c);
    lsn_format(kv->core.pending.end_lsn, e);
    bool ok = sqlite_bind_text(st, 1, kv->slot, strlen(kv->slot), err) && sqlite_bind_text(st, 2, c, strlen(c), err) &&
              sqlite_bind_text(st, 3, e, strlen(e), err) && step_done(st, err) == 0;
    sqlite_finalize(st);
    return ok;
}

static bool fail_and_rollback(Kv *kv)
{
    if (kv->in_tx)
        sqlite_rollback(kv->db);
    kv->in_tx = false;
    kv->core.pending = target_durable(&kv->base); /* the unflushed work is gone */
    kv->window_emits = 0;
    txn_core_break(&kv->core);
    return false;
}

static bool open_tx(Kv *kv, Err *err)
{
    if (kv->in_tx)
        return true;
    if (!sqlite_begin(kv->db, err))
        return false;
    kv->in_tx = true;
    kv->window_emits = 0;
    return true;
}

static bool kv_begin(Target *t, const TxnInfo *txn, Err *err)
{
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_begin(&kv->core, txn, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!open_tx(kv, err) || !sqlite_exec(kv->db, "SAVEPOINT wal2edge_kv_txn", err))
        return fail_and_rollback(kv);
    kv->xid = txn->xid;
    kv->lsn = txn->commit_lsn;
    kv->time_us = txn->commit_time_us;
    return true;
}

static void kv_rollback(Target *t)
{
    Kv *kv = (Kv *)t;
    if (!txn_core_rollback(&kv->core))
        return;
    Err err;
    if (!sqlite_exec(kv->db, "ROLLBACK TO wal2edge_kv_txn; RELEASE wal2edge_kv_txn", &err))
        fail_and_rollback(kv);
}

static bool kv_change(Target *t, const TxnInfo *txn, const Change *c, Err *err)
{
    (void)txn;
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_change(&kv->core, c, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    bool ok = true;
    if (c->op == CHANGE_TRUNCATE) {
        for (uint32_t i = 0; ok && i < c->truncate_count; i++) {
            const KvTable *tab = find_table(kv, c->truncate_rels[i]->qualname);
            if (tab)
                ok = apply_truncate(kv, tab, err);
        }
    } else {
        const KvTable *tab = c->rel ? find_table(kv, c->rel->qualname) : NULL;
        if (!tab)
            return true;
        if (c->op == CHANGE_DELETE)
            ok = apply_delete(kv, tab, c->rel, c->old_tuple, c->old_kind, err);
        else
            ok = apply_upsert(kv, tab, c->rel, c->new_tuple, c->old_tuple, c->old_kind, err);
    }
    if (!ok) {
        err_prefix(err, "%s", kv->base.name);
        return fail_and_rollback(kv);
    }
    return true;
}

static bool kv_commit(Target *t, const TxnInfo *txn, Err *err)
{
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_commit(&kv->core, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!sqlite_exec(kv->db, "RELEASE wal2edge_kv_txn", err))
        return fail_and_rollback(kv);
    txn_core_committed(&kv->core, txn);
    return true;
}

static bool kv_flush(Target *t, Err *err)
{
    Kv *kv = (Kv *)t;
    if (!txn_core_ok(&kv->core, err))
        return false;
    if (!kv->in_tx || kv->core.applying)
        return true;
    /* KV first (retryable failures keep everything for the next flush), then index + checkpoint */
    if (!send_pending(kv, err)) {
        err_prefix(err, "%s", kv->base.name);
        if (err_retryable(err))
            return false;
        return fail_and_rollback(kv);
    }
    if (!write_checkpoint(kv, err) || !sqlite_commit(kv->db, err))
        return fail_and_rollback(kv);
    kv->in_tx = false;
    kv->window_emits = 0;
    kv->base.durable = kv->core.pending;
    return true;
}

/* The checkpoint row alone, written with the next flush like a transaction's (no KV request:
 * the checkpoint lives in the local file, remote or not). */
static bool kv_fence(Target *t, const TargetCheckpoint *at, int64_t at_us, Err *err)
{
    (void)at_us;
    Kv *kv = (Kv *)t;
    TxnStep step = txn_core_fence(&kv->core, at, err);
    if (step != TXN_APPLY)
        return step == TXN_SKIP;
    if (!open_tx(kv, err))
        return fail_and_rollback(kv);
    txn_core_fenced(&kv->core, at);
    return true;
}

static bool kv_has_pending(const Target *t)
{
    const Kv *kv = (const Kv *)t;
    return kv->in_tx && !kv->core.applying;
}

static void kv_free(Target *t)
{
    Kv *kv = (Kv *)t;
    if (!kv)
        return;
    if (kv->in_tx)
        sqlite_rollback(kv->db);
    SqliteStmt *sts[] = {kv->get_row, kv->put_row, kv->del_row, kv->rows_of, kv->del_rows_of,
                         kv->put, kv->del, kv->page, kv->get_pending};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite_finalize(sts[i]);
    sqlite_close(kv->db);
    txn_core_free(&kv->core);
    for (size_t i = 0; i < kv->table_count; i++)
        table_clear(&kv->tables[i]);
    free(kv->tables);
    buf_free(&kv->key);
    buf_free(&kv->value);
    buf_free(&kv->meta);
    buf_free(&kv->pk);
    buf_free(&kv->tmp);
    free(kv->ns);
    free(kv->namespace_id);
    free(kv->slot);
    free(kv->base.name);
    free(kv);
}

static const TargetOps ops = {
    .kind = "kv",
    .begin = kv_begin,
    .change = kv_change,
    .commit = kv_commit,
    .rollback = kv_rollback,
    .message = NULL,
    .flush = kv_flush,
    .fence = kv_fence,
    .has_pending = kv_has_pending,
    .free = kv_free,
};

KvStats kv_target_stats(const Target *t) { return ((const Kv *)t)->stats; }

static const char *const SCHEMA_SQL =
    "CREATE TABLE IF NOT EXISTS _wal2edge_kv_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, keys TEXT NOT NULL, "
    "state TEXT, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS _wal2edge_kv_checkpoint (slot TEXT PRIMARY KEY, commit_lsn TEXT NOT NULL, "
    "end_lsn TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _wal2edge_kv_warm (tbl TEXT PRIMARY KEY, last_pk TEXT, done INTEGER NOT NULL, "
    "rows INTEGER NOT NULL, updated_at TEXT NOT NULL);";

static bool read_checkpoint(Kv *kv, Err *err)
{
    bool ok = checkpoint_read_sqlite(kv->db, "SELECT commit_lsn, end_lsn FROM _wal2edge_kv_checkpoint WHERE slot = ?1",
                                     kv->slot, "KV checkpoint", &kv->base.durable, err);
    kv->core.pending = kv->base.durable;
    return ok;
}

Target *kv_target_new(const Config *cfg, const ConfigTarget *t, const MappingSet *maps, const CatalogInfo *cat,
                      CfClient *client, Err *err)
{
    bool remote = t->remote_id != NULL;
    if (remote && !client)
        return err_set(err, ERR_CONFIG, "kv.%s: namespace_id is set but there is no Cloudflare client", t->name),
               NULL;
    KvPlanNotes notes = {0};
    KvTable *tables = NULL;
    size_t count = 0;
    bool ok = true;
    for (size_t i = 0; i < maps->count; i++) {
        const Mapping *m = &maps->items[i];
        bool uses = false;
        for (size_t k = 0; k < m->kv_count; k++)
            if (strcmp(m->kv[k].namespace_name, t->name) == 0)
                uses = true;
        if (!uses)
            continue;
        tables = xrealloc(tables, (count + 1) * sizeof *tables);
        ok = build_table(m, cat, t->name, &tables[count++], &notes) && ok;
    }
    if (!ok) {
        if (notes.error_count > 1)
            err_set(err, ERR_CONFIG, "%s (and %zu more problem%s; run `wal2edge plan`)", notes.errors[0],
                    notes.error_count - 1, notes.error_count == 2 ? "" : "s");
        else
            err_set(err, ERR_CONFIG, "%s", notes.errors[0]);
        kv_plan_notes_free(&notes);
        for (size_t i = 0; i < count; i++)
            table_clear(&tables[i]);
        free(tables);
        return NULL;
    }
    kv_plan_notes_free(&notes);
    char *index_path = remote ? xasprintf("%s/kv/%s.index.sqlite", cfg->state_dir, t->name)
                              : xstrdup(t->embedded_path);
    Sqlite *db = sqlite_open(index_path, true, err);
    if (!db) {
        err_prefix(err, "kv.%s: opening \"%s\"", t->name, index_path);
        free(index_path);
        for (size_t i = 0; i < count; i++)
            table_clear(&tables[i]);
        free(tables);
        return NULL;
    }
    free(index_path);
    Kv *kv = xcalloc(1, sizeof *kv);
    kv->base.ops = &ops;
    kv->base.name = xasprintf("kv.%s", t->name);
    kv->ns = xstrdup(t->name);
    kv->namespace_id = remote ? xstrdup(t->remote_id) : NULL;
    kv->client = client;
    kv->slot = xstrdup(cfg->source.slot);
    kv->db = db;
    kv->tables = tables;
    kv->table_count = count;
    kv->log.component = "kv";
    txn_core_init(&kv->core, &kv->base, ERR_STORE,
                  xasprintf("kv.%s rolled back after an earlier error; restart to resume from its checkpoint", t->name));
    buf_init(&kv->key, 64 * 1024);
    buf_init(&kv->value, KV_MAX_VALUE_BYTES + 1024 * 1024);
    buf_init(&kv->meta, 64 * 1024);
    buf_init(&kv->pk, 1024 * 1024);
    buf_init(&kv->tmp, 64 * 1024);
    ok = sqlite_exec(db, SCHEMA_SQL, err);
    if (ok && remote)
        ok = sqlite_exec(db,
                         "CREATE TABLE IF NOT EXISTS _wal2edge_kv_pending (key TEXT PRIMARY KEY, del INTEGER NOT NULL, "
                         "value BLOB, metadata TEXT, ttl INTEGER) WITHOUT ROWID; DELETE FROM _wal2edge_kv_pending;"
                         "CREATE TEMP TABLE IF NOT EXISTS kv_recent (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) "
                         "WITHOUT ROWID;",
                         err);
    else if (ok)
        ok = sqlite_exec(db,
                         "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB, metadata TEXT, "
                         "expiration INTEGER) WITHOUT ROWID;",
                         err);
    if (ok) {
        ok = (kv->get_row = sqlite_prepare(db, "SELECT keys, state FROM _wal2edge_kv_rows WHERE tbl = ?1 AND pk = ?2",
                                           err)) &&
             (kv->put_row = sqlite_prepare(db, "INSERT OR REPLACE INTO _wal2edge_kv_rows(tbl, pk, keys, state) VALUES "
                                               "(?1, ?2, ?3, ?4)",
                                           err)) &&
             (kv->del_row = sqlite_prepare(db, "DELETE FROM _wal2edge_kv_rows WHERE tbl = ?1 AND pk = ?2", err)) &&
             (kv->rows_of = sqlite_prepare(db, "SELECT keys FROM _wal2edge_kv_rows WHERE tbl = ?1", err)) &&
             (kv->del_rows_of = sqlite_prepare(db, "DELETE FROM _wal2edge_kv_rows WHERE tbl = ?1", err));
    }
    if (ok && remote) {
        ok = (kv->put = sqlite_prepare(db, "INSERT OR REPLACE INTO _wal2edge_kv_pending(key, del, value, metadata, ttl) "
                                           "VALUES (?1, 0, ?2, ?3, ?4)",
                                       err)) &&
             (kv->del = sqlite_prepare(db, "INSERT OR REPLACE INTO _wal2edge_kv_pending(key, del, value, metadata, ttl) "
                                           "VALUES (?1, 1, NULL, NULL, NULL)",
                                       err)) &&
             (kv->page = sqlite_prepare(db, "SELECT key, del, value, metadata, ttl FROM _wal2edge_kv_pending WHERE key > "
                                            "?1 ORDER BY key",
                                        err)) &&
             (kv->get_pending = sqlite_prepare(db, "SELECT key, del, value, metadata, ttl FROM _wal2edge_kv_pending "
                                                   "WHERE key = ?1",
                                               err));
    } else if (ok) {
        ok = (kv->put = sqlite_prepare(db, "INSERT OR REPLACE INTO kv(key, value, metadata, expiration) VALUES (?1, ?2, "
                                           "?3, ?4)",
                                       err)) &&
             (kv->del = sqlite_prepare(db, "DELETE FROM kv WHERE key = ?1", err));
    }
    ok = ok && read_checkpoint(kv, err);
    if (!ok) {
        err_prefix(err, "kv.%s", t->name);
        kv_free(&kv->base);
        return NULL;
    }
    return &kv->base;
}

/* ------------------------------------------------------------------ warm */

size_t kv_target_table_count(const Target *t) { return ((const Kv *)t)->table_count; }
const char *kv_target_table(const Target *t, size_t i) { return ((const Kv *)t)->tables[i].qualname; }

bool kv_warm_interrupted(Target *t, Err *err, bool *out)
{
    Kv *kv = (Kv *)t;
    *out = false;
    SqliteStmt *st = sqlite_prepare(kv->db, "SELECT count(*), coalesce(sum(done), 0) FROM _wal2edge_kv_warm", err);
    if (!st)
        return false;
    int rc = sqlite_step(st, err);
    if (rc == 1) {
        int64_t rows = sqlite_column_int64(st, 0), done = sqlite_column_int64(st, 1);
        *out = rows > 0 && (rows != done || (size_t)done < kv->table_count);
    }
    sqlite_finalize(st);
    return rc >= 0;
}

bool kv_warm_reset(Target *t, Err *err)
{
    return sqlite_exec(((Kv *)t)->db, "DELETE FROM _wal2edge_kv_warm", err);
}

static bool warm_commit(Kv *kv, const KvTable *tab, const char *last_pk, bool done, uint64_t rows, Err *err)
{
    if (!open_tx(kv, err) || !send_pending(kv, err))
        return false;
    SqliteStmt *st = sqlite_prepare(kv->db,
                                    "INSERT OR REPLACE INTO _wal2edge_kv_warm(tbl, last_pk, done, rows, updated_at) "
                                    "VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                                    err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err) &&
              (last_pk ? sqlite_bind_text(st, 2, last_pk, strlen(last_pk), err) : sqlite_bind_null(st, 2, err)) &&
              sqlite_bind_int64(st, 3, done, err) && sqlite_bind_int64(st, 4, (int64_t)rows, err) &&
              step_done(st, err) == 0;
    sqlite_finalize(st);
    ok = ok && sqlite_commit(kv->db, err);
    if (ok) {
        kv->in_tx = false;
        kv->window_emits = 0;
    }
    return ok;
}

/* One warm of one table: its progress and where it resumes. */
typedef struct WarmRun {
    KvWarmProgress pr;
    uint64_t rows_total;       /* committed by earlier warms plus this one */
    char *last_pk;             /* Postgres: the last row's identity; other sources: their tag */
    const char *tag;           /* NULL: Postgres */
    bool done;                 /* an earlier warm finished this table */
    KvWarmProgressFn fn;
    void *user;
} WarmRun;

/* Where an interrupted warm of tab stopped. */
static bool warm_start(Kv *kv, const KvTable *tab, WarmRun *w, Err *err)
{
    w->pr = (KvWarmProgress){.namespace_name = kv->ns, .table = tab->qualname, .rows_estimate = -1};
    if (kv->in_tx)
        return err_set(err, ERR_INTERNAL, "%s: warm with uncommitted work", kv->base.name);
    SqliteStmt *st = sqlite_prepare(kv->db, "SELECT last_pk, done, rows FROM _wal2edge_kv_warm WHERE tbl = ?1", err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err);
    int rc = ok ? sqlite_step(st, err) : -1;
    if (rc == 1) {
        const char *lp = sqlite_column_text(st, 0, NULL);
        bool same_source = w->tag ? lp && strcmp(lp, w->tag) == 0 : !(lp && strncmp(lp, "snapshot:", 9) == 0);
        if (same_source) {
            w->last_pk = lp ? xstrdup(lp) : NULL;
            w->done = sqlite_column_int64(st, 1) != 0;
            w->pr.resumed_rows = (uint64_t)sqlite_column_int64(st, 2);
        }
    }
    sqlite_finalize(st);
    if (rc < 0)
        return false;
    if (w->done) {
        w->pr.done = true;
        if (w->fn)
            w->fn(w->user, &w->pr);
    }
    w->rows_total = w->pr.resumed_rows;
    return true;
}

/* Apply one row (upsert), committing a bulk request's worth first when the window is full. */
static bool warm_row(Kv *kv, const KvTable *tab, const Rel *rel, const PgoTuple *tup, WarmRun *w, Err *err)
{
    if (kv->window_emits + 2 * tab->entry_count > KV_BULK_PAIRS) {
        if (!warm_commit(kv, tab, w->last_pk, false, w->rows_total, err))
            return false;
        if (w->fn)
            w->fn(w->user, &w->pr);
    }
    uint64_t puts_before = kv->window_emits;
    uint64_t bytes_before = kv->emit_bytes;
    if (!open_tx(kv, err) || !apply_upsert(kv, tab, rel, tup, NULL, 0, err))
        return false;
    w->pr.rows++;
    w->rows_total++;
    w->pr.keys += kv->window_emits - puts_before;
    w->pr.bytes += kv->emit_bytes - bytes_before;
    if (!w->tag) {
        free(w->last_pk);
        w->last_pk = xstrdup(kv->pk.data);
    }
    return true;
}

/* The table is read (ok) or the warm failed: final commit, or roll back the window. */
static bool warm_end(Kv *kv, const KvTable *tab, WarmRun *w, bool ok, Err *err)
{
    ok = ok && warm_commit(kv, tab, w->last_pk, true, w->rows_total, err);
    free(w->last_pk);
    w->last_pk = NULL;
    if (!ok) {
        if (kv->in_tx)
            sqlite_rollback(kv->db);
        kv->in_tx = false;
        kv->window_emits = 0;
        err_prefix(err, "%s: warming %s", kv->base.name, tab->qualname);
        return false;
    }
    w->pr.done = true;
    if (w->fn)
        w->fn(w->user, &w->pr);
    return true;
}

bool kv_warm_table(Target *t, size_t ti, PgSnapshot *snap, Lsn lsn, int64_t time_us, KvWarmProgressFn fn, void *user,
                   Err *err)
{
    Kv *kv = (Kv *)t;
    const KvTable *tab = &kv->tables[ti];
    WarmRun w = {.fn = fn, .user = user};
    if (!warm_start(kv, tab, &w, err))
        return false;
    if (w.done) {
        free(w.last_pk);
        return true;
    }
    if (!tab->ordered) {
        free(w.last_pk);
        w.last_pk = NULL; /* no unique key to resume by: start over */
        w.pr.resumed_rows = w.rows_total = 0;
    }
    const char **after = NULL;
    json_t *after_json = w.last_pk ? json_loads(w.last_pk, 0, NULL) : NULL;
    if (after_json && json_is_array(after_json) && json_array_size(after_json) == tab->ident_count) {
        after = xcalloc(tab->ident_count, sizeof *after);
        for (size_t i = 0; i < tab->ident_count; i++)
            after[i] = json_string_value(json_array_get(after_json, i));
    }
    if (!pgsnap_estimate_rows(snap, tab->schema, tab->name, &w.pr.rows_estimate, err)) {
        json_decref(after_json);
        free(after);
        free(w.last_pk);
        return false;
    }
    const char **cols = xcalloc(tab->rel.ncols ? tab->rel.ncols : 1, sizeof *cols);
    for (uint16_t i = 0; i < tab->rel.ncols; i++)
        cols[i] = tab->rel.cols[i].name;
    bool ok = pgsnap_table_open(snap, tab->schema, tab->name, cols, tab->rel.ncols, (const char *const *)tab->ident,
                                tab->ordered ? tab->ident_count : 0, after, err);
    free(cols);
    json_decref(after_json);
    free(after);
    kv->lsn = lsn;
    kv->time_us = time_us;
    PgoCol *vals = xcalloc(tab->rel.ncols ? tab->rel.ncols : 1, sizeof *vals);
    while (ok) {
        long n = pgsnap_fetch(snap, KV_WARM_FETCH, err);
        if (n < 0) {
            ok = false;
            break;
        }
        if (n == 0)
            break;
        for (long r = 0; ok && r < n; r++) {
            for (uint16_t c = 0; c < tab->rel.ncols; c++) {
                size_t len;
                const char *v = pgsnap_value(snap, r, c, &len);
                vals[c].kind = v ? PGO_COL_TEXT : PGO_COL_NULL;
                vals[c].data = (const uint8_t *)v;
                vals[c].len = (uint32_t)len;
            }
            PgoTuple tup = {.ncols = tab->rel.ncols, .cols = vals};
            ok = warm_row(kv, tab, &tab->rel, &tup, &w, err);
        }
    }
    free(vals);
    ok = ok && pgsnap_table_close(snap, err);
    return warm_end(kv, tab, &w, ok, err);
}

bool kv_warm_table_from(Target *t, size_t ti, const KvWarmSource *src, Lsn lsn, int64_t time_us,
                        KvWarmProgressFn fn, void *user, Err *err)
{
    Kv *kv = (Kv *)t;
    const KvTable *tab = &kv->tables[ti];
    for (size_t i = 0; i < tab->needed_count; i++)
        if (kt_rel_column(src->rel, tab->needed[i]) < 0)
            return err_set(err, ERR_CONFIG, "%s: %s: column \"%s\" that its keys, values or identity use is not in %s",
                           kv->base.name, tab->qualname, tab->needed[i], src->tag);
    WarmRun w = {.fn = fn, .user = user, .tag = src->tag};
    if (!warm_start(kv, tab, &w, err))
        return false;
    if (w.done) {
        free(w.last_pk);
        return true;
    }
    free(w.last_pk);
    w.last_pk = xstrdup(src->tag);
    w.pr.rows_estimate = src->rows_estimate;
    kv->lsn = lsn;
    kv->time_us = time_us;
    bool ok = true;
    /* rows an interrupted warm committed: the source yields them in the same order again */
    for (uint64_t skip = 0; ok && skip < w.pr.resumed_rows; skip++) {
        PgoTuple tup;
        int rc = src->next(src->src, &tup, err);
        if (rc == 0)
            ok = err_set(err, ERR_CHECK, "%s has fewer rows than an interrupted warm already read", src->tag);
        ok = ok && rc > 0;
    }
    for (;;) {
        PgoTuple tup;
        int rc = ok ? src->next(src->src, &tup, err) : -1;
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        ok = warm_row(kv, tab, src->rel, &tup, &w, err);
    }
    return warm_end(kv, tab, &w, ok, err);
}

bool kv_warm_progress_tag(Target *t, char **tag, Err *err)
{
    Kv *kv = (Kv *)t;
    *tag = NULL;
    SqliteStmt *st = sqlite_prepare(kv->db, "SELECT last_pk FROM _wal2edge_kv_warm", err);
    if (!st)
        return false;
    int rc;
    bool first = true;
    while ((rc = sqlite_step(st, err)) == 1) {
        const char *lp = sqlite_column_text(st, 0, NULL);
        const char *tg = lp && strncmp(lp, "snapshot:", 9) == 0 ? lp : NULL;
        if (first)
            *tag = tg ? xstrdup(tg) : NULL;
        else if (!(*tag == NULL && tg == NULL) && !(*tag && tg && strcmp(*tag, tg) == 0)) {
            free(*tag);
            *tag = xstrdup(""); /* mixed sources */
        }
        first = false;
    }
    sqlite_finalize(st);
    if (rc < 0) {
        free(*tag);
        *tag = NULL;
        return false;
    }
    return true;
}

bool kv_warm_set_checkpoint(Target *t, Lsn lsn, Err *err)
{
    Kv *kv = (Kv *)t;
    if (kv->in_tx)
        return err_set(err, ERR_INTERNAL, "%s: checkpoint with uncommitted work", kv->base.name);
    /* a transaction whose commit record starts at the snapshot's point is not in the snapshot
     * (decoding starts there), so only what committed before it is skipped */
    TargetCheckpoint ck = {.commit_lsn = lsn - 1, .end_lsn = lsn};
    TargetCheckpoint old = kv->base.durable;
    kv->core.pending = ck;
    kv->base.durable = (TargetCheckpoint){.commit_lsn = LSN_INVALID, .end_lsn = LSN_INVALID}; /* it writes changes only */
    bool ok = write_checkpoint(kv, err);
    if (ok) {
        kv->base.durable = ck;
    } else {
        kv->base.durable = old;
        kv->core.pending = old;
    }
    return ok;
}

/*
 * targets/kv_spec.c - see kv_spec.h. Each "kv" entry's templates are parsed and
 * checked against the catalog; every column a key, value, metadata template or
 * the row identity uses is collected once (`needed`), and those whose type can
 * be TOASTed are kept as row state, so an unchanged TOAST value can be filled
 * in later. The 25 MiB check sums each used column's largest rendering.
 */
#include "targets/kv_spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "value/pgtype.h"

void kv_names_add(char ***v, size_t *n, const char *s)
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

void kv_names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void entry_clear(KvEntry *e)
{
    keytemplate_free(e->key);
    keytemplate_free(e->value_tpl);
    kv_names_free(e->value_cols, e->value_col_count);
    for (size_t i = 0; i < e->meta_count; i++) {
        free(e->meta_names[i]);
        keytemplate_free(e->meta_tpls[i]);
    }
    free(e->meta_names);
    free(e->meta_tpls);
}

void kv_spec_clear(KvTable *t)
{
    for (size_t i = 0; i < t->entry_count; i++)
        entry_clear(&t->entries[i]);
    free(t->entries);
    rowshape_free(t->row_shape);
    rowshape_free(t->all_shape);
    kv_names_free(t->ident, t->ident_count);
    kv_names_free(t->state_cols, t->state_count);
    kv_names_free(t->needed, t->needed_count);
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
        kv_names_add(&t->needed, &t->needed_count, col);
    if (ci >= 0 && !fixed_size_type(cat, ct->cols[ci].type_oid))
        kv_names_add(&t->state_cols, &t->state_count, col);
}

/* Postgres moves values out of line only when a row outgrows TOAST_TUPLE_THRESHOLD (about 2 kB with
 * 8 kB pages), so a table whose widest row stays well under it (every column bounded; half the
 * threshold left for headers, alignment and padding) never sends an unchanged-TOAST value: no row
 * state is needed for it. */
static bool never_toasted(const CatalogInfo *cat, const CatTable *ct)
{
    size_t max = 24 + ct->col_count / 8 + 1; /* tuple header, null bitmap */
    for (size_t i = 0; i < ct->col_count && max <= 1024; i++) {
        Err e;
        D1Type *ty = d1_type_resolve(cat, ct->cols[i].type_oid, NULL, &e);
        size_t b = ty ? d1_type_max_bytes(ty, ct->cols[i].typmod) : 0;
        d1_type_free(ty);
        if (b == 0)
            return false;
        max += b + 8; /* varlena header and alignment */
    }
    return max <= 1024;
}

bool kv_spec_build(const Mapping *m, const CatalogInfo *cat, const char *ns, KvTable *t, KvPlanNotes *notes)
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
            kv_names_add(&t->ident, &t->ident_count, ct->cols[idx->cols[i]].name);
        t->ordered = true;
    } else if (ct->replident == 'f') {
        for (size_t i = 0; i < ct->col_count; i++)
            if (!ct->cols[i].generated)
                kv_names_add(&t->ident, &t->ident_count, ct->cols[i].name);
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
        kv_names_add(&t->needed, &t->needed_count, t->ident[i]);
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
                kv_names_add(&en->value_cols, &en->value_col_count, it->text);
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
    t->keys_fixed = true;
    for (size_t j = 0; j < t->entry_count; j++)
        t->keys_fixed = t->keys_fixed && t->entries[j].key_from_identity;
    if (t->state_count && never_toasted(cat, ct)) {
        kv_names_free(t->state_cols, t->state_count);
        t->state_cols = NULL;
        t->state_count = 0;
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

bool kv_spec_build_namespace(const MappingSet *maps, const CatalogInfo *cat, const char *ns, KvTable **tables,
                             size_t *count, Err *err)
{
    KvPlanNotes notes = {0};
    bool ok = true;
    *tables = NULL;
    *count = 0;
    for (size_t i = 0; i < maps->count; i++) {
        const Mapping *m = &maps->items[i];
        bool uses = false;
        for (size_t k = 0; k < m->kv_count; k++)
            if (strcmp(m->kv[k].namespace_name, ns) == 0)
                uses = true;
        if (!uses)
            continue;
        *tables = xrealloc(*tables, (*count + 1) * sizeof **tables);
        ok = kv_spec_build(m, cat, ns, &(*tables)[(*count)++], &notes) && ok;
    }
    if (!ok && notes.error_count > 1)
        err_set(err, ERR_CONFIG, "%s (and %zu more problem%s; run `wal2edge plan`)", notes.errors[0],
                notes.error_count - 1, notes.error_count == 2 ? "" : "s");
    else if (!ok)
        err_set(err, ERR_CONFIG, "%s", notes.errors[0]);
    kv_plan_notes_free(&notes);
    if (!ok) {
        for (size_t i = 0; i < *count; i++)
            kv_spec_clear(&(*tables)[i]);
        free(*tables);
    }
    return ok;
}

void kv_plan_check(const MappingSet *maps, const CatalogInfo *cat, KvPlanNotes *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < maps->count; i++) {
        if (!maps->items[i].kv_count)
            continue;
        KvTable t;
        (void)kv_spec_build(&maps->items[i], cat, NULL, &t, out);
        kv_spec_clear(&t);
    }
}

void kv_plan_notes_free(KvPlanNotes *n)
{
    kv_names_free(n->errors, n->error_count);
    kv_names_free(n->warnings, n->warning_count);
    memset(n, 0, sizeof *n);
}

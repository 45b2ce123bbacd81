/*
 * targets/kv_apply.c - see kv_apply.h. An upsert renders every entry of the
 * table for the new row (unchanged TOAST values filled from the index's row
 * state or the old row), writes each key, then deletes the keys the index had
 * for the row that the new version no longer forms, and stores the new key
 * list and row state. Keys, values and metadata are rendered into buffers
 * reused from change to change.
 */
#include "targets/kv_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/json_text.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "pipeline/deadletter.h"
#include "targets/kv_rowtag.h"

bool kv_apply_open(KvApply *a, Target *t, Sqlite *db, bool remote, Err *err)
{
    memset(a, 0, sizeof *a);
    a->target = t;
    a->db = db;
    a->remote = remote;
    a->log.component = "kv";
    buf_init(&a->key, 64 * 1024);
    buf_init(&a->value, KV_MAX_VALUE_BYTES + 1024 * 1024);
    buf_init(&a->meta, 64 * 1024);
    buf_init(&a->pk, 1024 * 1024);
    buf_init(&a->tmp, 64 * 1024);
    buf_init(&a->key_list, 1024 * 1024);
    buf_init(&a->keys_json, 4 * 1024 * 1024);
    buf_init(&a->state, (size_t)2 << 30);
    buf_init(&a->held_key, 64 * 1024);
    buf_init(&a->held_value, KV_MAX_VALUE_BYTES + 1024 * 1024);
    buf_init(&a->held_meta, 64 * 1024);
    return kv_index_open(&a->index, db, err);
}

void kv_apply_close(KvApply *a)
{
    kv_index_close(&a->index);
    buf_free(&a->key);
    buf_free(&a->value);
    buf_free(&a->meta);
    buf_free(&a->pk);
    buf_free(&a->tmp);
    buf_free(&a->key_list);
    buf_free(&a->keys_json);
    buf_free(&a->state);
    buf_free(&a->held_key);
    buf_free(&a->held_value);
    buf_free(&a->held_meta);
}

static bool bind_value(SqliteStmt *st, int idx, const char *p, size_t n, Err *err)
{
    return kt_utf8_valid(p, n) ? sqlite_bind_text_ref(st, idx, p, n, err) : sqlite_bind_blob_ref(st, idx, p, n, err);
}

/* ttl: relative (REST) or an expiration time (embedded); 0: none. Every parameter is bound
 * from buffers that outlive the step, so SQLite reads them in place (no copy of the value). */
static bool write_put(KvApply *a, const Buf *key, const Buf *value, const Buf *meta, int64_t ttl, Err *err)
{
    SqliteStmt *st = a->put;
    sqlite_reset(st);
    return sqlite_bind_text_ref(st, 1, key->data, key->len, err) && bind_value(st, 2, value->data, value->len, err) &&
           sqlite_bind_text_ref(st, 3, meta->data, meta->len, err) &&
           (ttl ? sqlite_bind_int64(st, 4, ttl, err) : sqlite_bind_null(st, 4, err)) && sqlite_run(st, err);
}

void kv_apply_defer_savepoint(KvApply *a, SqliteStmt *savepoint)
{
    a->savepoint = savepoint;
    a->sp_due = true;
}

bool kv_apply_enter(KvApply *a, Err *err)
{
    if (!a->sp_due)
        return true;
    a->sp_due = false;
    return sqlite_run(a->savepoint, err) && kv_index_drain(&a->index, err);
}

bool kv_apply_end_txn(KvApply *a)
{
    bool opened = !a->sp_due;
    a->sp_due = false;
    return opened;
}

bool kv_apply_settle(KvApply *a, Err *err)
{
    if (!kv_index_drain(&a->index, err))
        return false;
    if (!a->held)
        return true;
    a->held = false;
    if (!write_put(a, &a->held_key, &a->held_value, &a->held_meta, a->held_expiration, err))
        return false;
    a->stats.puts++;
    return true;
}

void kv_apply_forget(KvApply *a)
{
    a->held = false;
    a->sp_due = false;
    kv_index_forget(&a->index);
}

static bool emit_put(KvApply *a, const Buf *key, const Buf *value, const Buf *meta, int64_t ttl, Err *err)
{
    bool ok;
    if (a->remote) {
        ok = write_put(a, key, value, meta, ttl, err);
    } else {
        /* embedded: held until another key or the transaction's end, so a row written twice in a
         * transaction (an insert and its update) is stored once */
        bool same = a->held && a->held_key.len == key->len && memcmp(a->held_key.data, key->data, key->len) == 0;
        if (same)
            a->stats.coalesced++;
        ok = same || !a->held || (kv_apply_enter(a, err) && kv_apply_settle(a, err));
        buf_reset(&a->held_key);
        buf_reset(&a->held_value);
        buf_reset(&a->held_meta);
        ok = ok && buf_append(&a->held_key, key->data, key->len, err) &&
             buf_append(&a->held_value, value->data, value->len, err) &&
             buf_append(&a->held_meta, meta->data, meta->len, err);
        a->held_expiration = ttl ? (int64_t)time(NULL) + ttl : 0;
        a->held = ok;
    }
    if (ok) {
        a->window_emits++;
        a->emit_bytes += key->len + value->len + meta->len;
    }
    return ok;
}

static bool emit_del(KvApply *a, const char *key, size_t len, Err *err)
{
    /* in order: a held put of this key is deleted after it */
    if (!kv_apply_enter(a, err) || !kv_apply_settle(a, err))
        return false;
    SqliteStmt *st = a->del;
    sqlite_reset(st);
    bool ok = sqlite_bind_text(st, 1, key, len, err) && sqlite_run(st, err);
    if (ok)
        a->window_emits++;
    if (ok && !a->remote && sqlite_changes(a->db) > 0)
        a->stats.deletes++;
    return ok;
}

/* Metadata: {"commit_lsn","commit_time", user templates...}; falls back to the first two when too large. */
static bool render_meta(KvApply *a, const KvEntry *en, const Rel *rel, const PgoTuple *tup, Err *err)
{
    /* the same for every key of a transaction: formatted once */
    if (!a->meta_head_len || a->meta_lsn != a->lsn || a->meta_time_us != a->time_us) {
        /* appended, not printed: formatted once per transaction, that is every other change */
        static const char k1[] = "{\"commit_lsn\":\"", k2[] = "\",\"commit_time\":\"";
        _Static_assert(sizeof k1 + sizeof k2 + LSN_STR_MAX + TIMEFMT_ISO_MAX <= sizeof a->meta_head, "meta head");
        char lsn[LSN_STR_MAX], ts[TIMEFMT_ISO_MAX];
        size_t ll = strlen(lsn_format(a->lsn, lsn)), tl = strlen(timefmt_iso(a->time_us, 6, ts));
        char *p = a->meta_head;
        memcpy(p, k1, sizeof k1 - 1);
        p += sizeof k1 - 1;
        memcpy(p, lsn, ll);
        p += ll;
        memcpy(p, k2, sizeof k2 - 1);
        p += sizeof k2 - 1;
        memcpy(p, ts, tl);
        p += tl;
        *p++ = '"';
        a->meta_head_len = (size_t)(p - a->meta_head);
        a->meta_lsn = a->lsn;
        a->meta_time_us = a->time_us;
    }
    buf_reset(&a->meta);
    if (!buf_append(&a->meta, a->meta_head, a->meta_head_len, err))
        return false;
    size_t base_len = a->meta.len;
    for (size_t i = 0; i < en->meta_count; i++) {
        buf_reset(&a->tmp);
        KtResult r = keytemplate_render(en->meta_tpls[i], KT_RAW, rel, tup, &a->tmp, NULL, err);
        if (r == KT_ERROR)
            return false;
        if (r != KT_OK)
            continue;
        if (!buf_append(&a->meta, ",", 1, err) ||
            !json_text_append_str(&a->meta, en->meta_names[i], strlen(en->meta_names[i]), err) ||
            !buf_append(&a->meta, ":", 1, err) || !json_text_append_str(&a->meta, a->tmp.data, a->tmp.len, err))
            return false;
    }
    /* REST: the row the key belongs to, so the key index can be rebuilt from KV (a takeover) */
    if (a->remote && !kv_rowtag_append(&a->meta, rel->qualname, a->pk.data, a->pk.len, err))
        return false;
    if (a->meta.len + 1 > KV_MAX_METADATA_BYTES) {
        log_warn(&a->log, "%s: metadata of a key of %s is over %d bytes; only commit_lsn and commit_time are kept",
                 a->target->name, rel->qualname, KV_MAX_METADATA_BYTES);
        a->meta.len = base_len;
        a->meta.data[base_len] = '\0';
        if (a->remote && !kv_rowtag_append(&a->meta, rel->qualname, a->pk.data, a->pk.len, err))
            return false;
        if (a->meta.len + 1 > KV_MAX_METADATA_BYTES) {
            log_warn(&a->log, "%s: the identity of a row of %s does not fit in a key's metadata: an index rebuilt "
                              "from KV (a takeover) will not know the key",
                     a->target->name, rel->qualname);
            a->meta.len = base_len;
            a->meta.data[base_len] = '\0';
        }
    }
    return buf_append(&a->meta, "}", 1, err);
}

/* A sub-relation of the listed columns (for column-list values). */
static KtResult render_columns(KvApply *a, const KvTable *tab, const KvEntry *en, const Rel *rel, const PgoTuple *tup,
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
    return rowjson_append(tab->all_shape, &sub, &st, ROWJSON_MARK_UNCHANGED, &a->value, NULL, err) ? KT_OK
                                                                                                   : KT_ERROR;
}

static KtResult render_value(KvApply *a, const KvTable *tab, const KvEntry *en, const Rel *rel, const PgoTuple *tup,
                             Err *err)
{
    buf_reset(&a->value);
    switch (en->vkind) {
    case KVV_ROW: {
        bool unchanged = false;
        if (!rowjson_append(tab->row_shape, rel, tup, ROWJSON_MARK_UNCHANGED, &a->value, &unchanged, err))
            return KT_ERROR;
        return unchanged ? KT_MISSING : KT_OK;
    }
    case KVV_COLUMNS:
        return render_columns(a, tab, en, rel, tup, err);
    case KVV_TEMPLATE:
        return keytemplate_render(en->value_tpl, KT_RAW, rel, tup, &a->value, NULL, err);
    }
    return KT_ERROR;
}

/* Render entry en's key into a->key: KT_OK, KT_NULL (no key; *invalid says why when the row's data
 * forms no valid KV key), KT_MISSING, or KT_ERROR. */
static KtResult render_key(KvApply *a, const KvEntry *en, const Rel *rel, const PgoTuple *tup, const char **invalid,
                           Err *err)
{
    buf_reset(&a->key);
    *invalid = NULL;
    const char *missing = NULL;
    KtResult r = keytemplate_render(en->key, KT_ESCAPE_KEY, rel, tup, &a->key, &missing, err);
    if (r == KT_ERROR && err->code == ERR_TOO_LARGE) { /* longer than the key buffer: far over 512 bytes */
        *invalid = "the key is longer than 512 bytes";
        return KT_NULL;
    }
    if (r != KT_OK)
        return r;
    if (!kt_key_valid(a->key.data ? a->key.data : "", a->key.len, invalid))
        return KT_NULL;
    return KT_OK;
}

/* A put KV refuses for this row alone (a key or value over its limit): dead letter, or stop
 * (docs/mappings.md, "on_error"). value: the refused value, NULL for a bad key. */
static bool refuse_put(KvApply *a, const KvTable *tab, const KvEntry *en, const Rel *rel, const PgoTuple *tup,
                       const char *reason, const Buf *value, Err *err)
{
    Buf key;
    buf_init(&key, 2 * DEADLETTER_MAX_KEY + 4096);
    deadletter_cols_json(rel, tup, (const char *const *)tab->ident, tab->ident_count, DEADLETTER_MAX_KEY, &key);
    char section[32], why[ERR_MSG_MAX / 2];
    snprintf(section, sizeof section, "kv[%zu]", en->index);
    snprintf(why, sizeof why, "KV key \"%.60s%s\" from \"%s\": %s", a->key.data ? a->key.data : "",
             a->key.len > 60 ? "..." : "", keytemplate_text(en->key), reason);
    DlPolicy p = {
        .skip = tab->mapping && tab->mapping->kv[en->index].on_error == MAP_ON_ERROR_SKIP,
        .mapping_file = tab->mapping ? tab->mapping->file : "the mapping file",
        .section = section,
        .ways_out = value ? "put fewer columns in the value (a column list or a template instead of \"row\"), or "
                            "make the row smaller in Postgres"
                          : "change the key template, or fix the row in Postgres",
        .code = ERR_TOO_LARGE,
    };
    DlEntry e = {.target = a->target->name, .table = tab->qualname, .commit_lsn = a->lsn, .xid = a->xid,
                 .key = key.data, .reason = why, .value = value ? value->data : NULL,
                 .value_len = value ? value->len : 0};
    bool ok = deadletter_refuse(a->target->deadletter, &p, &e, err);
    buf_free(&key);
    if (ok)
        a->stats.skipped_keys++;
    return ok;
}

/* Delete every key indexed for (tab, pk) (or, for a row never indexed, the keys
 * computable from the old tuple) and the index row. */
static bool remove_row(KvApply *a, const KvTable *tab, const Rel *rel, const PgoTuple *old, uint8_t old_kind,
                       const Buf *pk, Err *err)
{
    KvIndexRow ir;
    if (!kv_index_get(&a->index, tab->qualname, pk, &ir, err))
        return false;
    bool ok = true;
    if (ir.found) {
        size_t i;
        json_t *v;
        json_array_foreach(kv_index_row_keys(&ir), i, v) {
            if (ok && json_is_string(v))
                ok = emit_del(a, json_string_value(v), json_string_length(v), err);
        }
        ok = ok && kv_index_del(&a->index, tab->qualname, pk, err);
    } else if (old) {
        for (size_t e = 0; ok && e < tab->entry_count; e++) {
            const KvEntry *en = &tab->entries[e];
            if (!en->key_from_identity && old_kind != 'O')
                continue;
            const char *invalid;
            KtResult r = render_key(a, en, rel, old, &invalid, err);
            if (r == KT_ERROR)
                ok = false;
            else if (r == KT_OK)
                ok = emit_del(a, a->key.data, a->key.len, err);
        }
    }
    kv_index_row_clear(&ir);
    return ok;
}

/* The keys the new version of a row forms, as the index stores them (a JSON array, a->keys_json)
 * and NUL-separated for membership (a->key_list). */
static void keys_reset(KvApply *a)
{
    buf_reset(&a->key_list);
    buf_reset(&a->keys_json);
}

static bool keys_have(const KvApply *a, const char *k, size_t n)
{
    for (size_t at = 0; at < a->key_list.len;) {
        size_t len = strlen(a->key_list.data + at);
        if (len == n && memcmp(a->key_list.data + at, k, n) == 0)
            return true;
        at += len + 1;
    }
    return false;
}

static bool keys_add(KvApply *a, const char *k, size_t n, Err *err)
{
    return buf_append(&a->key_list, k, n, err) && buf_append(&a->key_list, "", 1, err) &&
           buf_append(&a->keys_json, a->keys_json.len ? "," : "[", 1, err) &&
           json_text_append_str(&a->keys_json, k, n, err);
}

/* The row state (the TOAST-able columns the keys and values need) as a JSON object in a->state;
 * a value that is not UTF-8 is left out (it cannot be kept as JSON text). NULL on error. */
static const char *state_json(KvApply *a, const KvTable *tab, const Rel *rel, const PgoTuple *row, Err *err)
{
    buf_reset(&a->state);
    bool ok = buf_append(&a->state, "{", 1, err);
    bool first = true;
    for (size_t s = 0; ok && s < tab->state_count; s++) {
        long c = kt_rel_column(rel, tab->state_cols[s]);
        if (c < 0 || (size_t)c >= row->ncols)
            continue;
        const PgoCol *col = &row->cols[c];
        bool text = (col->kind == PGO_COL_TEXT || col->kind == PGO_COL_BINARY) &&
                    kt_utf8_valid((const char *)col->data, col->len);
        if (col->kind != PGO_COL_NULL && !text)
            continue;
        const char *name = tab->state_cols[s];
        ok = (first || buf_append(&a->state, ",", 1, err)) && json_text_append_str(&a->state, name, strlen(name), err) &&
             buf_append(&a->state, ":", 1, err) &&
             (text ? json_text_append_str(&a->state, (const char *)col->data, col->len, err)
                   : buf_append_str(&a->state, "null", err));
        first = false;
    }
    return ok && buf_append(&a->state, "}", 1, err) ? a->state.data : NULL;
}

/* The fixed-key path's index row: the first row of a source transaction waits for its commit (no
 * savepoint yet); a second row opens the savepoint, writing the first. */
static bool keep_row(KvApply *a, const char *tbl, const char *keys_text, Err *err)
{
    if (kv_index_kept(&a->index, tbl, &a->pk, keys_text))
        return true;
    bool defer = a->sp_due && !a->index.waiting &&
                 strlen(tbl) + a->pk.len + strlen(keys_text) + 2 < KV_INDEX_KEEP_MAX / 2;
    return (defer || kv_apply_enter(a, err)) && kv_index_keep(&a->index, tbl, &a->pk, keys_text, defer, err);
}

static bool has_unchanged(const PgoTuple *t)
{
    for (uint16_t i = 0; i < t->ncols; i++)
        if (t->cols[i].kind == PGO_COL_UNCHANGED)
            return true;
    return false;
}

bool kv_apply_upsert(KvApply *a, const KvTable *tab, const Rel *rel, const PgoTuple *nt, const PgoTuple *ot,
                         uint8_t old_kind, Err *err)
{
    Buf pk_old;
    buf_init(&pk_old, 1024 * 1024);
    bool complete;
    bool ok = kv_identity_json(tab, rel, nt, &a->pk, err, &complete);
    if (ok && !complete)
        ok = err_set(err, ERR_PROTOCOL, "%s: a row of %s arrived without its identity columns", a->target->name,
                     rel->qualname);
    KvIndexRow moved = {0};      /* the row under its old identity, when the identity changed */
    if (ok && ot && (old_kind == 'K' || old_kind == 'O')) {
        ok = kv_identity_json(tab, rel, ot, &pk_old, err, &complete);
        if (ok && complete && strcmp(pk_old.data, a->pk.data) != 0)
            ok = kv_index_get(&a->index, tab->qualname, &pk_old, &moved, err) && remove_row(a, tab, rel, ot, old_kind, &pk_old, err);
    }
    /* fixed keys, no row state, nothing to fill: the index row is known without reading it */
    bool fixed = tab->keys_fixed && !tab->state_count && !has_unchanged(nt);
    /* past the fixed-key path's put and index row (which may wait for the commit), the file is read */
    if (!fixed || (ot && (old_kind == 'K' || old_kind == 'O')))
        ok = ok && kv_apply_enter(a, err);
    KvIndexRow ir = {0};
    ok = ok && (fixed || kv_index_get(&a->index, tab->qualname, &a->pk, &ir, err));
    if (ok && !ir.found && moved.state_text)
        kv_index_row_take_state(&ir, &moved); /* its row state moves with it (unchanged TOAST values) */
    kv_index_row_clear(&moved);
    PgoCol small[32], *cols = NULL; /* a row of up to 32 columns is merged on the stack */
    keys_reset(a);
    if (ok) {
        /* fill unchanged TOAST values from the row state or the full old row */
        cols = nt->ncols <= 32 ? small : xcalloc(nt->ncols, sizeof *cols);
        for (uint16_t i = 0; i < nt->ncols; i++) {
            cols[i] = nt->cols[i];
            if (cols[i].kind != PGO_COL_UNCHANGED || i >= rel->ncols)
                continue;
            json_t *row_state = kv_index_row_state(&ir);
            json_t *sv = row_state ? json_object_get(row_state, rel->cols[i].name) : NULL;
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
        KtResult r = render_key(a, en, rel, &merged, &invalid, err);
        if (r == KT_ERROR) {
            ok = false;
            break;
        }
        if (r == KT_NULL && invalid) {
            ok = refuse_put(a, tab, en, rel, &merged, invalid, NULL, err);
            continue;
        }
        if (r == KT_MISSING) {
            log_warn(&a->log, "%s: %s: a key column of \"%s\" is an unchanged TOAST value wal2edge has no copy of; "
                     "key not written (run `wal2edge warm`, or set REPLICA IDENTITY FULL)",
                     a->target->name, rel->qualname, keytemplate_text(en->key));
            a->stats.skipped_keys++;
            continue;
        }
        if (r == KT_NULL)
            continue;
        /* fixed keys: the index lists every key the row forms, written or not, so that a later
         * version's identical list needs no index write */
        if (fixed && !keys_have(a, a->key.data, a->key.len) && !keys_add(a, a->key.data, a->key.len, err)) {
            ok = false;
            break;
        }
        r = render_value(a, tab, en, rel, &merged, err);
        /* over the limit at any size: past the value buffer's cap (25 MiB + 1 MiB) rendering stops there */
        bool capped = r == KT_ERROR && err->code == ERR_TOO_LARGE;
        if (r == KT_ERROR && !capped) {
            ok = false;
            break;
        }
        if (r == KT_MISSING) {
            log_warn(&a->log, "%s: %s: the value of key \"%.60s\" needs an unchanged TOAST value wal2edge has "
                     "no copy of; the key is deleted instead (run `wal2edge warm`, or set REPLICA IDENTITY FULL)",
                     a->target->name, rel->qualname, a->key.data);
            a->stats.skipped_keys++;
            ok = emit_del(a, a->key.data, a->key.len, err);
            continue;
        }
        if (capped || a->value.len > KV_MAX_VALUE_BYTES) {
            char reason[160];
            snprintf(reason, sizeof reason, "the value is %s%zu bytes, over the 25 MiB (%u-byte) KV value limit",
                     capped ? "more than " : "", capped ? a->value.cap : a->value.len, KV_MAX_VALUE_BYTES);
            /* skipped: the key is deleted, so no older value of the row stays behind */
            ok = refuse_put(a, tab, en, rel, &merged, reason, &a->value, err) &&
                 emit_del(a, a->key.data, a->key.len, err);
            continue;
        }
        ok = render_meta(a, en, rel, &merged, err) && emit_put(a, &a->key, &a->value, &a->meta, en->ttl, err);
        if (ok && !keys_have(a, a->key.data, a->key.len))
            ok = keys_add(a, a->key.data, a->key.len, err);
    }
    /* stale keys: written for the old version of the row, not formed by the new one (none when the
     * row forms the same keys as before, compared as the stored text) */
    ok = ok && buf_append_str(&a->keys_json, a->keys_json.len ? "]" : "[]", err);
    const char *keys_text = a->keys_json.data;
    if (ok && ir.found) {
        size_t i;
        json_t *v;
        json_t *old_keys = strcmp(ir.keys_text, keys_text) != 0 ? kv_index_row_keys(&ir) : NULL;
        json_array_foreach(old_keys, i, v) {
            if (ok && json_is_string(v) && !keys_have(a, json_string_value(v), json_string_length(v)))
                ok = emit_del(a, json_string_value(v), json_string_length(v), err);
        }
    } else if (ok && ot && old_kind == 'O' && !fixed) {
        for (size_t e = 0; ok && e < tab->entry_count; e++) {
            const char *invalid;
            KtResult r = render_key(a, &tab->entries[e], rel, ot, &invalid, err);
            if (r == KT_ERROR)
                ok = false;
            else if (r == KT_OK && !keys_have(a, a->key.data, a->key.len))
                ok = emit_del(a, a->key.data, a->key.len, err);
        }
    }
    if (fixed) {
        ok = ok && keep_row(a, tab->qualname, keys_text, err);
        if (cols != small)
            free(cols);
        buf_free(&pk_old);
        return ok;
    }
    const char *state = ok && tab->state_count ? state_json(a, tab, rel, &merged, err) : NULL;
    ok = ok && (state || !tab->state_count);
    /* the index row is written only when it changes */
    bool same = ok && ir.found && strcmp(ir.keys_text, keys_text) == 0 &&
                (state && ir.state_text ? strcmp(state, ir.state_text) == 0 : !state && !ir.state_text);
    ok = ok && (same || kv_index_put(&a->index, tab->qualname, &a->pk, keys_text, state, err));
    if (cols != small)
        free(cols);
    kv_index_row_clear(&ir);
    buf_free(&pk_old);
    return ok;
}

bool kv_apply_delete(KvApply *a, const KvTable *tab, const Rel *rel, const PgoTuple *ot, uint8_t old_kind, Err *err)
{
    if (!kv_apply_enter(a, err))
        return false;
    if (!ot)
        return err_set(err, ERR_PROTOCOL, "%s: a delete of %s arrived without the old key", a->target->name,
                       rel->qualname);
    bool complete;
    if (!kv_identity_json(tab, rel, ot, &a->pk, err, &complete))
        return false;
    if (!complete)
        return err_set(err, ERR_PROTOCOL, "%s: a delete of %s arrived without its identity columns", a->target->name,
                       rel->qualname);
    return remove_row(a, tab, rel, ot, old_kind, &a->pk, err);
}

bool kv_apply_truncate(KvApply *a, const KvTable *tab, Err *err)
{
    if (!kv_apply_enter(a, err))
        return false;
    /* collect first: emitting writes to the same database while stepping */
    json_t *all = json_array();
    bool ok = kv_index_table_keys(&a->index, tab->qualname, all, err);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        if (ok && json_is_string(v))
            ok = emit_del(a, json_string_value(v), json_string_length(v), err);
    }
    json_decref(all);
    return ok && kv_index_drop_table(&a->index, tab->qualname, err);
}
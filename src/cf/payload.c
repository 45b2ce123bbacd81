/*
 * cf/payload.c - D1/KV/Queues bodies, limit checks and result parsing (see payload.h).
 *
 * Bodies are written by hand into a Buf (strings through json_text_append_str
 * after a UTF-8 check, so nothing is silently altered); user-supplied JSON
 * (KV metadata, queue bodies) is parsed and re-dumped compact with jansson, so
 * malformed JSON is refused here rather than by the API, and sizes are counted
 * on the bytes the server will see.
 */
#include "cf/payload.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_text.h"
#include "core/mem.h"

#define UNCAPPED (SIZE_MAX / 2)

bool cf_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* Owned compact dump of JSON text; NULL (with *err) when it does not parse. */
static char *json_compact(const char *text, size_t len, const char *what, Err *err)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        err_set(err, ERR_USAGE, "%s is not valid JSON (%.80s)", what, je.text);
        return NULL;
    }
    char *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!out)
        err_set(err, ERR_USAGE, "%s could not be serialised", what);
    return out;
}

/* ---- D1 ---------------------------------------------------------------- */

bool cf_d1_body(const CfD1Stmt *stmts, size_t n, Buf *out, Err *err)
{
    if (n == 0)
        return err_set(err, ERR_USAGE, "d1 batch has no statements");
    if (!buf_append_str(out, "{\"batch\":[", err))
        return false;
    for (size_t i = 0; i < n; i++) {
        const CfD1Stmt *s = &stmts[i];
        if (!s->sql)
            return err_set(err, ERR_USAGE, "d1 statement %zu has no sql", i);
        size_t sql_len = strlen(s->sql);
        if (sql_len > CF_D1_MAX_SQL_BYTES)
            return err_set(err, ERR_TOO_LARGE,
                           "d1 statement %zu is %zu bytes; the limit is %u bytes per statement",
                           i, sql_len, CF_D1_MAX_SQL_BYTES);
        if (s->param_count > CF_D1_MAX_PARAMS)
            return err_set(err, ERR_TOO_LARGE,
                           "d1 statement %zu has %zu bound parameters; the limit is %u", i,
                           s->param_count, CF_D1_MAX_PARAMS);
        if (!cf_utf8_valid(s->sql, sql_len))
            return err_set(err, ERR_USAGE, "d1 statement %zu is not valid UTF-8", i);
        if ((i && !buf_append(out, ",", 1, err)) || !buf_append_str(out, "{\"sql\":", err) ||
            !json_text_append_str(out, s->sql, sql_len, err))
            return false;
        if (s->param_count) {
            if (!buf_append_str(out, ",\"params\":[", err))
                return false;
            for (size_t k = 0; k < s->param_count; k++) {
                if (k && !buf_append(out, ",", 1, err))
                    return false;
                const char *p = s->params[k];
                if (!p) {
                    if (!buf_append_str(out, "null", err))
                        return false;
                    continue;
                }
                size_t plen = strlen(p);
                if (plen > CF_D1_MAX_VALUE_BYTES)
                    return err_set(err, ERR_TOO_LARGE,
                                   "d1 statement %zu parameter %zu is %zu bytes; the limit is %u",
                                   i, k + 1, plen, CF_D1_MAX_VALUE_BYTES);
                if (!cf_utf8_valid(p, plen))
                    return err_set(err, ERR_USAGE,
                                   "d1 statement %zu parameter %zu is not valid UTF-8 (bind "
                                   "binary data as hex through unhex(?))",
                                   i, k + 1);
                if (!json_text_append_str(out, p, plen, err))
                    return false;
            }
            if (!buf_append(out, "]", 1, err))
                return false;
        }
        if (!buf_append(out, "}", 1, err))
            return false;
    }
    return buf_append_str(out, "]}", err);
}

static int64_t num_i64(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return 0;
}

bool cf_d1_result_parse(json_t *result, size_t expected, bool raw, CfD1Result *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_array(result))
        return err_set(err, ERR_PROTOCOL, "d1 result is not an array");
    size_t count = json_array_size(result);
    if (expected && count < expected)
        return err_set(err, ERR_PROTOCOL, "d1 returned %zu results for %zu statements", count,
                       expected);
    out->root = json_incref(result);
    out->count = count;
    out->stmts = xcalloc(count ? count : 1, sizeof *out->stmts);
    for (size_t i = 0; i < count; i++) {
        const json_t *item = json_array_get(result, i);
        CfD1StmtResult *r = &out->stmts[i];
        if (!json_is_object(item)) {
            cf_d1_result_free(out);
            return err_set(err, ERR_PROTOCOL, "d1 result %zu is not an object", i);
        }
        const json_t *success = json_object_get(item, "success");
        r->success = success ? json_is_true(success) : true;
        const json_t *results = json_object_get(item, "results");
        if (raw && json_is_object(results)) {
            r->columns = json_object_get(results, "columns");
            r->rows = json_object_get(results, "rows");
            if (!json_is_array(r->columns))
                r->columns = NULL;
        } else {
            r->rows = results;
        }
        if (!json_is_array(r->rows))
            r->rows = NULL;
        const json_t *meta = json_object_get(item, "meta");
        if (json_is_object(meta)) {
            r->meta.changes = num_i64(json_object_get(meta, "changes"));
            r->meta.last_row_id = num_i64(json_object_get(meta, "last_row_id"));
            r->meta.rows_read = num_i64(json_object_get(meta, "rows_read"));
            r->meta.rows_written = num_i64(json_object_get(meta, "rows_written"));
            r->meta.duration_ms = json_number_value(json_object_get(meta, "duration"));
            r->meta.size_after = json_number_value(json_object_get(meta, "size_after"));
            r->meta.changed_db = json_is_true(json_object_get(meta, "changed_db"));
        }
    }
    return true;
}

void cf_d1_result_free(CfD1Result *r)
{
    if (!r)
        return;
    free(r->stmts);
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

/* ---- KV ---------------------------------------------------------------- */

bool cf_kv_key_check(const char *key, Err *err)
{
    if (!key || !key[0])
        return err_set(err, ERR_USAGE, "kv key is empty");
    size_t len = strlen(key);
    if (len > CF_KV_MAX_KEY_BYTES)
        return err_set(err, ERR_TOO_LARGE, "kv key '%.60s...' is %zu bytes; the limit is %u",
                       key, len, CF_KV_MAX_KEY_BYTES);
    if (strcmp(key, ".") == 0 || strcmp(key, "..") == 0)
        return err_set(err, ERR_USAGE, "kv key '%s' is not allowed", key);
    if (!cf_utf8_valid(key, len))
        return err_set(err, ERR_USAGE, "kv key is not valid UTF-8");
    return true;
}

typedef struct {
    const CfKvPair *pairs;
    size_t idx;
} KeyRef;

static int cmp_keyref(const void *a, const void *b)
{
    const KeyRef *x = a, *y = b;
    int c = strcmp(x->pairs[x->idx].key, y->pairs[y->idx].key);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

bool cf_kv_pairs_check(const CfKvPair *pairs, size_t n, Err *err)
{
    for (size_t i = 0; i < n; i++) {
        const CfKvPair *p = &pairs[i];
        if (!cf_kv_key_check(p->key, err)) {
            err_prefix(err, "kv pair %zu", i);
            return false;
        }
        if (p->value_len > CF_KV_MAX_VALUE_BYTES)
            return err_set(err, ERR_TOO_LARGE,
                           "kv value of key '%s' is %zu bytes; the limit is %u bytes", p->key,
                           p->value_len, CF_KV_MAX_VALUE_BYTES);
        if (p->value_len && !p->value)
            return err_set(err, ERR_USAGE, "kv value of key '%s' is missing", p->key);
        if (p->expiration_ttl != 0 && p->expiration_ttl < CF_KV_MIN_TTL)
            return err_set(err, ERR_USAGE,
                           "kv expiration_ttl of key '%s' is %lld s; the minimum is %d s", p->key,
                           (long long)p->expiration_ttl, CF_KV_MIN_TTL);
        if (p->expiration < 0)
            return err_set(err, ERR_USAGE, "kv expiration of key '%s' is negative", p->key);
        if (p->metadata_json) {
            char *m = json_compact(p->metadata_json, strlen(p->metadata_json), "kv metadata", err);
            if (!m) {
                err_prefix(err, "key '%s'", p->key);
                return false;
            }
            size_t mlen = strlen(m);
            free(m);
            if (mlen > CF_KV_MAX_METADATA_BYTES)
                return err_set(err, ERR_TOO_LARGE,
                               "kv metadata of key '%s' is %zu bytes; the limit is %u", p->key,
                               mlen, CF_KV_MAX_METADATA_BYTES);
        }
    }
    if (n > 1) {
        KeyRef *refs = xcalloc(n, sizeof *refs);
        for (size_t i = 0; i < n; i++)
            refs[i] = (KeyRef){pairs, i};
        qsort(refs, n, sizeof *refs, cmp_keyref);
        for (size_t i = 1; i < n; i++) {
            if (strcmp(pairs[refs[i].idx].key, pairs[refs[i - 1].idx].key) == 0) {
                err_set(err, ERR_USAGE,
                        "kv key '%s' appears twice (pairs %zu and %zu); coalesce writes to one "
                        "key before a bulk write",
                        pairs[refs[i].idx].key, refs[i - 1].idx, refs[i].idx);
                free(refs);
                return false;
            }
        }
        free(refs);
    }
    return true;
}

static bool kv_item(const CfKvPair *p, Buf *b, Err *err)
{
    if (!buf_append_str(b, "{\"key\":", err) ||
        !json_text_append_str(b, p->key, strlen(p->key), err) ||
        !buf_append_str(b, ",\"value\":", err))
        return false;
    const char *v = p->value ? p->value : "";
    if (!p->binary && cf_utf8_valid(v, p->value_len)) {
        if (!json_text_append_str(b, v, p->value_len, err))
            return false;
    } else {
        size_t enc_len = 4 * ((p->value_len + 2) / 3);
        unsigned char *enc = xmalloc(enc_len + 1);
        int got = EVP_EncodeBlock(enc, (const unsigned char *)v, (int)p->value_len);
        bool ok = got >= 0 && buf_append(b, "\"", 1, err) &&
                  buf_append(b, enc, (size_t)got, err) &&
                  buf_append_str(b, "\",\"base64\":true", err);
        free(enc);
        if (!ok)
            return false;
    }
    if (p->expiration && !buf_printf(b, err, ",\"expiration\":%lld", (long long)p->expiration))
        return false;
    if (p->expiration_ttl &&
        !buf_printf(b, err, ",\"expiration_ttl\":%lld", (long long)p->expiration_ttl))
        return false;
    if (p->metadata_json) {
        char *m = json_compact(p->metadata_json, strlen(p->metadata_json), "kv metadata", err);
        if (!m)
            return false;
        bool ok = buf_append_str(b, ",\"metadata\":", err) && buf_append_str(b, m, err);
        free(m);
        if (!ok)
            return false;
    }
    return buf_append(b, "}", 1, err);
}

/* Shared chunker: items are produced by `make`; the array is "[a,b,...]". */
typedef bool (*ItemFn)(const void *items, size_t i, Buf *b, Err *err);

static bool chunk_array(const void *items, size_t n, size_t start, size_t max_items,
                        size_t max_bytes, const char *open, const char *close, ItemFn make,
                        const char *what, Buf *out, size_t *out_end, Err *err)
{
    size_t base = out->len;
    size_t open_len = strlen(open), close_len = strlen(close);
    if (!buf_append_str(out, open, err))
        return false;
    size_t i = start, count = 0;
    Buf item;
    buf_init(&item, UNCAPPED);
    while (i < n && count < max_items) {
        buf_reset(&item);
        if (!make(items, i, &item, err)) {
            buf_free(&item);
            return false;
        }
        size_t body_len = out->len - base;   /* open + items so far */
        size_t need = body_len + (count ? 1 : 0) + item.len + close_len;
        if (need > max_bytes) {
            if (count == 0) {
                buf_free(&item);
                return err_set(err, ERR_TOO_LARGE,
                               "%s %zu alone makes a %zu-byte request; the limit is %zu bytes",
                               what, i, open_len + item.len + close_len, max_bytes);
            }
            break;
        }
        if ((count && !buf_append(out, ",", 1, err)) ||
            !buf_append(out, item.data, item.len, err)) {
            buf_free(&item);
            return false;
        }
        count++;
        i++;
    }
    buf_free(&item);
    if (!buf_append_str(out, close, err))
        return false;
    *out_end = i;
    return true;
}

static bool kv_item_fn(const void *items, size_t i, Buf *b, Err *err)
{
    return kv_item(&((const CfKvPair *)items)[i], b, err);
}

bool cf_kv_bulk_chunk(const CfKvPair *pairs, size_t n, size_t start, size_t max_pairs,
                      size_t max_bytes, Buf *out, size_t *out_end, Err *err)
{
    if (max_pairs == 0 || max_pairs > CF_KV_MAX_BULK_PAIRS)
        max_pairs = CF_KV_MAX_BULK_PAIRS;
    if (max_bytes == 0 || max_bytes > CF_KV_MAX_BULK_BYTES)
        max_bytes = CF_KV_MAX_BULK_BYTES;
    return chunk_array(pairs, n, start, max_pairs, max_bytes, "[", "]", kv_item_fn, "kv pair",
                       out, out_end, err);
}

static bool key_item_fn(const void *items, size_t i, Buf *b, Err *err)
{
    const char *k = ((const char *const *)items)[i];
    if (!cf_kv_key_check(k, err))
        return false;
    return json_text_append_str(b, k, strlen(k), err);
}

bool cf_kv_delete_chunk(const char *const *keys, size_t n, size_t start, size_t max_keys,
                        size_t max_bytes, Buf *out, size_t *out_end, Err *err)
{
    if (max_keys == 0 || max_keys > CF_KV_MAX_BULK_PAIRS)
        max_keys = CF_KV_MAX_BULK_PAIRS;
    if (max_bytes == 0 || max_bytes > CF_KV_MAX_BULK_BYTES)
        max_bytes = CF_KV_MAX_BULK_BYTES;
    return chunk_array(keys, n, start, max_keys, max_bytes, "[", "]", key_item_fn, "kv key", out,
                       out_end, err);
}

bool cf_kv_bulk_result_add(const json_t *result, size_t sent, CfKvBulkResult *acc, Err *err)
{
    if (result && !json_is_object(result) && !json_is_null(result))
        return err_set(err, ERR_PROTOCOL, "kv bulk result is not an object");
    const json_t *bad = json_object_get(result, "unsuccessful_keys");
    size_t nbad = json_is_array(bad) ? json_array_size(bad) : 0;
    const json_t *okc = json_object_get(result, "successful_key_count");
    if (json_is_integer(okc) && json_integer_value(okc) >= 0)
        acc->successful += (size_t)json_integer_value(okc);
    else
        acc->successful += sent >= nbad ? sent - nbad : 0;
    if (nbad) {
        acc->unsuccessful_keys = xrealloc(acc->unsuccessful_keys,
                                          (acc->unsuccessful_count + nbad) * sizeof(char *));
        for (size_t i = 0; i < nbad; i++) {
            const char *k = json_string_value(json_array_get(bad, i));
            if (k)
                acc->unsuccessful_keys[acc->unsuccessful_count++] = xstrdup(k);
        }
    }
    return true;
}

void cf_kv_bulk_result_free(CfKvBulkResult *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->unsuccessful_count; i++)
        free(r->unsuccessful_keys[i]);
    free(r->unsuccessful_keys);
    memset(r, 0, sizeof *r);
}

bool cf_kv_list_parse(const json_t *result, const char *cursor, CfKvList *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_array(result))
        return err_set(err, ERR_PROTOCOL, "kv key listing is not an array");
    size_t n = json_array_size(result);
    out->keys = xcalloc(n ? n : 1, sizeof *out->keys);
    for (size_t i = 0; i < n; i++) {
        const json_t *k = json_array_get(result, i);
        const char *name = json_string_value(json_object_get(k, "name"));
        if (!name) {
            cf_kv_list_free(out);
            return err_set(err, ERR_PROTOCOL, "kv key listing entry %zu has no name", i);
        }
        CfKvKey *key = &out->keys[out->count++];
        key->name = xstrdup(name);
        key->expiration = num_i64(json_object_get(k, "expiration"));
        const json_t *meta = json_object_get(k, "metadata");
        if (meta && !json_is_null(meta))
            key->metadata_json = json_dumps(meta, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    out->cursor = cursor && cursor[0] ? xstrdup(cursor) : NULL;
    return true;
}

void cf_kv_list_free(CfKvList *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->keys[i].name);
        free(l->keys[i].metadata_json);
    }
    free(l->keys);
    free(l->cursor);
    memset(l, 0, sizeof *l);
}

/* ---- Queues ------------------------------------------------------------ */

/* Owned wire form of the body ("<compact json>" or a JSON string) and the size it counts for. */
static char *queue_wire_body(const CfQueueMsg *m, size_t *out_size, Err *err)
{
    if (!m->body)
        return err_set(err, ERR_USAGE, "queue message has no body"), NULL;
    if (!cf_utf8_valid(m->body, m->body_len))
        return err_set(err, ERR_USAGE,
                       "queue message body is not valid UTF-8 (base64 binary data first)"),
               NULL;
    char *wire;
    size_t counted;
    if (m->content_type == CF_QUEUE_JSON) {
        wire = json_compact(m->body, m->body_len, "queue message body", err);
        if (!wire)
            return NULL;
        counted = strlen(wire);
    } else {
        Buf b;
        buf_init(&b, UNCAPPED);
        if (!json_text_append_str(&b, m->body, m->body_len, err)) {
            buf_free(&b);
            return NULL;
        }
        wire = buf_take(&b);
        counted = m->body_len;
    }
    size_t size = counted + CF_QUEUE_MESSAGE_OVERHEAD;
    if (size > CF_QUEUE_MAX_MESSAGE_BYTES) {
        free(wire);
        return err_set(err, ERR_TOO_LARGE,
                       "queue message is %zu bytes (+%u bytes metadata); the limit is %u bytes "
                       "per message",
                       counted, CF_QUEUE_MESSAGE_OVERHEAD, CF_QUEUE_MAX_MESSAGE_BYTES),
               NULL;
    }
    *out_size = size;
    return wire;
}

bool cf_queue_msg_size(const CfQueueMsg *m, size_t *out_size, Err *err)
{
    char *wire = queue_wire_body(m, out_size, err);
    free(wire);
    return wire != NULL;
}

static bool queue_item(const CfQueueMsg *m, const char *wire, Buf *b, Err *err)
{
    if (!buf_append_str(b, "{\"body\":", err) || !buf_append_str(b, wire, err) ||
        !buf_append_str(b, m->content_type == CF_QUEUE_JSON ? ",\"content_type\":\"json\""
                                                            : ",\"content_type\":\"text\"",
                        err))
        return false;
    if (m->delay_seconds >= 0 && !buf_printf(b, err, ",\"delay_seconds\":%d", m->delay_seconds))
        return false;
    return buf_append(b, "}", 1, err);
}

bool cf_queue_batch_chunk(const CfQueueMsg *msgs, size_t n, size_t start, size_t max_messages,
                          size_t max_bytes, Buf *out, size_t *out_end, Err *err)
{
    if (max_messages == 0 || max_messages > CF_QUEUE_MAX_BATCH_MESSAGES)
        max_messages = CF_QUEUE_MAX_BATCH_MESSAGES;
    if (max_bytes == 0 || max_bytes > CF_QUEUE_MAX_BATCH_BYTES)
        max_bytes = CF_QUEUE_MAX_BATCH_BYTES;
    if (start >= n)
        return err_set(err, ERR_USAGE, "queue batch has no messages");
    if (!buf_append_str(out, "{\"messages\":[", err))
        return false;
    size_t i = start, total = 0;
    Buf item;
    buf_init(&item, UNCAPPED);
    while (i < n && i - start < max_messages) {
        size_t size;
        char *wire = queue_wire_body(&msgs[i], &size, err);
        if (!wire) {
            err_prefix(err, "message %zu", i);
            buf_free(&item);
            return false;
        }
        if (total + size > max_bytes) {
            free(wire);
            break;   /* cannot happen for the first: a message is ≤ 128,000 < 256,000 */
        }
        buf_reset(&item);
        bool ok = queue_item(&msgs[i], wire, &item, err) &&
                  (i == start || buf_append(out, ",", 1, err)) &&
                  buf_append(out, item.data, item.len, err);
        free(wire);
        if (!ok) {
            buf_free(&item);
            return false;
        }
        total += size;
        i++;
    }
    buf_free(&item);
    if (i == start)
        return err_set(err, ERR_TOO_LARGE, "queue message %zu does not fit a batch of %zu bytes",
                       start, max_bytes);
    if (!buf_append_str(out, "]}", err))
        return false;
    *out_end = i;
    return true;
}

bool cf_queue_single_body(const CfQueueMsg *m, Buf *out, Err *err)
{
    size_t size;
    char *wire = queue_wire_body(m, &size, err);
    if (!wire)
        return false;
    bool ok = queue_item(m, wire, out, err);
    free(wire);
    return ok;
}

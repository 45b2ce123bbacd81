/*
 * targets/kv_rest.c - see kv_rest.h. The window's writes sit in a pending table
 * keyed by KV key, so a key written twice in a window is sent once (coalescing).
 * At flush the keys are read back in key order a page at a time (at most
 * KV_BULK_PAIRS keys or KV_PAGE_BYTES), puts and deletes sent as two bulk
 * requests per page, and the keys the API did not take retried after a second.
 * temp.kv_recent remembers when each key was last written, for the cooldown.
 */
#include "targets/kv_rest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/mem.h"
#include "targets/kv_rowtag.h"

#define KV_COOLDOWN_MS 1000    /* one write per second per key */
#define KV_COOLDOWN_MARGIN_MS 100
#define KV_RETRY_ROUNDS 8
#define KV_PAGE_BYTES (64u * 1024 * 1024)

static bool cf_bulk_write(void *user, const char *ns, const CfKvPair *pairs, size_t n, CfKvBulkResult *out, Err *err)
{
    return cf_kv_bulk_write(user, ns, pairs, n, out, err);
}

static bool cf_bulk_delete(void *user, const char *ns, const char *const *keys, size_t n, CfKvBulkResult *out,
                           Err *err)
{
    return cf_kv_bulk_delete(user, ns, keys, n, out, err);
}

static bool cf_list_keys(void *user, const char *ns, const char *cursor, CfKvList *out, Err *err)
{
    return cf_kv_list_keys(user, ns, NULL, cursor, 1000, out, err);
}

static void real_sleep_ms(void *user, int64_t ms)
{
    (void)user;
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

KvHttp kv_http_cf(CfClient *client)
{
    return (KvHttp){.bulk_write = cf_bulk_write, .bulk_delete = cf_bulk_delete, .list_keys = cf_list_keys, .sleep_ms = real_sleep_ms,
                    .user = client};
}

bool kv_rest_open(KvRest *r, Sqlite *db, const char *namespace_id, const char *name, const KvHttp *http, Err *err)
{
    memset(r, 0, sizeof *r);
    r->db = db;
    r->namespace_id = xstrdup(namespace_id);
    r->name = xstrdup(name);
    r->http = *http;
    return sqlite_exec(db,
                       "CREATE TABLE IF NOT EXISTS _wal2edge_kv_pending (key TEXT PRIMARY KEY, del INTEGER NOT NULL, "
                       "value BLOB, metadata TEXT, ttl INTEGER) WITHOUT ROWID; DELETE FROM _wal2edge_kv_pending;"
                       "CREATE TEMP TABLE IF NOT EXISTS kv_recent (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) "
                       "WITHOUT ROWID;",
                       err) &&
           (r->put = sqlite_prepare(db, "INSERT OR REPLACE INTO _wal2edge_kv_pending(key, del, value, metadata, ttl) "
                                        "VALUES (?1, 0, ?2, ?3, ?4)",
                                    err)) &&
           (r->del = sqlite_prepare(db, "INSERT OR REPLACE INTO _wal2edge_kv_pending(key, del, value, metadata, ttl) "
                                        "VALUES (?1, 1, NULL, NULL, NULL)",
                                    err)) &&
           (r->page = sqlite_prepare(db, "SELECT key, del, value, metadata, ttl FROM _wal2edge_kv_pending WHERE key > "
                                         "?1 ORDER BY key",
                                     err)) &&
           (r->get_pending = sqlite_prepare(db, "SELECT key, del, value, metadata, ttl FROM _wal2edge_kv_pending "
                                                "WHERE key = ?1",
                                            err));
}

void kv_rest_close(KvRest *r)
{
    SqliteStmt *sts[] = {r->put, r->del, r->page, r->get_pending};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite_finalize(sts[i]);
    free(r->namespace_id);
    free(r->name);
    memset(r, 0, sizeof *r);
}

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
static bool page_send(KvRest *r, KvStats *stats, PendingPage *p, char ***retry, size_t *retry_count, Err *err)
{
    CfKvBulkResult res;
    if (p->put_count) {
        bool ok = r->http.bulk_write(r->http.user, r->namespace_id, p->puts, p->put_count, &res, err);
        stats->requests += res.requests;
        if (ok) {
            stats->puts += p->put_count - res.unsuccessful_count;
            for (size_t i = 0; i < res.unsuccessful_count; i++)
                kv_names_add(retry, retry_count, res.unsuccessful_keys[i]);
        }
        cf_kv_bulk_result_free(&res);
        if (!ok)
            return false;
    }
    if (p->del_count) {
        bool ok = r->http.bulk_delete(r->http.user, r->namespace_id, (const char *const *)p->dels, p->del_count, &res,
                                    err);
        stats->requests += res.requests;
        if (ok) {
            stats->deletes += p->del_count - res.unsuccessful_count;
            for (size_t i = 0; i < res.unsuccessful_count; i++)
                kv_names_add(retry, retry_count, res.unsuccessful_keys[i]);
        }
        cf_kv_bulk_result_free(&res);
        if (!ok)
            return false;
    }
    return true;
}

bool kv_rest_send(KvRest *r, KvStats *stats, uint64_t window_emits, Err *err)
{
    /* one write per second per key: wait until the newest earlier write of a pending key is a second old */
    SqliteStmt *st = sqlite_prepare(r->db,
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
            stats->cooldown_waits++;
            r->http.sleep_ms(r->http.user, wait);
        }
    }
    char **retry = NULL;
    size_t retry_count = 0;
    bool ok = true;
    char *after = xstrdup("");
    uint64_t written_before = stats->puts + stats->deletes;
    while (ok) {
        PendingPage p = {0};
        sqlite_reset(r->page);
        ok = sqlite_bind_text(r->page, 1, after, strlen(after), err);
        while (ok && (rc = sqlite_step(r->page, err)) == 1) {
            page_add(&p, r->page);
            if (p.put_count + p.del_count >= KV_BULK_PAIRS || p.bytes >= KV_PAGE_BYTES)
                break;
        }
        sqlite_reset(r->page);
        if (rc < 0)
            ok = false;
        size_t n = p.put_count + p.del_count;
        if (ok && n) {
            /* the page's last key, in key order, is the largest of its puts and deletes */
            const char *lp = p.put_count ? p.puts[p.put_count - 1].key : "";
            const char *ld = p.del_count ? p.dels[p.del_count - 1] : "";
            free(after);
            after = xstrdup(strcmp(lp, ld) > 0 ? lp : ld);
            ok = page_send(r, stats, &p, &retry, &retry_count, err);
        }
        page_clear(&p);
        if (!n)
            break;
    }
    free(after);
    for (int round = 0; ok && retry_count && round < KV_RETRY_ROUNDS; round++) {
        r->http.sleep_ms(r->http.user, KV_COOLDOWN_MS + KV_COOLDOWN_MARGIN_MS);
        char **again = retry;
        size_t again_count = retry_count;
        retry = NULL;
        retry_count = 0;
        stats->retried_keys += again_count;
        PendingPage p = {0};
        for (size_t i = 0; ok && i < again_count; i++) {
            sqlite_reset(r->get_pending);
            ok = sqlite_bind_text(r->get_pending, 1, again[i], strlen(again[i]), err);
            rc = ok ? sqlite_step(r->get_pending, err) : -1;
            if (rc == 1)
                page_add(&p, r->get_pending);
            else if (rc < 0)
                ok = false;
            sqlite_reset(r->get_pending);
            if (ok && (p.put_count + p.del_count >= KV_BULK_PAIRS || i + 1 == again_count)) {
                ok = page_send(r, stats, &p, &retry, &retry_count, err);
                page_clear(&p);
            }
        }
        page_clear(&p);
        kv_names_free(again, again_count);
    }
    if (ok && retry_count)
        ok = err_set(err, ERR_HTTP, "%s: %zu key(s) still refused by the KV bulk API after %d retries (e.g. \"%.60s\")",
                     r->name, retry_count, KV_RETRY_ROUNDS, retry[0]);
    kv_names_free(retry, retry_count);
    if (!ok)
        return false;
    uint64_t written = stats->puts + stats->deletes - written_before;
    if (window_emits > written)
        stats->coalesced += window_emits - written;
    char *sql = xasprintf("INSERT OR REPLACE INTO temp.kv_recent(key, at_ms) SELECT key, %" PRId64
                          " FROM _wal2edge_kv_pending; DELETE FROM temp.kv_recent WHERE at_ms < %" PRId64
                          "; DELETE FROM _wal2edge_kv_pending;",
                          clock_mono_ms(), clock_mono_ms() - 2 * KV_COOLDOWN_MS);
    ok = sqlite_exec(r->db, sql, err);
    free(sql);
    return ok;
}

static bool names_table(const KvTable *tables, size_t n, const char *tbl)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tables[i].qualname, tbl) == 0)
            return true;
    return false;
}

bool kv_rest_rebuild_index(KvRest *r, KvIndex *ix, const KvTable *tables, size_t ntables, KvStats *stats,
                           const LogCtx *log, Err *err)
{
    if (!r->http.list_keys)
        return true;
    if (!sqlite_begin(r->db, err))
        return false;
    log_info(log, "%s: rebuilding the key index from the namespace's keys", r->name);
    Buf pk;
    buf_init(&pk, 1024 * 1024);
    char *cursor = NULL;
    size_t pages = 0, listed = 0, indexed = 0, untagged = 0;
    bool ok = kv_index_clear(ix, err); /* rows and their state: what another instance changed is unknown here */
    while (ok) {
        CfKvList page = {0};
        ok = r->http.list_keys(r->http.user, r->namespace_id, cursor, &page, err);
        free(cursor);
        cursor = NULL;
        if (!ok)
            break;
        stats->requests++;
        pages++;
        for (size_t i = 0; ok && i < page.count; i++) {
            char *tbl = NULL;
            listed++;
            if (!kv_rowtag_parse(page.keys[i].metadata_json, &tbl, &pk))
                untagged++;
            else if (names_table(tables, ntables, tbl)) {
                ok = kv_index_add_key(ix, tbl, &pk, page.keys[i].name, err);
                indexed++;
            }
            free(tbl);
        }
        cursor = page.cursor ? xstrdup(page.cursor) : NULL;
        cf_kv_list_free(&page);
        if (ok && cursor && pages % 10 == 0)
            log_info(log, "%s: rebuilding the key index: %zu keys listed (%zu pages)", r->name, listed, pages);
        if (!cursor)
            break;
    }
    free(cursor);
    buf_free(&pk);
    if (ok)
        ok = sqlite_commit(r->db, err);
    if (!ok) {
        sqlite_rollback(r->db);
        err_prefix(err, "%s: rebuilding the key index from KV", r->name);
        return false;
    }
    log_info(log, "%s: key index rebuilt from KV: %zu keys of mapped rows among %zu listed (%zu list request(s))%s", r->name,
             indexed, listed, pages, untagged ? "; keys without a row identity in their metadata are not indexed" : "");
    return true;
}

/*
 * config/config.c - see config.h.
 *
 * Validation walks the JSONC tree with a handful of typed getters; every
 * error carries "FILE:LINE:COL: KEY.PATH: what is wrong".
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config/dsn.h"
#include "config/jsonc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

typedef struct Loader {
    const char *path;
    EnvLookup lookup;
    void *lookup_user;
    Config *cfg;
    Err *err;
} Loader;

static bool cfg_fail(Loader *ld, int line, int col, const char *key_path, const char *fmt, ...)
    ATTR_PRINTF(5, 6);
static bool cfg_fail(Loader *ld, int line, int col, const char *key_path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jsonc_vfail(&(JsoncCheck){ld->path, ld->err}, line, col, key_path, fmt, ap);
    va_end(ap);
    return false;
}

static void cfg_warn(Loader *ld, int line, int col, const char *key_path, const char *fmt, ...)
    ATTR_PRINTF(5, 6);
static void cfg_warn(Loader *ld, int line, int col, const char *key_path, const char *fmt, ...)
{
    char what[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    Config *cfg = ld->cfg;
    cfg->warnings = xrealloc(cfg->warnings, (cfg->warning_count + 1) * sizeof *cfg->warnings);
    cfg->warnings[cfg->warning_count++] =
        xasprintf("%s:%d:%d: %s: %s", ld->path, line, col, key_path, what);
}

static char *key_path_join(const char *parent, const char *key)
{
    return parent && parent[0] ? xasprintf("%s.%s", parent, key) : xstrdup(key);
}

static bool check_keys(Loader *ld, const JsoncNode *obj, const char *key_path, const char *const *allowed)
{
    return jsonc_check_keys(&(JsoncCheck){ld->path, ld->err}, obj, key_path, allowed);
}

static bool expect_type(Loader *ld, const JsoncNode *node, JsoncType type, const char *key_path)
{
    return jsonc_expect_type(&(JsoncCheck){ld->path, ld->err}, node, type, key_path);
}

static bool require_member(Loader *ld, const JsoncNode *obj, const char *parent_path,
                           const char *key, const JsoncMember **out)
{
    *out = jsonc_member(obj, key);
    if (*out)
        return true;
    return cfg_fail(ld, obj->line, obj->col, parent_path, "missing required key \"%s\"", key);
}

/*
 * A string value, ${VAR}-expanded. *out is NULL when the key is absent.
 * *from_env tells whether the value came (at least partly) from the environment.
 */
static bool get_string(Loader *ld, const JsoncNode *obj, const char *parent_path, const char *key,
                       bool required, char **out, bool *from_env)
{
    *out = NULL;
    if (from_env)
        *from_env = false;
    const JsoncMember *m = jsonc_member(obj, key);
    if (!m) {
        if (required)
            return require_member(ld, obj, parent_path, key, &m);
        return true;
    }
    char *key_path = key_path_join(parent_path, key);
    bool ok = expect_type(ld, m->value, JSONC_STRING, key_path);
    if (ok && strlen(m->value->text) != m->value->text_len)
        ok = cfg_fail(ld, m->value->line, m->value->col, key_path, "string contains a NUL character");
    if (ok) {
        Err sub;
        if (!envsubst(m->value->text, ld->lookup, ld->lookup_user, out, from_env, &sub))
            ok = cfg_fail(ld, m->value->line, m->value->col, key_path, "%s", sub.msg);
    }
    free(key_path);
    return ok;
}

static char *path_resolve(const char *dir, const char *path)
{
    if (path[0] == '/' || strcmp(dir, ".") == 0)
        return xstrdup(path);
    return xasprintf("%s/%s", dir, path);
}

static bool name_is_valid(const char *name, size_t max, bool lower_only)
{
    size_t n = strlen(name);
    if (n == 0 || n > max)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  (!lower_only && ((c >= 'A' && c <= 'Z') || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static char *env_or_null(Loader *ld, const char *name)
{
    const char *v = ld->lookup(name, ld->lookup_user);
    return v && v[0] ? xstrdup(v) : NULL;
}

static bool url_is_allowed(const char *url)
{
    if (strncmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    /* Plain HTTP only to this machine (the local edge emulator). */
    static const char *const loopback[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(loopback[i]);
        if (strncmp(url, loopback[i], n) == 0 && (url[n] == ':' || url[n] == '/' || url[n] == '\0'))
            return true;
    }
    return false;
}

static bool get_int(Loader *ld, const JsoncNode *obj, const char *parent_path, const char *key, int64_t min,
                    int64_t max, int *out);
static bool get_int64(Loader *ld, const JsoncNode *obj, const char *parent_path, const char *key, int64_t min,
                      int64_t max, int64_t *out);

static bool load_source(Loader *ld, const JsoncNode *root)
{
    const JsoncMember *m;
    if (!require_member(ld, root, "", "source", &m) || !expect_type(ld, m->value, JSONC_OBJECT, "source"))
        return false;
    const JsoncNode *src = m->value;
    static const char *const keys[] = {"dsn", "publication", "slot", "failover_slot", "heartbeat_interval_ms",
                                       "max_retained_wal_bytes", NULL};
    if (!check_keys(ld, src, "source", keys))
        return false;
    Config *cfg = ld->cfg;
    char *dsn;
    bool dsn_from_env;
    if (!get_string(ld, src, "source", "dsn", true, &dsn, &dsn_from_env))
        return false;
    const JsoncMember *dsn_member = jsonc_member(src, "dsn");
    cfg->source.dsn = secret_new(dsn);
    DsnPasswords found;
    dsn_find_passwords(dsn, &found);
    for (size_t i = 0; i < found.count; i++) {
        char *pw = dsn_password_decoded(dsn, &found, i);
        char *raw = xstrndup(dsn + found.start[i], found.len[i]);
        secret_add_fragment(cfg->source.dsn, pw);
        secret_add_fragment(cfg->source.dsn, raw);
        if (strlen(pw) < LOG_SECRET_MIN_LEN)
            cfg_warn(ld, dsn_member->value->line, dsn_member->value->col, "source.dsn",
                     "the password is shorter than %d characters and cannot be redacted from logs",
                     LOG_SECRET_MIN_LEN);
        else if (!dsn_from_env)
            cfg_warn(ld, dsn_member->value->line, dsn_member->value->col, "source.dsn",
                     "contains a password written in the file; prefer \"${DATABASE_URL}\" or PGPASSWORD");
        free(pw);
        free(raw);
    }
    memset(dsn, 0, strlen(dsn));
    free(dsn);
    if (secret_is_empty(cfg->source.dsn))
        return cfg_fail(ld, dsn_member->value->line, dsn_member->value->col, "source.dsn",
                        "is empty (set it to a libpq connection string or URI)");

    if (!get_string(ld, src, "source", "publication", false, &cfg->source.publication, NULL) ||
        !get_string(ld, src, "source", "slot", false, &cfg->source.slot, NULL))
        return false;
    cfg->source.failover_slot = -1;
    const JsoncMember *fm = jsonc_member(src, "failover_slot");
    if (fm && !expect_type(ld, fm->value, JSONC_BOOL, "source.failover_slot"))
        return false;
    if (fm)
        cfg->source.failover_slot = fm->value->boolean ? 1 : 0;
    cfg->source.heartbeat_interval_ms = CONFIG_DEFAULT_HEARTBEAT_MS;
    cfg->source.max_retained_wal_bytes = CONFIG_DEFAULT_MAX_RETAINED_WAL;
    if (!get_int(ld, src, "source", "heartbeat_interval_ms", 0, 3600000, &cfg->source.heartbeat_interval_ms) ||
        !get_int64(ld, src, "source", "max_retained_wal_bytes", 1, INT64_MAX, &cfg->source.max_retained_wal_bytes))
        return false;
    if (!cfg->source.publication)
        cfg->source.publication = xstrdup(CONFIG_DEFAULT_PUBLICATION);
    if (!cfg->source.slot)
        cfg->source.slot = xstrdup(CONFIG_DEFAULT_SLOT);
    size_t pub_len = strlen(cfg->source.publication);
    if (pub_len == 0 || pub_len > 63) {
        const JsoncMember *pm = jsonc_member(src, "publication");
        return cfg_fail(ld, pm->value->line, pm->value->col, "source.publication",
                        "must be 1 to 63 bytes long");
    }
    if (!name_is_valid(cfg->source.slot, 63, true)) {
        const JsoncMember *sm = jsonc_member(src, "slot");
        return cfg_fail(ld, sm->value->line, sm->value->col, "source.slot",
                        "\"%s\" is not a valid replication slot name (1-63 of a-z, 0-9, _)",
                        cfg->source.slot);
    }
    return true;
}

static bool load_cloudflare(Loader *ld, const JsoncNode *root)
{
    Config *cfg = ld->cfg;
    const JsoncMember *m = jsonc_member(root, "cloudflare");
    char *account_id = NULL, *api_token = NULL, *api_base_url = NULL;
    bool token_from_env = true;
    int line = 1, col = 1;
    if (m) {
        if (!expect_type(ld, m->value, JSONC_OBJECT, "cloudflare"))
            return false;
        static const char *const keys[] = {"account_id", "api_token", "api_base_url", NULL};
        const JsoncNode *cf = m->value;
        if (!check_keys(ld, cf, "cloudflare", keys) ||
            !get_string(ld, cf, "cloudflare", "account_id", false, &account_id, NULL) ||
            !get_string(ld, cf, "cloudflare", "api_token", false, &api_token, &token_from_env) ||
            !get_string(ld, cf, "cloudflare", "api_base_url", false, &api_base_url, NULL)) {
            free(account_id);
            free(api_token);
            free(api_base_url);
            return false;
        }
        const JsoncMember *tm = jsonc_member(cf, "api_token");
        if (tm) {
            line = tm->value->line;
            col = tm->value->col;
        }
    }
    /* wrangler's environment variables fill what the file leaves out */
    if (!account_id || !account_id[0]) {
        free(account_id);
        account_id = env_or_null(ld, "CLOUDFLARE_ACCOUNT_ID");
    }
    if (!api_token || !api_token[0]) {
        free(api_token);
        api_token = env_or_null(ld, "CLOUDFLARE_API_TOKEN");
        token_from_env = true;
    }
    if (!api_base_url || !api_base_url[0]) {
        free(api_base_url);
        api_base_url = env_or_null(ld, "CLOUDFLARE_API_BASE_URL");
        if (!api_base_url)
            api_base_url = xstrdup(CONFIG_DEFAULT_API_BASE_URL);
    }
    cfg->cloudflare.account_id = account_id;
    cfg->cloudflare.api_base_url = api_base_url;
    if (api_token) {
        cfg->cloudflare.api_token = secret_new(api_token);
        if (!token_from_env)
            cfg_warn(ld, line, col, "cloudflare.api_token",
                     "written in the file; prefer \"${CLOUDFLARE_API_TOKEN}\"");
        memset(api_token, 0, strlen(api_token));
        free(api_token);
    }
    /* trailing slashes would double up when paths are appended */
    size_t n = strlen(api_base_url);
    while (n > 0 && api_base_url[n - 1] == '/')
        api_base_url[--n] = '\0';
    if (!url_is_allowed(api_base_url)) {
        const JsoncMember *um = m ? jsonc_member(m->value, "api_base_url") : NULL;
        return cfg_fail(ld, um ? um->value->line : 1, um ? um->value->col : 1,
                        "cloudflare.api_base_url",
                        "\"%s\" must be an https:// URL (plain http only to 127.0.0.1 or localhost)",
                        api_base_url);
    }
    return true;
}

typedef struct TargetSpec {
    TargetKind kind;
    const char *section;       /* "d1" */
    const char *id_key;        /* "database_id" */
    const char *embedded_suffix; /* STATE_DIR/<section>/<name><suffix> */
    const char *const *keys;
} TargetSpec;

static const char *const d1_keys[] = {"database_id", "migrations_dir", NULL};
static const char *const kv_keys[] = {"namespace_id", NULL};
static const char *const queue_keys[] = {"queue_id", NULL};
static const char *const r2_keys[] = {"bucket", "endpoint", "access_key_id", "secret_access_key", NULL};

static const TargetSpec target_specs[] = {
    {TARGET_D1, "d1", "database_id", ".sqlite", d1_keys},
    {TARGET_KV, "kv", "namespace_id", ".sqlite", kv_keys},
    {TARGET_QUEUE, "queues", "queue_id", ".ndjson", queue_keys},
    {TARGET_R2, "r2", "bucket", "", r2_keys},
};

static bool load_r2_extras(Loader *ld, const JsoncNode *obj, const char *key_path, ConfigTarget *t)
{
    char *secret = NULL;
    bool from_env = true;
    if (!get_string(ld, obj, key_path, "endpoint", false, &t->endpoint, NULL) ||
        !get_string(ld, obj, key_path, "access_key_id", false, &t->access_key_id, NULL) ||
        !get_string(ld, obj, key_path, "secret_access_key", false, &secret, &from_env))
        return false;
    if (!t->endpoint || !t->endpoint[0]) {
        free(t->endpoint);
        t->endpoint = env_or_null(ld, "R2_ENDPOINT");
    }
    if (!t->access_key_id || !t->access_key_id[0]) {
        free(t->access_key_id);
        t->access_key_id = env_or_null(ld, "R2_ACCESS_KEY_ID");
    }
    if (!secret || !secret[0]) {
        free(secret);
        secret = env_or_null(ld, "R2_SECRET_ACCESS_KEY");
        from_env = true;
    }
    if (secret) {
        t->secret_access_key = secret_new(secret);
        if (!from_env) {
            const JsoncMember *sm = jsonc_member(obj, "secret_access_key");
            char *p = key_path_join(key_path, "secret_access_key");
            cfg_warn(ld, sm->value->line, sm->value->col, p,
                     "written in the file; prefer \"${R2_SECRET_ACCESS_KEY}\"");
            free(p);
        }
        memset(secret, 0, strlen(secret));
        free(secret);
    }
    if (t->endpoint && !url_is_allowed(t->endpoint)) {
        const JsoncMember *em = jsonc_member(obj, "endpoint");
        char *p = key_path_join(key_path, "endpoint");
        bool ok = cfg_fail(ld, em ? em->value->line : obj->line, em ? em->value->col : obj->col, p,
                           "\"%s\" must be an https:// URL (plain http only to 127.0.0.1 or localhost)",
                           t->endpoint);
        free(p);
        return ok;
    }
    return true;
}

static bool load_targets(Loader *ld, const JsoncNode *root, const TargetSpec *spec)
{
    const JsoncMember *m = jsonc_member(root, spec->section);
    if (!m)
        return true;
    if (!expect_type(ld, m->value, JSONC_OBJECT, spec->section))
        return false;
    Config *cfg = ld->cfg;
    for (size_t i = 0; i < m->value->member_count; i++) {
        const JsoncMember *tm = &m->value->members[i];
        char *key_path = key_path_join(spec->section, tm->key);
        bool ok = expect_type(ld, tm->value, JSONC_OBJECT, key_path);
        if (ok && !name_is_valid(tm->key, 64, false))
            ok = cfg_fail(ld, tm->line, tm->col, spec->section,
                          "\"%s\" is not a valid target name (1-64 of A-Z, a-z, 0-9, _, -)", tm->key);
        if (ok)
            ok = check_keys(ld, tm->value, key_path, spec->keys);
        if (!ok) {
            free(key_path);
            return false;
        }
        cfg->targets = xrealloc(cfg->targets, (cfg->target_count + 1) * sizeof *cfg->targets);
        ConfigTarget *t = &cfg->targets[cfg->target_count++];
        memset(t, 0, sizeof *t);
        t->kind = spec->kind;
        t->name = xstrdup(tm->key);
        t->line = tm->line;
        t->col = tm->col;
        t->embedded_path = xasprintf("%s/%s/%s%s", cfg->state_dir, spec->section, t->name,
                                     spec->embedded_suffix);
        ok = get_string(ld, tm->value, key_path, spec->id_key, false, &t->remote_id, NULL);
        if (ok && t->remote_id && !t->remote_id[0]) {
            free(t->remote_id); /* "${D1_ID:-}" → embedded */
            t->remote_id = NULL;
        }
        if (ok && spec->kind == TARGET_R2)
            ok = load_r2_extras(ld, tm->value, key_path, t);
        char *dir = NULL;
        if (ok && spec->kind == TARGET_D1)
            ok = get_string(ld, tm->value, key_path, "migrations_dir", false, &dir, NULL);
        if (dir && dir[0])
            t->migrations_dir = path_resolve(cfg->dir, dir); /* relative to the config file, like mappings */
        free(dir);
        free(key_path);
        if (!ok)
            return false;
    }
    return true;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static bool load_mappings(Loader *ld, const JsoncNode *root)
{
    Config *cfg = ld->cfg;
    const JsoncMember *m = jsonc_member(root, "mappings");
    if (!m)
        return true;
    const JsoncNode *list = m->value;
    const JsoncNode *single[1] = {list};
    const JsoncNode *const *items = single;
    size_t count = 1;
    if (list->type == JSONC_ARRAY) {
        items = (const JsoncNode *const *)list->items;
        count = list->item_count;
    } else if (list->type != JSONC_STRING) {
        return cfg_fail(ld, list->line, list->col, "mappings",
                        "expected an array of file patterns, got %s", jsonc_type_name(list->type));
    }
    for (size_t i = 0; i < count; i++) {
        const JsoncNode *item = items[i];
        char key_path[32];
        snprintf(key_path, sizeof key_path, "mappings[%zu]", i);
        if (!expect_type(ld, item, JSONC_STRING, key_path))
            return false;
        char *pattern;
        Err sub;
        if (!envsubst(item->text, ld->lookup, ld->lookup_user, &pattern, NULL, &sub))
            return cfg_fail(ld, item->line, item->col, key_path, "%s", sub.msg);
        cfg->mapping_patterns = xrealloc(cfg->mapping_patterns,
                                         (cfg->mapping_pattern_count + 1) * sizeof(char *));
        cfg->mapping_patterns[cfg->mapping_pattern_count++] = pattern;
        char *full = path_resolve(cfg->dir, pattern);
        glob_t g;
        int rc = glob(full, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            if (has_wildcard(pattern))
                cfg_warn(ld, item->line, item->col, key_path, "no file matches \"%s\"", pattern);
            else {
                free(full);
                return cfg_fail(ld, item->line, item->col, key_path, "mapping file \"%s\" not found",
                                pattern);
            }
        } else if (rc != 0) {
            free(full);
            return cfg_fail(ld, item->line, item->col, key_path, "cannot read the files of \"%s\"",
                            pattern);
        } else {
            for (size_t k = 0; k < g.gl_pathc; k++) {
                cfg->mapping_files = xrealloc(cfg->mapping_files,
                                              (cfg->mapping_file_count + 1) * sizeof(char *));
                cfg->mapping_files[cfg->mapping_file_count++] = xstrdup(g.gl_pathv[k]);
            }
            globfree(&g);
        }
        free(full);
    }
    /* sorted and unique, so overlapping patterns load each file once */
    if (cfg->mapping_file_count > 1)
        qsort(cfg->mapping_files, cfg->mapping_file_count, sizeof(char *), compare_strings);
    size_t kept = 0;
    for (size_t i = 0; i < cfg->mapping_file_count; i++) {
        if (kept && strcmp(cfg->mapping_files[kept - 1], cfg->mapping_files[i]) == 0)
            free(cfg->mapping_files[i]);
        else
            cfg->mapping_files[kept++] = cfg->mapping_files[i];
    }
    cfg->mapping_file_count = kept;
    return true;
}

static bool load_changelog(Loader *ld, const JsoncNode *root)
{
    const JsoncMember *m = jsonc_member(root, "changelog");
    if (!m)
        return true;
    static const char *const keys[] = {"path", NULL};
    char *path;
    if (!expect_type(ld, m->value, JSONC_OBJECT, "changelog") || !check_keys(ld, m->value, "changelog", keys) ||
        !get_string(ld, m->value, "changelog", "path", true, &path, NULL))
        return false;
    if (!path[0]) {
        free(path);
        return cfg_fail(ld, m->value->line, m->value->col, "changelog.path", "is empty");
    }
    ld->cfg->changelog_path = path_resolve(ld->cfg->dir, path);
    free(path);
    return true;
}

/* An integer member within [min, max]; *out keeps its default when the key is absent. */
static bool get_int64(Loader *ld, const JsoncNode *obj, const char *parent_path, const char *key, int64_t min,
                      int64_t max, int64_t *out)
{
    const JsoncMember *m = jsonc_member(obj, key);
    if (!m)
        return true;
    char *key_path = key_path_join(parent_path, key);
    int64_t v;
    bool ok = expect_type(ld, m->value, JSONC_NUMBER, key_path);
    if (ok && (!jsonc_int64(m->value, &v) || v < min || v > max))
        ok = cfg_fail(ld, m->value->line, m->value->col, key_path, "must be an integer from %lld to %lld",
                      (long long)min, (long long)max);
    if (ok)
        *out = v;
    free(key_path);
    return ok;
}

static bool get_int(Loader *ld, const JsoncNode *obj, const char *parent_path, const char *key, int64_t min,
                    int64_t max, int *out)
{
    int64_t v = *out;
    if (!get_int64(ld, obj, parent_path, key, min, max, &v))
        return false;
    *out = (int)v;
    return true;
}

static bool load_run(Loader *ld, const JsoncNode *root)
{
    Config *cfg = ld->cfg;
    cfg->run.flush_interval_ms = CONFIG_DEFAULT_FLUSH_INTERVAL_MS;
    cfg->run.status_interval_ms = CONFIG_DEFAULT_STATUS_INTERVAL_MS;
    cfg->run.fence_interval_ms = CONFIG_DEFAULT_FENCE_INTERVAL_MS;
    cfg->run.resync_chunk_rows = CONFIG_DEFAULT_RESYNC_CHUNK_ROWS;
    const JsoncMember *m = jsonc_member(root, "run");
    if (!m)
        return true;
    static const char *const keys[] = {"flush_interval_ms", "status_interval_ms", "fence_interval_ms",
                                       "resync_chunk_rows", NULL};
    return expect_type(ld, m->value, JSONC_OBJECT, "run") && check_keys(ld, m->value, "run", keys) &&
           get_int(ld, m->value, "run", "flush_interval_ms", 10, 60000, &cfg->run.flush_interval_ms) &&
           get_int(ld, m->value, "run", "status_interval_ms", 100, 600000, &cfg->run.status_interval_ms) &&
           get_int(ld, m->value, "run", "fence_interval_ms", 100, 600000, &cfg->run.fence_interval_ms) &&
           get_int(ld, m->value, "run", "resync_chunk_rows", 1, 100000, &cfg->run.resync_chunk_rows);
}

static bool load_metrics(Loader *ld, const JsoncNode *root)
{
    Config *cfg = ld->cfg;
    cfg->metrics.ready_max_lag_seconds = CONFIG_DEFAULT_READY_MAX_LAG_S;
    const JsoncMember *m = jsonc_member(root, "metrics");
    if (!m)
        return true;
    static const char *const keys[] = {"listen", "ready_max_lag_seconds", NULL};
    if (!expect_type(ld, m->value, JSONC_OBJECT, "metrics") || !check_keys(ld, m->value, "metrics", keys) ||
        !get_string(ld, m->value, "metrics", "listen", false, &cfg->metrics.listen, NULL) ||
        !get_int(ld, m->value, "metrics", "ready_max_lag_seconds", 1, 86400, &cfg->metrics.ready_max_lag_seconds))
        return false;
    if (cfg->metrics.listen && !cfg->metrics.listen[0]) {
        free(cfg->metrics.listen); /* "${METRICS_LISTEN:-}" → no listener */
        cfg->metrics.listen = NULL;
    }
    const char *colon = cfg->metrics.listen ? strrchr(cfg->metrics.listen, ':') : NULL;
    if (cfg->metrics.listen && (!colon || colon == cfg->metrics.listen || !colon[1])) {
        const JsoncMember *lm = jsonc_member(m->value, "listen");
        return cfg_fail(ld, lm->value->line, lm->value->col, "metrics.listen",
                        "\"%s\" is not HOST:PORT (e.g. \"127.0.0.1:9187\" or \"[::1]:9187\")",
                        cfg->metrics.listen);
    }
    return true;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

Config *config_parse(const char *text, size_t len, const char *path, EnvLookup lookup,
                     void *lookup_user, Err *err)
{
    JsoncNode *root = jsonc_parse(text, len, path, err);
    if (!root)
        return NULL;
    Config *cfg = xcalloc(1, sizeof *cfg);
    cfg->path = xstrdup(path);
    cfg->dir = dir_of(path);
    Loader ld = {path, lookup, lookup_user, cfg, err};
    static const char *const top_keys[] = {"$schema", "source", "state_dir", "cloudflare", "d1",
                                           "kv", "queues", "r2", "mappings", "changelog", "run",
                                           "metrics", NULL};
    bool ok = expect_type(&ld, root, JSONC_OBJECT, "") && check_keys(&ld, root, "", top_keys) &&
              load_source(&ld, root);
    char *state_dir = NULL;
    if (ok)
        ok = get_string(&ld, root, "", "state_dir", false, &state_dir, NULL);
    if (ok) {
        if (!state_dir || !state_dir[0]) {
            free(state_dir);
            state_dir = xstrdup(CONFIG_DEFAULT_STATE_DIR);
        }
        cfg->state_dir = path_resolve(cfg->dir, state_dir);
        free(state_dir);
        ok = load_cloudflare(&ld, root);
    }
    for (size_t i = 0; ok && i < sizeof target_specs / sizeof target_specs[0]; i++)
        ok = load_targets(&ld, root, &target_specs[i]);
    if (ok)
        ok = load_mappings(&ld, root);
    if (ok)
        ok = load_changelog(&ld, root);
    if (ok)
        ok = load_run(&ld, root);
    if (ok)
        ok = load_metrics(&ld, root);
    jsonc_free(root);
    if (!ok) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

Config *config_load(const char *path, EnvLookup lookup, void *lookup_user, Err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(err, ERR_CONFIG,
                           "config file \"%s\" not found (pass --config FILE, or create wal2edge.jsonc)",
                           path),
                   NULL;
        return err_sys(err, ERR_CONFIG, "cannot open config file \"%s\"", path), NULL;
    }
    Buf b;
    buf_init(&b, CONFIG_MAX_FILE_BYTES);
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err_sys(err, ERR_IO, "cannot read config file \"%s\"", path);
            goto fail;
        }
        if (n == 0)
            break;
        if (!buf_append(&b, chunk, (size_t)n, err)) {
            err_set(err, ERR_CONFIG, "config file \"%s\" is larger than %d bytes", path,
                    CONFIG_MAX_FILE_BYTES);
            goto fail;
        }
    }
    close(fd);
    Config *cfg = config_parse(b.data ? b.data : "", b.len, path, lookup, lookup_user, err);
    buf_free(&b);
    return cfg;
fail:
    close(fd);
    buf_free(&b);
    return NULL;
}

static void free_list(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

void config_free(Config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->dir);
    secret_free(cfg->source.dsn);
    free(cfg->source.publication);
    free(cfg->source.slot);
    free(cfg->state_dir);
    free(cfg->changelog_path);
    free(cfg->metrics.listen);
    free(cfg->cloudflare.account_id);
    secret_free(cfg->cloudflare.api_token);
    free(cfg->cloudflare.api_base_url);
    for (size_t i = 0; i < cfg->target_count; i++) {
        ConfigTarget *t = &cfg->targets[i];
        free(t->name);
        free(t->remote_id);
        free(t->embedded_path);
        free(t->migrations_dir);
        free(t->endpoint);
        free(t->access_key_id);
        secret_free(t->secret_access_key);
    }
    free(cfg->targets);
    free_list(cfg->mapping_patterns, cfg->mapping_pattern_count);
    free_list(cfg->mapping_files, cfg->mapping_file_count);
    free_list(cfg->warnings, cfg->warning_count);
    free(cfg);
}

const char *target_kind_name(TargetKind kind)
{
    for (size_t i = 0; i < sizeof target_specs / sizeof target_specs[0]; i++)
        if (target_specs[i].kind == kind)
            return target_specs[i].section;
    return "?";
}

char *config_r2_endpoint(const Config *cfg, const ConfigTarget *t)
{
    return t->endpoint ? xstrdup(t->endpoint)
                       : xasprintf("https://%s.r2.cloudflarestorage.com",
                                   cfg->cloudflare.account_id ? cfg->cloudflare.account_id : "");
}

const ConfigTarget *config_target(const Config *cfg, TargetKind kind, const char *name)
{
    for (size_t i = 0; i < cfg->target_count; i++)
        if (cfg->targets[i].kind == kind && strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}

bool target_is_embedded(const ConfigTarget *t) { return t->remote_id == NULL; }

static json_t *json_string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *json_secret(const Secret *s)
{
    return secret_is_empty(s) ? json_null() : json_string(LOG_REDACTED);
}

char *config_dump_json(const Config *cfg)
{
    json_t *root = json_object();
    char *dsn = dsn_redacted(secret_reveal(cfg->source.dsn));
    json_object_set_new(root, "source",
                        json_pack("{s:s, s:s, s:s, s:o, s:i, s:I}", "dsn", dsn, "publication", cfg->source.publication,
                                  "slot", cfg->source.slot, "failover_slot",
                                  cfg->source.failover_slot < 0 ? json_null() : json_boolean(cfg->source.failover_slot),
                                  "heartbeat_interval_ms",
                                  cfg->source.heartbeat_interval_ms, "max_retained_wal_bytes",
                                  (json_int_t)cfg->source.max_retained_wal_bytes));
    free(dsn);
    json_object_set_new(root, "state_dir", json_string(cfg->state_dir));
    json_object_set_new(root, "cloudflare",
                        json_pack("{s:o, s:o, s:s}", "account_id",
                                  json_string_or_null(cfg->cloudflare.account_id), "api_token",
                                  json_secret(cfg->cloudflare.api_token), "api_base_url",
                                  cfg->cloudflare.api_base_url));
    for (size_t s = 0; s < sizeof target_specs / sizeof target_specs[0]; s++) {
        const TargetSpec *spec = &target_specs[s];
        json_t *section = json_object();
        for (size_t i = 0; i < cfg->target_count; i++) {
            const ConfigTarget *t = &cfg->targets[i];
            if (t->kind != spec->kind)
                continue;
            json_t *obj = json_object();
            json_object_set_new(obj, spec->id_key, json_string_or_null(t->remote_id));
            json_object_set_new(obj, "mode", json_string(t->remote_id ? "remote" : "embedded"));
            json_object_set_new(obj, "embedded_path", json_string(t->embedded_path));
            if (t->migrations_dir)
                json_object_set_new(obj, "migrations_dir", json_string(t->migrations_dir));
            if (t->kind == TARGET_R2) {
                json_object_set_new(obj, "endpoint", json_string_or_null(t->endpoint));
                json_object_set_new(obj, "access_key_id", json_string_or_null(t->access_key_id));
                json_object_set_new(obj, "secret_access_key", json_secret(t->secret_access_key));
            }
            json_object_set_new(section, t->name, obj);
        }
        json_object_set_new(root, spec->section, section);
    }
    json_object_set_new(root, "run", json_pack("{s:i, s:i, s:i, s:i}", "flush_interval_ms", cfg->run.flush_interval_ms,
                                               "status_interval_ms", cfg->run.status_interval_ms,
                                               "fence_interval_ms", cfg->run.fence_interval_ms,
                                               "resync_chunk_rows", cfg->run.resync_chunk_rows));
    json_object_set_new(root, "metrics", json_pack("{s:o, s:i}", "listen", json_string_or_null(cfg->metrics.listen),
                                                   "ready_max_lag_seconds", cfg->metrics.ready_max_lag_seconds));
    json_object_set_new(root, "changelog", cfg->changelog_path
                                               ? json_pack("{s:s}", "path", cfg->changelog_path)
                                               : json_null());
    json_t *files = json_array();
    for (size_t i = 0; i < cfg->mapping_file_count; i++)
        json_array_append_new(files, json_string(cfg->mapping_files[i]));
    json_object_set_new(root, "mappings", files);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    char *out = xstrdup(text);
    free(text);
    return out;
}

/*
 * mapping/mapping.c - see mapping.h.
 *
 * Each file is parsed with config/jsonc (which keeps positions) and walked
 * with a few typed getters; every error is "FILE:LINE:COL: key.path: problem".
 */
#include "mapping/mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"
#include "mapping/shard.h"

typedef struct Ld {
    const char *path;
    const Config *cfg;
    Err *err;
} Ld;

static bool fail(Ld *ld, int line, int col, const char *key_path, const char *fmt, ...)
    ATTR_PRINTF(5, 6);
static bool fail(Ld *ld, int line, int col, const char *key_path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jsonc_vfail(&(JsoncCheck){ld->path, ld->err}, line, col, key_path, fmt, ap);
    va_end(ap);
    return false;
}

static bool check_keys(Ld *ld, const JsoncNode *obj, const char *key_path, const char *const *allowed)
{
    return jsonc_check_keys(&(JsoncCheck){ld->path, ld->err}, obj, key_path, allowed);
}

static bool expect_type(Ld *ld, const JsoncNode *node, JsoncType type, const char *key_path)
{
    return jsonc_expect_type(&(JsoncCheck){ld->path, ld->err}, node, type, key_path);
}

/* A non-empty string without NUL bytes. */
static bool expect_name(Ld *ld, const JsoncNode *node, const char *key_path)
{
    if (!expect_type(ld, node, JSONC_STRING, key_path))
        return false;
    if (node->text_len == 0)
        return fail(ld, node->line, node->col, key_path, "must not be empty");
    if (strlen(node->text) != node->text_len)
        return fail(ld, node->line, node->col, key_path, "contains a NUL character");
    return true;
}

static bool get_required_string(Ld *ld, const JsoncNode *obj, const char *parent, const char *key,
                                const JsoncNode **out)
{
    const JsoncMember *m = jsonc_member(obj, key);
    if (!m)
        return fail(ld, obj->line, obj->col, parent, "missing required key \"%s\"", key);
    char path[128];
    snprintf(path, sizeof path, "%s.%s", parent, key);
    if (!expect_name(ld, m->value, path))
        return false;
    *out = m->value;
    return true;
}

/* A D1 / SQLite identifier we are willing to create: printable, no quotes or control bytes. */
static bool d1_identifier_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '`' || *p == '[' || *p == ']')
            return false;
    return true;
}

static bool d1_table_reserved(const char *name)
{
    return strncasecmp(name, "sqlite_", 7) == 0 || strncasecmp(name, "_cf_", 4) == 0 ||
           strcasecmp(name, "_wal2edge_state") == 0 || strcasecmp(name, "d1_migrations") == 0;
}

static bool target_exists(Ld *ld, TargetKind kind, const JsoncNode *node, const char *key_path)
{
    if (config_target(ld->cfg, kind, node->text))
        return true;
    const char *section = kind == TARGET_D1 ? "d1" : kind == TARGET_KV ? "kv"
                        : kind == TARGET_QUEUE ? "queues" : "r2";
    Buf names;
    buf_init(&names, 4096);
    bool any = false;
    Err ignored;
    for (size_t i = 0; i < ld->cfg->target_count; i++) {
        const ConfigTarget *t = &ld->cfg->targets[i];
        if (t->kind != kind)
            continue;
        if (!buf_printf(&names, &ignored, "%s\"%s\"", any ? ", " : "", t->name))
            break;
        any = true;
    }
    bool r;
    if (any)
        r = fail(ld, node->line, node->col, key_path,
                 "\"%s\" is not a %s target of %s (it has %s)", node->text, section,
                 ld->cfg->path ? ld->cfg->path : "the config", names.data);
    else
        r = fail(ld, node->line, node->col, key_path,
                 "\"%s\" is not a %s target of %s (its \"%s\" section is empty or missing)",
                 node->text, section, ld->cfg->path ? ld->cfg->path : "the config", section);
    buf_free(&names);
    return r;
}

static bool load_name_list(Ld *ld, const JsoncNode *node, const char *key_path, MapName **out,
                           size_t *out_count)
{
    if (!expect_type(ld, node, JSONC_ARRAY, key_path))
        return false;
    *out = node->item_count ? xcalloc(node->item_count, sizeof **out) : NULL;
    for (size_t i = 0; i < node->item_count; i++) {
        const JsoncNode *it = node->items[i];
        char path[128];
        snprintf(path, sizeof path, "%s[%zu]", key_path, i);
        if (!expect_name(ld, it, path))
            return false;
        for (size_t k = 0; k < *out_count; k++)
            if (strcmp((*out)[k].name, it->text) == 0)
                return fail(ld, it->line, it->col, path, "\"%s\" is listed twice", it->text);
        MapName *n = &(*out)[(*out_count)++];
        n->name = xstrdup(it->text);
        n->line = it->line;
        n->col = it->col;
    }
    return true;
}

static bool load_pairs(Ld *ld, const JsoncNode *node, const char *key_path, bool is_types,
                       MapPair **out, size_t *out_count)
{
    if (!expect_type(ld, node, JSONC_OBJECT, key_path))
        return false;
    *out = node->member_count ? xcalloc(node->member_count, sizeof **out) : NULL;
    for (size_t i = 0; i < node->member_count; i++) {
        const JsoncMember *m = &node->members[i];
        char path[192];
        snprintf(path, sizeof path, "%s.%s", key_path, m->key);
        if (!m->key[0])
            return fail(ld, m->line, m->col, key_path, "column names must not be empty");
        if (!expect_name(ld, m->value, path))
            return false;
        char *value = xstrdup(m->value->text);
        if (is_types) {
            for (char *p = value; *p; p++)
                if (*p >= 'a' && *p <= 'z')
                    *p = (char)(*p - 'a' + 'A');
            if (strcmp(value, "INTEGER") != 0 && strcmp(value, "REAL") != 0 &&
                strcmp(value, "TEXT") != 0 && strcmp(value, "BLOB") != 0) {
                free(value);
                return fail(ld, m->value->line, m->value->col, path,
                            "\"%s\" is not a D1 type (use INTEGER, REAL, TEXT or BLOB)",
                            m->value->text);
            }
        } else if (!d1_identifier_ok(value, 255)) {
            free(value);
            return fail(ld, m->value->line, m->value->col, path,
                        "\"%s\" is not a usable D1 column name (1-255 bytes, no quotes, brackets "
                        "or control characters)",
                        m->value->text);
        }
        MapPair *p = &(*out)[(*out_count)++];
        p->key = xstrdup(m->key);
        p->value = value;
        p->line = m->line;
        p->col = m->col;
    }
    return true;
}

/* "on_error": "stop" | "skip" of the target section `obj` (absent: stop). */
static bool load_on_error(Ld *ld, const JsoncNode *obj, const char *parent, MapOnError *out)
{
    *out = MAP_ON_ERROR_STOP;
    const JsoncMember *m = jsonc_member(obj, "on_error");
    if (!m)
        return true;
    char path[96];
    snprintf(path, sizeof path, "%s.on_error", parent);
    if (!expect_type(ld, m->value, JSONC_STRING, path))
        return false;
    if (strcmp(m->value->text, "skip") == 0)
        *out = MAP_ON_ERROR_SKIP;
    else if (strcmp(m->value->text, "stop") != 0)
        return fail(ld, m->value->line, m->value->col, path,
                    "\"%s\" is not an on_error policy (use \"stop\" or \"skip\")", m->value->text);
    return true;
}

const char *mapping_on_error_name(MapOnError e) { return e == MAP_ON_ERROR_SKIP ? "skip" : "stop"; }

/* "on_schema_change": "evolve" | "stop" of the mapping (absent: evolve; docs/schema-changes.md). */
static bool load_on_schema_change(Ld *ld, const JsoncNode *root, MapOnSchemaChange *out)
{
    *out = MAP_SCHEMA_EVOLVE;
    const JsoncMember *m = jsonc_member(root, "on_schema_change");
    if (!m)
        return true;
    if (!expect_type(ld, m->value, JSONC_STRING, "on_schema_change"))
        return false;
    if (strcmp(m->value->text, "stop") == 0)
        *out = MAP_SCHEMA_STOP;
    else if (strcmp(m->value->text, "evolve") != 0)
        return fail(ld, m->value->line, m->value->col, "on_schema_change",
                    "\"%s\" is not an on_schema_change policy (use \"evolve\" or \"stop\")", m->value->text);
    return true;
}

const char *mapping_on_schema_change_name(MapOnSchemaChange p) { return p == MAP_SCHEMA_STOP ? "stop" : "evolve"; }

/* "on_drop": "drop" | "keep" of the mapping (absent: drop; docs/schema-changes.md). */
static bool load_on_drop(Ld *ld, const JsoncNode *root, MapOnDrop *out)
{
    *out = MAP_DROP_DROP;
    const JsoncMember *m = jsonc_member(root, "on_drop");
    if (!m)
        return true;
    if (!expect_type(ld, m->value, JSONC_STRING, "on_drop"))
        return false;
    if (strcmp(m->value->text, "keep") == 0)
        *out = MAP_DROP_KEEP;
    else if (strcmp(m->value->text, "drop") != 0)
        return fail(ld, m->value->line, m->value->col, "on_drop",
                    "\"%s\" is not an on_drop policy (use \"drop\" or \"keep\")", m->value->text);
    return true;
}

const char *mapping_on_drop_name(MapOnDrop p) { return p == MAP_DROP_KEEP ? "keep" : "drop"; }

/* "database": one d1 target, or a list of them (the shards, in the order the shard function numbers them). */
static bool load_databases(Ld *ld, const JsoncNode *obj, MappingD1 *d)
{
    const JsoncMember *m = jsonc_member(obj, "database");
    if (!m)
        return fail(ld, obj->line, obj->col, "d1", "missing required key \"database\"");
    const JsoncNode *v = m->value;
    d->database_line = v->line;
    d->database_col = v->col;
    if (v->type == JSONC_STRING) {
        if (!expect_name(ld, v, "d1.database") || !target_exists(ld, TARGET_D1, v, "d1.database"))
            return false;
        d->databases = xcalloc(1, sizeof *d->databases);
        d->databases[d->database_count++] = xstrdup(v->text);
        return true;
    }
    if (v->type != JSONC_ARRAY)
        return fail(ld, v->line, v->col, "d1.database",
                    "expected a d1 target's name or a list of them (shards), got %s", jsonc_type_name(v->type));
    if (v->item_count == 0 || v->item_count > SHARD_MAX_DATABASES)
        return fail(ld, v->line, v->col, "d1.database", "a list of %zu databases (name 1 to %d)", v->item_count,
                    SHARD_MAX_DATABASES);
    d->databases = xcalloc(v->item_count, sizeof *d->databases);
    for (size_t i = 0; i < v->item_count; i++) {
        const JsoncNode *it = v->items[i];
        char path[64];
        snprintf(path, sizeof path, "d1.database[%zu]", i);
        if (!expect_name(ld, it, path) || !target_exists(ld, TARGET_D1, it, path))
            return false;
        for (size_t k = 0; k < i; k++)
            if (strcmp(d->databases[k], it->text) == 0)
                return fail(ld, it->line, it->col, path, "\"%s\" is listed twice (each shard is its own database)",
                            it->text);
        d->databases[d->database_count++] = xstrdup(it->text);
    }
    return true;
}

/* "shard_by" with a list of databases; checked against the catalog by d1/ddl (NOT NULL, in the key). */
static bool load_shard_by(Ld *ld, const JsoncNode *obj, MappingD1 *d)
{
    const JsoncMember *m = jsonc_member(obj, "shard_by");
    if (!m) {
        if (d->database_count > 1)
            return fail(ld, d->database_line, d->database_col, "d1.database",
                        "%zu databases need \"shard_by\": the columns whose values pick a row's database "
                        "(docs/sharding.md)",
                        d->database_count);
        return true;
    }
    if (!load_name_list(ld, m->value, "d1.shard_by", &d->shard_by, &d->shard_by_count))
        return false;
    if (d->shard_by_count == 0 || d->shard_by_count > SHARD_MAX_COLUMNS)
        return fail(ld, m->value->line, m->value->col, "d1.shard_by", "must name 1 to %d columns", SHARD_MAX_COLUMNS);
    if (d->database_count < 2)
        return fail(ld, m->line, m->col, "d1.shard_by",
                    "needs a list of at least two databases in d1.database to spread the rows over");
    for (size_t i = 0; i < d->shard_by_count; i++)
        for (size_t k = 0; k < d->exclude_count; k++)
            if (strcmp(d->shard_by[i].name, d->exclude[k].name) == 0)
                return fail(ld, d->shard_by[i].line, d->shard_by[i].col, "d1.shard_by",
                            "column \"%s\" is also in d1.exclude (D1 rows must carry their shard key)",
                            d->shard_by[i].name);
    return true;
}

static bool load_d1(Ld *ld, const JsoncNode *node, Mapping *mp)
{
    if (!expect_type(ld, node, JSONC_OBJECT, "d1"))
        return false;
    static const char *const keys[] = {"database",    "table",    "exclude",  "rename", "types",
                                       "primary_key", "on_error", "shard_by", NULL};
    if (!check_keys(ld, node, "d1", keys) || !load_on_error(ld, node, "d1", &mp->d1.on_error))
        return false;
    MappingD1 *d = &mp->d1;
    d->present = true;
    d->line = node->line;
    d->col = node->col;
    const JsoncNode *table = NULL;
    if (!load_databases(ld, node, d))
        return false;
    d->database = xstrdup(d->databases[0]);
    const JsoncMember *tm = jsonc_member(node, "table");
    if (tm) {
        if (!expect_name(ld, tm->value, "d1.table"))
            return false;
        table = tm->value;
        d->table = xstrdup(table->text);
        d->table_line = table->line;
        d->table_col = table->col;
    } else {
        d->table = xstrdup(mp->relname); /* default: the Postgres table's name */
        d->table_line = node->line;
        d->table_col = node->col;
    }
    if (!d1_identifier_ok(d->table, 255))
        return fail(ld, d->table_line, d->table_col, "d1.table",
                    "\"%s\" is not a usable D1 table name (1-255 bytes, no quotes, brackets or "
                    "control characters)",
                    d->table);
    if (d1_table_reserved(d->table))
        return fail(ld, d->table_line, d->table_col, "d1.table",
                    "\"%s\" is reserved (sqlite_*, _cf_*, _wal2edge_state and d1_migrations "
                    "belong to SQLite, D1, wal2edge and wrangler)",
                    d->table);
    const JsoncMember *m;
    if ((m = jsonc_member(node, "exclude")) &&
        !load_name_list(ld, m->value, "d1.exclude", &d->exclude, &d->exclude_count))
        return false;
    if ((m = jsonc_member(node, "rename")) &&
        !load_pairs(ld, m->value, "d1.rename", false, &d->rename, &d->rename_count))
        return false;
    if ((m = jsonc_member(node, "types")) &&
        !load_pairs(ld, m->value, "d1.types", true, &d->types, &d->type_count))
        return false;
    if ((m = jsonc_member(node, "primary_key"))) {
        d->primary_key_line = m->value->line;
        d->primary_key_col = m->value->col;
        if (!load_name_list(ld, m->value, "d1.primary_key", &d->primary_key, &d->primary_key_count))
            return false;
        if (d->primary_key_count == 0)
            return fail(ld, m->value->line, m->value->col, "d1.primary_key",
                        "must name at least one column (or leave it out to use the table's "
                        "primary key)");
    }
    /* A column cannot be both excluded and renamed, typed or part of the key. */
    for (size_t i = 0; i < d->exclude_count; i++) {
        const char *c = d->exclude[i].name;
        for (size_t k = 0; k < d->rename_count; k++)
            if (strcmp(d->rename[k].key, c) == 0)
                return fail(ld, d->rename[k].line, d->rename[k].col, "d1.rename",
                            "column \"%s\" is also in d1.exclude", c);
        for (size_t k = 0; k < d->type_count; k++)
            if (strcmp(d->types[k].key, c) == 0)
                return fail(ld, d->types[k].line, d->types[k].col, "d1.types",
                            "column \"%s\" is also in d1.exclude", c);
        for (size_t k = 0; k < d->primary_key_count; k++)
            if (strcmp(d->primary_key[k].name, c) == 0)
                return fail(ld, d->primary_key[k].line, d->primary_key[k].col, "d1.primary_key",
                            "column \"%s\" is also in d1.exclude", c);
    }
    /* Two columns renamed to one D1 name (SQLite names are case-insensitive). */
    for (size_t i = 0; i < d->rename_count; i++)
        for (size_t k = 0; k < i; k++)
            if (strcasecmp(d->rename[i].value, d->rename[k].value) == 0)
                return fail(ld, d->rename[i].line, d->rename[i].col, "d1.rename",
                            "columns \"%s\" and \"%s\" are both renamed to \"%s\"", d->rename[k].key,
                            d->rename[i].key, d->rename[i].value);
    return load_shard_by(ld, node, d);
}

/* "{col}" placeholders: balanced, non-empty names. */
static bool check_template(Ld *ld, const JsoncNode *node, const char *key_path)
{
    const char *s = node->text;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '}')
            return fail(ld, node->line, node->col, key_path, "unbalanced \"}\" in \"%s\"", s);
        if (s[i] != '{')
            continue;
        size_t j = i + 1;
        while (s[j] && s[j] != '}' && s[j] != '{')
            j++;
        if (s[j] != '}' || j == i + 1)
            return fail(ld, node->line, node->col, key_path,
                        "bad placeholder in \"%s\" (write {column})", s);
        i = j;
    }
    return true;
}

static bool load_kv(Ld *ld, const JsoncNode *node, Mapping *mp)
{
    if (!expect_type(ld, node, JSONC_ARRAY, "kv"))
        return false;
    mp->kv_node = node;
    mp->kv = node->item_count ? xcalloc(node->item_count, sizeof *mp->kv) : NULL;
    for (size_t i = 0; i < node->item_count; i++) {
        const JsoncNode *it = node->items[i];
        char path[64], sub[96];
        snprintf(path, sizeof path, "kv[%zu]", i);
        if (!expect_type(ld, it, JSONC_OBJECT, path))
            return false;
        /* "metadata" (an object of templates) is validated by targets/kv (docs/kv.md) */
        static const char *const keys[] = {"namespace", "key", "value", "ttl", "metadata", "on_error", NULL};
        if (!check_keys(ld, it, path, keys))
            return false;
        MappingKv *kv = &mp->kv[mp->kv_count++];
        if (!load_on_error(ld, it, path, &kv->on_error))
            return false;
        kv->line = it->line;
        kv->col = it->col;
        const JsoncNode *ns, *key, *value;
        snprintf(sub, sizeof sub, "%s.namespace", path);
        if (!get_required_string(ld, it, path, "namespace", &ns) ||
            !target_exists(ld, TARGET_KV, ns, sub))
            return false;
        kv->namespace_name = xstrdup(ns->text);
        snprintf(sub, sizeof sub, "%s.key", path);
        if (!get_required_string(ld, it, path, "key", &key) || !check_template(ld, key, sub))
            return false;
        if (key->text_len > 512)
            return fail(ld, key->line, key->col, sub, "a KV key is at most 512 bytes");
        kv->key = xstrdup(key->text);
        kv->key_line = key->line;
        kv->key_col = key->col;
        snprintf(sub, sizeof sub, "%s.value", path);
        const JsoncMember *vm = jsonc_member(it, "value");
        if (vm && vm->value->type == JSONC_ARRAY) {
            /* a column list: targets/kv reads it from kv_node; kv->value stays NULL */
            for (size_t c = 0; c < vm->value->item_count; c++) {
                char item[128];
                snprintf(item, sizeof item, "%s[%zu]", sub, c);
                if (!expect_name(ld, vm->value->items[c], item))
                    return false;
            }
            kv->value_line = vm->value->line;
            kv->value_col = vm->value->col;
        } else {
            if (!get_required_string(ld, it, path, "value", &value) || !check_template(ld, value, sub))
                return false;
            kv->value = xstrdup(value->text);
            kv->value_line = value->line;
            kv->value_col = value->col;
        }
        const JsoncMember *ttl = jsonc_member(it, "ttl");
        if (ttl) {
            int64_t v;
            snprintf(sub, sizeof sub, "%s.ttl", path);
            if (!expect_type(ld, ttl->value, JSONC_NUMBER, sub))
                return false;
            if (!jsonc_int64(ttl->value, &v) || v < 60)
                return fail(ld, ttl->value->line, ttl->value->col, sub,
                            "must be a whole number of seconds, at least 60 (the KV minimum)");
            kv->ttl = v;
        }
    }
    return true;
}

static bool load_queue(Ld *ld, const JsoncNode *node, Mapping *mp)
{
    if (!expect_type(ld, node, JSONC_OBJECT, "queue"))
        return false;
    /* the options beyond "queue" are validated by targets/queue (docs/events.md) */
    static const char *const keys[] = {"queue",    "ops",         "exclude",  "route",
                                       "oversize", "claim_check", "on_error", NULL};
    const JsoncNode *q;
    if (!check_keys(ld, node, "queue", keys) || !load_on_error(ld, node, "queue", &mp->queue_on_error) || !get_required_string(ld, node, "queue", "queue", &q) ||
        !target_exists(ld, TARGET_QUEUE, q, "queue.queue"))
        return false;
    mp->queue_node = node;
    mp->queue = xstrdup(q->text);
    return true;
}

static bool load_snapshot(Ld *ld, const JsoncNode *node, Mapping *mp)
{
    if (!expect_type(ld, node, JSONC_OBJECT, "snapshot"))
        return false;
    static const char *const keys[] = {"bucket", "prefix", NULL};
    const JsoncNode *b;
    if (!check_keys(ld, node, "snapshot", keys) ||
        !get_required_string(ld, node, "snapshot", "bucket", &b) ||
        !target_exists(ld, TARGET_R2, b, "snapshot.bucket"))
        return false;
    mp->snapshot_node = node;
    mp->snapshot_bucket = xstrdup(b->text);
    const JsoncMember *p = jsonc_member(node, "prefix");
    if (p) {
        if (!expect_name(ld, p->value, "snapshot.prefix"))
            return false;
        if (p->value->text[0] == '/' || strstr(p->value->text, ".."))
            return fail(ld, p->value->line, p->value->col, "snapshot.prefix",
                        "must be a relative key prefix without \"..\"");
        mp->snapshot_prefix = xstrdup(p->value->text);
    }
    return true;
}

static bool load_source(Ld *ld, const JsoncNode *root, Mapping *mp)
{
    const JsoncNode *t;
    if (!get_required_string(ld, root, "", "table", &t))
        return false;
    const char *dot = strchr(t->text, '.');
    if (!dot || dot == t->text || !dot[1] || strchr(dot + 1, '.'))
        return fail(ld, t->line, t->col, "table",
                    "\"%s\" is not \"schema.name\" (for example \"public.users\")", t->text);
    if (dot - t->text > 63 || strlen(dot + 1) > 63)
        return fail(ld, t->line, t->col, "table", "Postgres names are at most 63 bytes");
    mp->source = xstrdup(t->text);
    mp->schema = xstrndup(t->text, (size_t)(dot - t->text));
    mp->relname = xstrdup(dot + 1);
    mp->source_line = t->line;
    mp->source_col = t->col;
    return true;
}

static void mapping_clear(Mapping *m)
{
    free(m->file);
    free(m->source);
    free(m->schema);
    free(m->relname);
    MappingD1 *d = &m->d1;
    free(d->database);
    for (size_t i = 0; i < d->database_count; i++)
        free(d->databases[i]);
    free(d->databases);
    for (size_t i = 0; i < d->shard_by_count; i++)
        free(d->shard_by[i].name);
    free(d->shard_by);
    free(d->table);
    for (size_t i = 0; i < d->exclude_count; i++)
        free(d->exclude[i].name);
    free(d->exclude);
    for (size_t i = 0; i < d->rename_count; i++) {
        free(d->rename[i].key);
        free(d->rename[i].value);
    }
    free(d->rename);
    for (size_t i = 0; i < d->type_count; i++) {
        free(d->types[i].key);
        free(d->types[i].value);
    }
    free(d->types);
    for (size_t i = 0; i < d->primary_key_count; i++)
        free(d->primary_key[i].name);
    free(d->primary_key);
    for (size_t i = 0; i < m->kv_count; i++) {
        free(m->kv[i].namespace_name);
        free(m->kv[i].key);
        free(m->kv[i].value);
    }
    free(m->kv);
    free(m->queue);
    free(m->snapshot_bucket);
    free(m->snapshot_prefix);
    jsonc_free(m->root);
    memset(m, 0, sizeof *m);
}

MappingSet *mapping_set_new(void) { return xcalloc(1, sizeof(MappingSet)); }

void mapping_set_free(MappingSet *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++)
        mapping_clear(&set->items[i]);
    free(set->items);
    free(set);
}

bool mapping_set_add_text(MappingSet *set, const Config *cfg, const char *text, size_t len,
                          const char *path, Err *err)
{
    Ld ld = {path, cfg, err};
    Mapping mp;
    memset(&mp, 0, sizeof mp);
    mp.root = jsonc_parse(text, len, path, err);
    if (!mp.root)
        return false;
    mp.file = xstrdup(path);
    const JsoncNode *root = mp.root;
    static const char *const keys[] = {"table", "d1", "kv", "queue", "snapshot", "on_schema_change", "on_drop", NULL};
    bool ok = expect_type(&ld, root, JSONC_OBJECT, "") && check_keys(&ld, root, "", keys) &&
              load_source(&ld, root, &mp) && load_on_schema_change(&ld, root, &mp.on_schema_change) &&
              load_on_drop(&ld, root, &mp.on_drop);
    const JsoncMember *m;
    if (ok && (m = jsonc_member(root, "d1")))
        ok = load_d1(&ld, m->value, &mp);
    if (ok && (m = jsonc_member(root, "kv")))
        ok = load_kv(&ld, m->value, &mp);
    if (ok && (m = jsonc_member(root, "queue")))
        ok = load_queue(&ld, m->value, &mp);
    if (ok && (m = jsonc_member(root, "snapshot")))
        ok = load_snapshot(&ld, m->value, &mp);
    if (ok && !mp.d1.present && !mp.kv_count && !mp.queue && !mp.snapshot_bucket)
        ok = fail(&ld, root->line, root->col, "",
                  "the mapping sends \"%s\" nowhere (add \"d1\", \"kv\", \"queue\" or \"snapshot\")",
                  mp.source);
    if (!ok) {
        mapping_clear(&mp);
        return false;
    }
    set->items = xrealloc(set->items, (set->count + 1) * sizeof *set->items);
    set->items[set->count++] = mp;
    return true;
}

bool mapping_set_check(const MappingSet *set, Err *err)
{
    for (size_t i = 0; i < set->count; i++) {
        const Mapping *a = &set->items[i];
        for (size_t k = 0; k < i; k++) {
            const Mapping *b = &set->items[k];
            if (strcmp(a->source, b->source) == 0)
                return err_set(err, ERR_CONFIG,
                               "%s:%d:%d: table: \"%s\" is already mapped by %s:%d:%d (one mapping "
                               "file per source table)",
                               a->file, a->source_line, a->source_col, a->source, b->file,
                               b->source_line, b->source_col);
            for (size_t d = 0; a->d1.present && b->d1.present && d < a->d1.database_count; d++)
                if (mapping_d1_database_index(b, a->d1.databases[d]) >= 0 &&
                    strcasecmp(a->d1.table, b->d1.table) == 0)
                    return err_set(err, ERR_CONFIG,
                                   "%s:%d:%d: d1.table: D1 table \"%s\" of database \"%s\" is also "
                                   "written by %s:%d:%d (%s); one source table per D1 table",
                                   a->file, a->d1.table_line, a->d1.table_col, a->d1.table,
                                   a->d1.databases[d], b->file, b->d1.table_line, b->d1.table_col,
                                   b->source);
        }
    }
    return true;
}

static bool read_file(const char *path, Buf *b, Err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, ERR_CONFIG, "cannot open mapping file \"%s\"", path);
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err_sys(err, ERR_IO, "cannot read mapping file \"%s\"", path);
            close(fd);
            return false;
        }
        if (n == 0)
            break;
        if (!buf_append(b, chunk, (size_t)n, err)) {
            close(fd);
            return err_set(err, ERR_CONFIG, "mapping file \"%s\" is larger than %d bytes", path,
                           MAPPING_MAX_FILE_BYTES);
        }
    }
    close(fd);
    return true;
}

MappingSet *mapping_set_load(const Config *cfg, Err *err)
{
    MappingSet *set = mapping_set_new();
    for (size_t i = 0; i < cfg->mapping_file_count; i++) {
        const char *path = cfg->mapping_files[i];
        Buf b;
        buf_init(&b, MAPPING_MAX_FILE_BYTES);
        bool ok = read_file(path, &b, err) &&
                  mapping_set_add_text(set, cfg, b.data ? b.data : "", b.len, path, err);
        buf_free(&b);
        if (!ok) {
            mapping_set_free(set);
            return NULL;
        }
    }
    if (!mapping_set_check(set, err)) {
        mapping_set_free(set);
        return NULL;
    }
    return set;
}

bool mapping_selected(const Mapping *m, char **names, size_t n)
{
    if (n == 0)
        return true;
    const char *base = strrchr(m->file, '/');
    base = base ? base + 1 : m->file;
    size_t blen = strlen(base);
    if (blen > 6 && strcmp(base + blen - 6, ".jsonc") == 0)
        blen -= 6;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], m->source) == 0 || strcmp(names[i], m->relname) == 0 ||
            (strlen(names[i]) == blen && strncmp(names[i], base, blen) == 0))
            return true;
    return false;
}

const Mapping *mapping_set_find(const MappingSet *set, const char *source)
{
    if (!set || !source)
        return NULL;
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->items[i].source, source) == 0)
            return &set->items[i];
    return NULL;
}

long mapping_d1_database_index(const Mapping *m, const char *database)
{
    for (size_t i = 0; m->d1.present && i < m->d1.database_count; i++)
        if (strcmp(m->d1.databases[i], database) == 0)
            return (long)i;
    return -1;
}

bool mapping_d1_sharded(const Mapping *m) { return m->d1.present && m->d1.shard_by_count > 0; }

bool mapping_d1_excludes(const Mapping *m, const char *col)
{
    for (size_t i = 0; i < m->d1.exclude_count; i++)
        if (strcmp(m->d1.exclude[i].name, col) == 0)
            return true;
    return false;
}

const char *mapping_d1_column_name(const Mapping *m, const char *col)
{
    for (size_t i = 0; i < m->d1.rename_count; i++)
        if (strcmp(m->d1.rename[i].key, col) == 0)
            return m->d1.rename[i].value;
    return col;
}

const char *mapping_d1_type_override(const Mapping *m, const char *col)
{
    for (size_t i = 0; i < m->d1.type_count; i++)
        if (strcmp(m->d1.types[i].key, col) == 0)
            return m->d1.types[i].value;
    return NULL;
}

/*
 * pg/ddlmsg.c - see ddlmsg.h. The content is JSON written by jsonb's text
 * output; jansson reads it, then every field is checked for its type and range
 * (attnums positive and strictly ascending, names non-empty) before anything is
 * copied out, so a DdlMsg is either whole and valid or not made at all.
 */
#include "pg/ddlmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/mem.h"

bool ddlmsg_prefix_is(const char *prefix, size_t len)
{
    return len == sizeof DDLMSG_PREFIX - 1 && memcmp(prefix, DDLMSG_PREFIX, len) == 0;
}

char *ddlmsg_record_json(const char *prefix, size_t prefix_len, const uint8_t *content, size_t len)
{
    DdlMsg m;
    Err err;
    if (!ddlmsg_prefix_is(prefix, prefix_len) || !ddlmsg_parse(content, len, &m, &err))
        return NULL;
    ddlmsg_free(&m);
    json_t *root = json_loadb((const char *)content, len, 0, NULL);
    char *line = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return line;
}

const char *ddlmsg_event_name(DdlEvent e)
{
    static const char *const names[] = {"ddl_command_end", "table_rewrite", "sql_drop"};
    return names[e];
}

static bool get_string(json_t *obj, const char *key, bool nullable, char **out, const char *where, Err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (nullable && (!v || json_is_null(v)))
        return true;
    if (!json_is_string(v) || (!nullable && json_string_length(v) == 0))
        return err_set(err, ERR_PROTOCOL, "DDL message: %s\"%s\" must be a%s string", where, key,
                       nullable ? " null or" : " non-empty");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return err_set(err, ERR_PROTOCOL, "DDL message: %s\"%s\" contains a NUL character", where, key);
    *out = xstrdup(json_string_value(v));
    return true;
}

static bool get_int(json_t *obj, const char *key, long long lo, long long hi, long long *out, const char *where,
                    Err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(err, ERR_PROTOCOL, "DDL message: %s\"%s\" must be an integer in %lld..%lld", where, key, lo,
                       hi);
    *out = json_integer_value(v);
    return true;
}

static bool get_bool(json_t *obj, const char *key, bool *out, const char *where, Err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v))
        return err_set(err, ERR_PROTOCOL, "DDL message: %s\"%s\" must be true or false", where, key);
    *out = json_is_true(v);
    return true;
}

static bool parse_column(json_t *c, size_t i, int prev_attnum, DdlColumn *out, Err *err)
{
    char where[48];
    snprintf(where, sizeof where, "columns[%zu].", i);
    if (!json_is_object(c))
        return err_set(err, ERR_PROTOCOL, "DDL message: columns[%zu] must be an object", i);
    long long attnum, type_oid, typmod;
    if (!get_int(c, "attnum", 1, INT16_MAX, &attnum, where, err) ||
        !get_int(c, "type_oid", 1, UINT32_MAX, &type_oid, where, err) ||
        !get_int(c, "typmod", INT32_MIN, INT32_MAX, &typmod, where, err) ||
        !get_bool(c, "not_null", &out->not_null, where, err) || !get_bool(c, "pk", &out->pk, where, err))
        return false;
    if (attnum <= prev_attnum)
        return err_set(err, ERR_PROTOCOL, "DDL message: columns[%zu].attnum %lld is not above the previous %d", i,
                       attnum, prev_attnum);
    out->attnum = (int)attnum;
    out->type_oid = (uint32_t)type_oid;
    out->typmod = (int32_t)typmod;
    return get_string(c, "name", false, &out->name, where, err) &&
           get_string(c, "type", false, &out->type, where, err) &&
           get_string(c, "default", true, &out->default_expr, where, err);
}

static bool parse_root(json_t *root, DdlMsg *m, Err *err)
{
    if (!json_is_object(root))
        return err_set(err, ERR_PROTOCOL, "DDL message: not a JSON object");
    long long v, oid;
    if (!get_int(root, "v", 0, INT32_MAX, &v, "", err))
        return false;
    if (v != DDLMSG_VERSION)
        return err_set(err, ERR_PROTOCOL,
                       "DDL message: version %lld, this wal2edge reads version %d (run `wal2edge setup` with this "
                       "wal2edge to install its trigger)",
                       v, DDLMSG_VERSION);
    char *event = NULL;
    if (!get_string(root, "event", false, &event, "", err))
        return false;
    static const DdlEvent events[] = {DDL_EVENT_COMMAND_END, DDL_EVENT_TABLE_REWRITE, DDL_EVENT_DROP};
    bool known = false;
    for (size_t i = 0; i < sizeof events / sizeof events[0] && !known; i++)
        if (strcmp(event, ddlmsg_event_name(events[i])) == 0) {
            m->event = events[i];
            known = true;
        }
    if (!known) {
        err_set(err, ERR_PROTOCOL, "DDL message: unknown event \"%.64s\"", event);
        free(event);
        return false;
    }
    free(event);
    if (!get_string(root, "command", false, &m->command, "", err) ||
        !get_string(root, "schema", false, &m->schema, "", err) ||
        !get_string(root, "table", false, &m->table, "", err) || !get_int(root, "oid", 1, UINT32_MAX, &oid, "", err))
        return false;
    m->oid = (uint32_t)oid;
    m->qualname = xasprintf("%s.%s", m->schema, m->table);
    json_t *cols = json_object_get(root, "columns");
    if (m->event != DDL_EVENT_COMMAND_END)
        return true;
    if (!json_is_array(cols))
        return err_set(err, ERR_PROTOCOL, "DDL message: \"columns\" must be an array (event ddl_command_end)");
    size_t n = json_array_size(cols);
    if (n > DDLMSG_MAX_COLUMNS)
        return err_set(err, ERR_PROTOCOL, "DDL message: %zu columns, more than Postgres allows", n);
    m->cols = xcalloc(n ? n : 1, sizeof *m->cols);
    for (size_t i = 0; i < n; i++) {
        m->ncols = i + 1; /* so ddlmsg_free frees a half-parsed column too */
        if (!parse_column(json_array_get(cols, i), i, i ? m->cols[i - 1].attnum : 0, &m->cols[i], err))
            return false;
    }
    m->ncols = n;
    return true;
}

bool ddlmsg_parse(const uint8_t *content, size_t len, DdlMsg *out, Err *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb((const char *)content, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(err, ERR_PROTOCOL, "DDL message: not JSON (%s at byte %d)", je.text, je.position);
    bool ok = parse_root(root, out, err);
    json_decref(root);
    if (!ok)
        ddlmsg_free(out);
    return ok;
}

void ddlmsg_free(DdlMsg *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ncols; i++) {
        free(m->cols[i].name);
        free(m->cols[i].type);
        free(m->cols[i].default_expr);
    }
    free(m->cols);
    free(m->command);
    free(m->schema);
    free(m->table);
    free(m->qualname);
    memset(m, 0, sizeof *m);
}

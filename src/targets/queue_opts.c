/*
 * targets/queue_opts.c - see queue_opts.h. Each member of the "queue" object is
 * checked in turn against what it may hold (and, given a config, that named
 * queues and r2 buckets are its targets); the first problem is the error, with
 * the node's place in the mapping file.
 */
#include "targets/queue_opts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static bool opt_fail(const Mapping *m, const JsoncNode *n, Err *err, const char *key, const char *fmt, ...)
    ATTR_PRINTF(5, 6);
static bool opt_fail(const Mapping *m, const JsoncNode *n, Err *err, const char *key, const char *fmt, ...)
{
    char what[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(err, ERR_CONFIG, "%s:%d:%d: %s: %s", m->file ? m->file : "mapping", n ? n->line : 0,
                   n ? n->col : 0, key, what);
}

static bool opt_string(const Mapping *m, const JsoncNode *n, Err *err, const char *key, char **out)
{
    if (n->type != JSONC_STRING || !n->text[0] || strlen(n->text) != n->text_len)
        return opt_fail(m, n, err, key, "expected a non-empty string");
    *out = xstrdup(n->text);
    return true;
}

static bool check_target(const Mapping *m, const Config *cfg, const JsoncNode *n, TargetKind kind, const char *name,
                         const char *key, Err *err)
{
    if (!cfg || config_target(cfg, kind, name))
        return true;
    return opt_fail(m, n, err, key, "no %s target \"%s\" in the config", kind == TARGET_R2 ? "r2" : "queues", name);
}

static bool parse_ops(const Mapping *m, const JsoncNode *n, unsigned *ops, Err *err)
{
    if (n->type != JSONC_ARRAY || n->item_count == 0)
        return opt_fail(m, n, err, "queue.ops", "expected a non-empty array of \"c\", \"u\", \"d\", \"t\"");
    *ops = 0;
    for (size_t i = 0; i < n->item_count; i++) {
        const JsoncNode *it = n->items[i];
        static const struct {
            const char *a, *b;
            unsigned bit;
        } names[] = {{"c", "insert", QUEUE_OP_C},
                     {"u", "update", QUEUE_OP_U},
                     {"d", "delete", QUEUE_OP_D},
                     {"t", "truncate", QUEUE_OP_T}};
        unsigned bit = 0;
        for (size_t k = 0; it->type == JSONC_STRING && k < 4; k++)
            if (strcmp(it->text, names[k].a) == 0 || strcmp(it->text, names[k].b) == 0)
                bit = names[k].bit;
        if (!bit)
            return opt_fail(m, it, err, "queue.ops", "unknown operation (use \"c\", \"u\", \"d\", \"t\")");
        *ops |= bit;
    }
    return true;
}

static bool parse_route(const Mapping *m, const Config *cfg, const JsoncNode *n, QueueMapOptions *o, Err *err)
{
    if (n->type != JSONC_OBJECT)
        return opt_fail(m, n, err, "queue.route", "expected an object {\"column\", \"queues\"}");
    const JsoncMember *col = NULL, *queues = NULL;
    for (size_t i = 0; i < n->member_count; i++) {
        const JsoncMember *mm = &n->members[i];
        if (strcmp(mm->key, "column") == 0)
            col = mm;
        else if (strcmp(mm->key, "queues") == 0)
            queues = mm;
        else
            return err_set(err, ERR_CONFIG, "%s:%d:%d: queue.route: unknown key \"%s\" (expected \"column\", \"queues\")",
                           m->file, mm->line, mm->col, mm->key);
    }
    if (!col || !queues)
        return opt_fail(m, n, err, "queue.route", "needs \"column\" and \"queues\"");
    if (!opt_string(m, col->value, err, "queue.route.column", &o->route_column))
        return false;
    if (queues->value->type != JSONC_OBJECT || queues->value->member_count == 0)
        return opt_fail(m, queues->value, err, "queue.route.queues", "expected an object {\"VALUE\": \"QUEUE\"}");
    o->routes = xcalloc(queues->value->member_count, sizeof *o->routes);
    for (size_t i = 0; i < queues->value->member_count; i++) {
        const JsoncMember *mm = &queues->value->members[i];
        char *q = NULL;
        if (!opt_string(m, mm->value, err, "queue.route.queues", &q))
            return false;
        o->routes[o->route_count].value = xstrdup(mm->key);
        o->routes[o->route_count++].queue = q;
        if (!check_target(m, cfg, mm->value, TARGET_QUEUE, q, "queue.route.queues", err))
            return false;
    }
    return true;
}

bool queue_map_options_parse(const Mapping *m, const Config *cfg, QueueMapOptions *o, Err *err)
{
    memset(o, 0, sizeof *o);
    o->ops = QUEUE_OP_ALL;
    const JsoncNode *node = m->queue_node;
    if (!node)
        return err_set(err, ERR_CONFIG, "%s: the mapping has no \"queue\" section", m->file);
    if (node->type != JSONC_OBJECT)
        return opt_fail(m, node, err, "queue", "expected an object");
    bool ok = true;
    const JsoncNode *oversize = NULL, *claim = NULL;
    for (size_t i = 0; ok && i < node->member_count; i++) {
        const JsoncMember *mm = &node->members[i];
        const JsoncNode *v = mm->value;
        if (strcmp(mm->key, "queue") == 0) {
            ok = opt_string(m, v, err, "queue.queue", &o->queue) &&
                 check_target(m, cfg, v, TARGET_QUEUE, o->queue, "queue.queue", err);
        } else if (strcmp(mm->key, "ops") == 0) {
            ok = parse_ops(m, v, &o->ops, err);
        } else if (strcmp(mm->key, "exclude") == 0) {
            if (v->type != JSONC_ARRAY) {
                ok = opt_fail(m, v, err, "queue.exclude", "expected an array of column names");
                break;
            }
            o->exclude = xcalloc(v->item_count ? v->item_count : 1, sizeof *o->exclude);
            for (size_t k = 0; ok && k < v->item_count; k++) {
                ok = opt_string(m, v->items[k], err, "queue.exclude", &o->exclude[k]);
                if (ok)
                    o->exclude_count++;
            }
        } else if (strcmp(mm->key, "route") == 0) {
            ok = parse_route(m, cfg, v, o, err);
        } else if (strcmp(mm->key, "on_error") == 0) {
            /* validated by mapping/mapping (Mapping.queue_on_error) */
        } else if (strcmp(mm->key, "oversize") == 0) {
            oversize = v;
            if (v->type != JSONC_STRING || (strcmp(v->text, "claim_check") != 0 && strcmp(v->text, "error") != 0))
                ok = opt_fail(m, v, err, "queue.oversize", "expected \"claim_check\" or \"error\"");
            else
                o->claim_check = strcmp(v->text, "claim_check") == 0;
        } else if (strcmp(mm->key, "claim_check") == 0) {
            claim = v;
            if (v->type != JSONC_OBJECT) {
                ok = opt_fail(m, v, err, "queue.claim_check", "expected an object {\"bucket\", \"prefix\"}");
                break;
            }
            for (size_t k = 0; ok && k < v->member_count; k++) {
                const JsoncMember *cm = &v->members[k];
                if (strcmp(cm->key, "bucket") == 0)
                    ok = opt_string(m, cm->value, err, "queue.claim_check.bucket", &o->claim_bucket) &&
                         check_target(m, cfg, cm->value, TARGET_R2, o->claim_bucket, "queue.claim_check.bucket",
                                      err);
                else if (strcmp(cm->key, "prefix") == 0)
                    ok = opt_string(m, cm->value, err, "queue.claim_check.prefix", &o->claim_prefix);
                else
                    ok = err_set(err, ERR_CONFIG,
                                 "%s:%d:%d: queue.claim_check: unknown key \"%s\" (expected \"bucket\", \"prefix\")",
                                 m->file, cm->line, cm->col, cm->key);
            }
        } else {
            ok = err_set(err, ERR_CONFIG,
                         "%s:%d:%d: queue: unknown key \"%s\" (expected \"queue\", \"ops\", \"exclude\", \"route\", "
                         "\"oversize\", \"claim_check\", \"on_error\")",
                         m->file, mm->line, mm->col, mm->key);
        }
    }
    if (ok && !o->queue)
        ok = opt_fail(m, node, err, "queue", "missing \"queue\"");
    if (ok && o->claim_check && !o->claim_bucket)
        ok = opt_fail(m, oversize, err, "queue.oversize",
                      "\"claim_check\" needs \"claim_check\": {\"bucket\": R2_TARGET}");
    if (ok && claim && !o->claim_check && !oversize)
        o->claim_check = true; /* a claim_check section alone means the policy */
    if (ok && o->claim_check && !o->claim_prefix)
        o->claim_prefix = xstrdup(QUEUE_CLAIM_PREFIX);
    if (!ok)
        queue_map_options_clear(o);
    return ok;
}

void queue_map_options_clear(QueueMapOptions *o)
{
    free(o->queue);
    for (size_t i = 0; i < o->exclude_count; i++)
        free(o->exclude[i]);
    free(o->exclude);
    free(o->route_column);
    for (size_t i = 0; i < o->route_count; i++) {
        free(o->routes[i].value);
        free(o->routes[i].queue);
    }
    free(o->routes);
    free(o->claim_bucket);
    free(o->claim_prefix);
    memset(o, 0, sizeof *o);
}

bool queue_map_options_uses(const QueueMapOptions *o, const char *name)
{
    if (o->queue && strcmp(o->queue, name) == 0)
        return true;
    for (size_t i = 0; i < o->route_count; i++)
        if (strcmp(o->routes[i].queue, name) == 0)
            return true;
    return false;
}


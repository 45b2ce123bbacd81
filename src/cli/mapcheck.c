/*
 * cli/mapcheck.c - see mapcheck.h.
 *
 * The mapping checks `plan` and `doctor` share: the D1 schema is built from
 * the mappings and the catalog (its problems and warnings copied in order),
 * then every mapping is checked for a missing source table (left to the D1
 * check when the mapping has a D1 section) and for queue options naming columns
 * the table lacks, and finally the KV plan checks templates, row identity,
 * value sizes and TOAST. Everything is collected, nothing stops early,
 * so one run lists every problem.
 */
#include "cli/mapcheck.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "targets/kv.h"
#include "targets/queue.h"

static void push(char ***items, size_t *count, char *msg)
{
    *items = xrealloc(*items, (*count + 1) * sizeof **items);
    (*items)[(*count)++] = msg;
}

CatalogInfo *mapcheck_catalog(const Config *cfg, const MappingSet *maps, Err *err)
{
    const char **names = xcalloc(maps->count + 1, sizeof *names);
    for (size_t i = 0; i < maps->count; i++)
        names[i] = maps->items[i].source;
    CatalogInfo *cat = catalog_read(cfg->source.dsn, cfg->source.publication, names, maps->count, err);
    free(names);
    return cat;
}

/* A mapping's "queue" section: its options and the columns they name (targets/queue refuses them at start). */
static void check_queue(const Config *cfg, const Mapping *m, const CatTable *ct, MapCheck *out)
{
    QueueMapOptions o;
    Err err;
    if (!queue_map_options_parse(m, cfg, &o, &err)) {
        push(&out->problems, &out->problem_count, xstrdup(err.msg));
        return;
    }
    const char *what[] = {"queue.exclude", "queue.route.column"};
    for (size_t i = 0; ct && ct->exists && i <= o.exclude_count; i++) {
        const char *col = i < o.exclude_count ? o.exclude[i] : o.route_column;
        if (col && catalog_column_index(ct, col) < 0)
            push(&out->problems, &out->problem_count,
                 xasprintf("%s: %s: table %s has no column \"%s\"", m->file, what[i == o.exclude_count], m->source,
                           col));
    }
    queue_map_options_clear(&o);
}

void mapcheck_run(const Config *cfg, const MappingSet *maps, const CatalogInfo *cat, MapCheck *out)
{
    memset(out, 0, sizeof *out);
    out->schema = d1_schema_build(maps, cat, NULL);
    for (size_t i = 0; i < out->schema->problem_count; i++)
        push(&out->problems, &out->problem_count, xstrdup(out->schema->problems[i]));
    for (size_t i = 0; i < out->schema->warning_count; i++)
        push(&out->warnings, &out->warning_count, xstrdup(out->schema->warnings[i]));
    for (size_t i = 0; i < maps->count; i++) {
        const Mapping *m = &maps->items[i];
        const CatTable *ct = catalog_table(cat, m->source);
        if ((!ct || !ct->exists) && !m->d1.present) /* the D1 check reports it otherwise */
            push(&out->problems, &out->problem_count,
                 xasprintf("%s:%d:%d: table: table \"%s\" does not exist in the source database", m->file,
                           m->source_line, m->source_col, m->source));
        if (m->queue_node)
            check_queue(cfg, m, ct, out);
    }
    /* the KV entries: templates, row identity, value sizes, TOAST (targets/kv) */
    KvPlanNotes kvn = {0};
    kv_plan_check(maps, cat, &kvn);
    for (size_t i = 0; i < kvn.error_count; i++)
        push(&out->problems, &out->problem_count, xstrdup(kvn.errors[i]));
    for (size_t i = 0; i < kvn.warning_count; i++)
        push(&out->warnings, &out->warning_count, xstrdup(kvn.warnings[i]));
    kv_plan_notes_free(&kvn);
}

void mapcheck_clear(MapCheck *mc)
{
    for (size_t i = 0; i < mc->problem_count; i++)
        free(mc->problems[i]);
    for (size_t i = 0; i < mc->warning_count; i++)
        free(mc->warnings[i]);
    free(mc->problems);
    free(mc->warnings);
    d1_schema_free(mc->schema);
    memset(mc, 0, sizeof *mc);
}

/*
 * cli/mapcheck.c - see mapcheck.h.
 */
#include "cli/mapcheck.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "targets/kv.h"

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

void mapcheck_run(const MappingSet *maps, const CatalogInfo *cat, MapCheck *out)
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

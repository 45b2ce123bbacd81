/*
 * targets/kv_follow.c - see kv_follow.h. The shape before is the table's
 * columns as the catalog gave them when the target was built (by name, so a
 * rename shows as a column gone); the templates are checked against the new
 * shape as well, which catches a change made while wal2edge was not running.
 */
#include "targets/kv_follow.h"

#include <string.h>

#include "core/log.h"

#include "pg/ddlmsg.h"
#include "schema/diff.h"
#include "schema/plan.h"
#include "schema/shape.h"

/* Whether column `name` is one the table's values or metadata render. */
static bool value_uses(const KvTable *tab, const char *name)
{
    for (size_t i = 0; i < tab->needed_count; i++)
        if (strcmp(tab->needed[i], name) == 0)
            return true;
    return false;
}

/*
 * Whether the change alters values already stored: a "row" value holds every column (an added,
 * dropped, renamed or retyped one changes it), a template or column list only those it names.
 * A rewrite, a new key or a recreated table is copied again into every target anyway (the D1
 * plan asks for it).
 */
static bool values_change(const KvTable *tab, const SchemaDiff *diff)
{
    bool row_value = false;
    for (size_t i = 0; i < tab->entry_count; i++)
        row_value = row_value || tab->entries[i].vkind == KVV_ROW;
    for (size_t i = 0; i < diff->count; i++) {
        const SchemaOp *op = &diff->ops[i];
        if (op->kind == SCHEMA_KEY_CHANGE || op->kind == SCHEMA_REWRITE || op->kind == SCHEMA_RECREATED)
            continue; /* (a rename seen by name, against the catalog's columns, is SCHEMA_AMBIGUOUS) */
        if (row_value || (op->before && value_uses(tab, op->before->name)) ||
            (op->after && value_uses(tab, op->after->name)))
            return true;
    }
    return false;
}

bool kv_follow_message(const KvTable *tables, size_t count, const char *target, const Change *c, const KvTable **dropped,
                       const KvTable **refresh, Err *err)
{
    *dropped = NULL;
    *refresh = NULL;
    DdlMsg m;
    bool is_ddl;
    if (!shape_ddl_message(c, target, &m, &is_ddl, err) || !is_ddl)
        return !is_ddl;
    const KvTable *tab = NULL;
    for (size_t i = 0; i < count && !tab; i++)
        if (strcmp(tables[i].qualname, m.qualname) == 0)
            tab = &tables[i];
    bool ok = true;
    if (tab && tab->mapping && m.event == DDL_EVENT_DROP) {
        if (tab->mapping->on_drop == MAP_DROP_DROP)
            *dropped = tab;
        log_info(NULL, "%s: %s was dropped: %s (\"on_drop\": \"%s\" in %s)", target, tab->qualname,
                 *dropped ? "the keys of its rows are deleted" : "its keys stay", mapping_on_drop_name(tab->mapping->on_drop),
                 tab->mapping->file);
    } else if (tab && tab->mapping && m.event == DDL_EVENT_COMMAND_END) {
        Shape *after = shape_from_ddl(&m), *before = shape_from_rel(&tab->rel);
        before->oid = after->oid; /* the catalog's relation, whatever OID it was read with */
        SchemaDiff diff;
        schema_diff(before, after, false, &diff);
        SchemaPlan plan;
        plan_kv(tab->mapping, &diff, after, &plan);
        const PlanStep *stop = schema_plan_blocker(&plan);
        if (stop)
            ok = err_set(err, ERR_CHECK, "%s: %s", target, stop->message);
        else if (values_change(tab, &diff))
            *refresh = tab;
        schema_plan_free(&plan);
        schema_diff_free(&diff);
        shape_free(before);
        shape_free(after);
    }
    ddlmsg_free(&m);
    return ok;
}

/*
 * d1/shard.c - see shard.h. Every database of a sharded table sees every change of
 * it (one fan-out, one D1 target per database) and keeps the ones whose shard key
 * maps to it; a transaction none of whose rows it keeps still moves its checkpoint
 * like any transaction that touches no table of a database.
 */
#include "d1/shard.h"

#include <string.h>

#include "mapping/shard.h"

/* The tuple's column for D1 column `col`, or NULL when the relation has no such column. */
static const PgoCol *tuple_col(const D1Table *t, const Rel *rel, const PgoTuple *tup, size_t col)
{
    const char *name = t->cols[col].pg_name;
    for (uint16_t k = 0; k < rel->ncols && k < tup->ncols; k++)
        if (strcmp(rel->cols[k].name, name) == 0)
            return &tup->cols[k];
    return NULL;
}

bool d1_shard_of_tuple(const D1Table *t, const Rel *rel, const PgoTuple *tup, uint32_t *shard, Err *err)
{
    ShardPart parts[SHARD_MAX_COLUMNS];
    if (t->shard_col_count > SHARD_MAX_COLUMNS) /* mapping/mapping refuses more */
        return err_set(err, ERR_CONFIG, "%s: more than %d shard_by columns", t->source, SHARD_MAX_COLUMNS);
    for (size_t i = 0; i < t->shard_col_count; i++) {
        const char *name = t->cols[t->shard_cols[i]].pg_name;
        const PgoCol *pc = tuple_col(t, rel, tup, t->shard_cols[i]);
        if (!pc || pc->kind != PGO_COL_TEXT)
            return err_set(err, ERR_PROTOCOL,
                           "%s: shard_by column \"%s\" is %s in a row, so its database is unknown "
                           "(shard_by columns must be NOT NULL and sent as text; docs/sharding.md)",
                           t->source, name,
                           !pc                           ? "missing"
                           : pc->kind == PGO_COL_NULL    ? "NULL"
                           : pc->kind == PGO_COL_BINARY  ? "binary"
                                                         : "an unchanged TOAST value not sent");
        parts[i] = (ShardPart){(const char *)pc->data, pc->len};
    }
    *shard = shard_for(parts, t->shard_col_count, (uint32_t)t->shard_count);
    return true;
}

/* Whether the old image carries every shard_by value (a 'K' image of a key holding them, or 'O'). */
static bool old_has_shard_key(const D1Table *t, const Change *c)
{
    if (!c->old_tuple || !c->old_kind)
        return false;
    for (size_t i = 0; i < t->shard_col_count; i++) {
        const PgoCol *pc = tuple_col(t, c->rel, c->old_tuple, t->shard_cols[i]);
        if (!pc || pc->kind != PGO_COL_TEXT)
            return false;
    }
    return true;
}

static bool has_unsent(const PgoTuple *tup)
{
    for (uint16_t k = 0; k < tup->ncols; k++)
        if (tup->cols[k].kind == PGO_COL_UNCHANGED)
            return true;
    return false;
}

bool d1_shard_route(const D1Table *t, const Change *c, const Change **out, Change *moved, Err *err)
{
    *out = c;
    if (t->shard_col_count == 0 || t->shard_count < 2 || !c->rel ||
        (c->op != CHANGE_INSERT && c->op != CHANGE_UPDATE && c->op != CHANGE_DELETE))
        return true;
    uint32_t old_shard = 0, new_shard = 0;
    bool has_old = old_has_shard_key(t, c), has_new = c->op != CHANGE_DELETE && c->new_tuple;
    if (c->op == CHANGE_DELETE && !has_old)
        return true; /* d1/sql names the missing old key */
    if (has_old && !d1_shard_of_tuple(t, c->rel, c->old_tuple, &old_shard, err))
        return false;
    if (has_new && !d1_shard_of_tuple(t, c->rel, c->new_tuple, &new_shard, err))
        return false;
    if (!has_old)
        old_shard = new_shard; /* an update that kept its key keeps its shard key */
    if (!has_new)
        new_shard = old_shard;
    if (old_shard == new_shard) {
        *out = old_shard == t->shard ? c : NULL;
        return true;
    }
    /* the shard key moved the row: out of the old database, into the new one */
    if (t->shard == old_shard) {
        *moved = (Change){.op = CHANGE_DELETE, .index = c->index, .rel = c->rel, .old_tuple = c->old_tuple,
                          .old_kind = c->old_kind};
        *out = moved;
    } else if (t->shard == new_shard) {
        if (has_unsent(c->new_tuple))
            return err_set(err, ERR_PROTOCOL,
                           "%s: a row moved to another database (its shard key changed) without the "
                           "unchanged TOAST values Postgres did not send, which the new database lacks; "
                           "ALTER TABLE %s REPLICA IDENTITY FULL, or resync the row",
                           t->source, t->source);
        *moved = (Change){.op = CHANGE_INSERT, .index = c->index, .rel = c->rel, .new_tuple = c->new_tuple};
        *out = moved;
    } else {
        *out = NULL;
    }
    return true;
}

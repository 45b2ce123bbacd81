/*
 * schema/shape.h - the shape of a source table as wal2edge last knew it.
 *
 * Owns:     Shape (the columns of one table: attnum, name, type, nullability,
 *           default, primary key), made from a DDL capture message (exact:
 *           attnums known) or from a pgoutput Relation message (the fallback:
 *           names and types only), and its JSON form kept in the state store.
 * Not mine: the message format (pg/ddlmsg), comparing shapes (schema/diff),
 *           storing (state/store).
 * Pure:     no I/O, no globals. shape_from_json reads untrusted text: every
 *           field is checked, a bad one is ERR_STATE naming it.
 */
#ifndef WAL2EDGE_SCHEMA_SHAPE_H
#define WAL2EDGE_SCHEMA_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/ddlmsg.h"
#include "pg/relcache.h"
#include "pipeline/change.h"

typedef struct ShapeCol {
    int attnum;                /* 0 when unknown (a shape from a Relation message) */
    char *name;
    char *type;                /* format_type() text; NULL when unknown */
    uint32_t type_oid;
    int32_t typmod;
    bool not_null;
    char *default_expr;        /* NULL when none or unknown */
    bool pk;                   /* in the primary key (Relation: in the replica identity key) */
} ShapeCol;

typedef struct Shape {
    uint32_t oid;
    char *qualname;            /* "schema.name" */
    bool exact;                /* from the DDL capture: attnums, defaults and the primary key are known */
    size_t ncols;
    ShapeCol *cols;            /* ascending attnum when exact, else Relation order (also attnum order) */
} Shape;

/* From a DDL_EVENT_COMMAND_END message (owned). */
Shape *shape_from_ddl(const DdlMsg *m);
/* From a Relation message (owned); not exact. */
Shape *shape_from_rel(const Rel *rel);
/* An owned copy. */
Shape *shape_copy(const Shape *s);
void shape_free(Shape *s);

/* The column named `name`, or NULL. */
const ShapeCol *shape_column(const Shape *s, const char *name);

/*
 * The DDL capture message change c carries: *is_ddl false for any other change.
 * A malformed one is an error naming target and the message's LSN (*is_ddl true).
 */
bool shape_ddl_message(const Change *c, const char *target, DdlMsg *out, bool *is_ddl, Err *err) WARN_UNUSED;

/* One line of JSON for the state store (owned). */
char *shape_to_json(const Shape *s);
/* Back from shape_to_json's text; NULL with ERR_STATE naming what is wrong. */
Shape *shape_from_json(const char *text, Err *err) WARN_UNUSED;

#endif

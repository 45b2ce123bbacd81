/*
 * tests/unit/schema/schema_util.h - shapes from the DDL capture fixtures
 * (tests/fixtures/ddl, captured from PostgreSQL 15) for the schema tests (header-only).
 */
#ifndef WAL2EDGE_TESTS_SCHEMA_UTIL_H
#define WAL2EDGE_TESTS_SCHEMA_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "../pg/test_util.h"
#include "pg/ddlmsg.h"
#include "schema/shape.h"

/* The shape a fixture's message carries (owned). */
static inline Shape *fixture_shape(const char *name)
{
    DdlMsg m;
    Err err;
    cr_assert(ddl_fixture(name, &m, &err), "%s: %s", name, err.msg);
    Shape *s = shape_from_ddl(&m);
    ddlmsg_free(&m);
    return s;
}

/* The table before the first captured change (add_default's new column "plan" taken away). */
static inline Shape *fixture_base_shape(void)
{
    Shape *s = fixture_shape("add_default");
    s->ncols--;
    free(s->cols[s->ncols].name);
    free(s->cols[s->ncols].type);
    free(s->cols[s->ncols].default_expr);
    return s;
}

#endif

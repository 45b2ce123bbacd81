/*
 * tests/unit/pg/ddlmsg_test.c - the DDL capture messages: fixtures are the
 * contents captured from PostgreSQL 15 running sql/ddl_capture.sql (one per
 * statement kind), then malformed messages, each refused naming what is wrong.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pg/ddlmsg.h"
#include "test_util.h"

static DdlMsg parse_fixture(const char *name)
{
    DdlMsg m;
    Err err;
    cr_assert(ddl_fixture(name, &m, &err), "%s: %s", name, err.msg);
    return m;
}

static void expect_refused(const char *json, const char *needle)
{
    DdlMsg m;
    Err err;
    cr_assert_not(ddlmsg_parse((const uint8_t *)json, strlen(json), &m, &err), "accepted: %s", json);
    cr_assert_eq(err.code, ERR_PROTOCOL);
    cr_assert_not_null(strstr(err.msg, needle), "error \"%s\" lacks \"%s\"", err.msg, needle);
    cr_assert_null(m.cols);
    cr_assert_null(m.qualname);
}

Test(ddlmsg, add_column_with_default)
{
    DdlMsg m = parse_fixture("add_default");
    cr_assert_eq(m.event, DDL_EVENT_COMMAND_END);
    cr_assert_str_eq(m.command, "ALTER TABLE");
    cr_assert_str_eq(m.qualname, "public.users");
    cr_assert_gt(m.oid, 0);
    cr_assert_eq(m.ncols, 5);
    cr_assert_eq(m.cols[0].attnum, 1);
    cr_assert(m.cols[0].pk && m.cols[0].not_null);
    cr_assert_null(m.cols[0].default_expr);
    cr_assert_str_eq(m.cols[2].type, "character varying(40)");
    cr_assert_eq(m.cols[2].type_oid, 1043);
    cr_assert_eq(m.cols[2].typmod, 44);
    cr_assert_str_eq(m.cols[4].name, "plan");
    cr_assert_str_eq(m.cols[4].default_expr, "'free'::text");
    cr_assert(m.cols[4].not_null && !m.cols[4].pk);
    ddlmsg_free(&m);
}

Test(ddlmsg, rename_keeps_the_attnum)
{
    DdlMsg before = parse_fixture("add_default"), after = parse_fixture("rename");
    cr_assert_eq(before.cols[2].attnum, after.cols[2].attnum);
    cr_assert_str_eq(before.cols[2].name, "name");
    cr_assert_str_eq(after.cols[2].name, "full_name");
    ddlmsg_free(&before);
    ddlmsg_free(&after);
}

Test(ddlmsg, dropped_column_leaves_a_gap_in_attnums)
{
    DdlMsg m = parse_fixture("drop_column");
    cr_assert_eq(m.ncols, 4);
    cr_assert_eq(m.cols[2].attnum, 3);
    cr_assert_eq(m.cols[3].attnum, 5);
    ddlmsg_free(&m);
}

Test(ddlmsg, rewrite_and_drop_carry_no_columns)
{
    DdlMsg rw = parse_fixture("table_rewrite"), drop = parse_fixture("drop_table");
    cr_assert_eq(rw.event, DDL_EVENT_TABLE_REWRITE);
    cr_assert_eq(rw.ncols, 0);
    cr_assert_eq(drop.event, DDL_EVENT_DROP);
    cr_assert_str_eq(drop.command, "DROP TABLE");
    cr_assert_eq(drop.oid, rw.oid);
    ddlmsg_free(&rw);
    ddlmsg_free(&drop);
}

Test(ddlmsg, primary_key_moves)
{
    DdlMsg a = parse_fixture("pk_drop"), b = parse_fixture("pk_add");
    for (size_t i = 0; i < a.ncols; i++)
        cr_assert_not(a.cols[i].pk, "no key after the drop");
    cr_assert(b.cols[1].pk && !b.cols[0].pk);
    ddlmsg_free(&a);
    ddlmsg_free(&b);
}

Test(ddlmsg, malformed_messages_are_refused_by_name)
{
    expect_refused("not json", "not JSON");
    expect_refused("[1]", "not a JSON object");
    expect_refused("{\"v\":2,\"event\":\"sql_drop\"}", "version 2");
    expect_refused("{\"v\":1,\"event\":\"nope\"}", "unknown event \"nope\"");
    expect_refused("{\"v\":1,\"event\":\"sql_drop\",\"command\":\"DROP TABLE\",\"schema\":\"s\",\"table\":\"\","
                   "\"oid\":5}",
                   "\"table\" must be a non-empty string");
    expect_refused("{\"v\":1,\"event\":\"sql_drop\",\"command\":\"DROP TABLE\",\"schema\":\"s\",\"table\":\"t\","
                   "\"oid\":-1}",
                   "\"oid\" must be an integer");
    expect_refused("{\"v\":1,\"event\":\"ddl_command_end\",\"command\":\"ALTER TABLE\",\"schema\":\"s\","
                   "\"table\":\"t\",\"oid\":5}",
                   "\"columns\" must be an array");
#define COL "{\"attnum\":%d,\"name\":\"%s\",\"type\":\"int\",\"type_oid\":23,\"typmod\":-1," \
            "\"not_null\":false,\"default\":null,\"pk\":false}"
    char c1[256], c2[256], msg[1024];
    snprintf(c1, sizeof c1, COL, 2, "a");
    snprintf(c2, sizeof c2, COL, 2, "b");
    snprintf(msg, sizeof msg,
             "{\"v\":1,\"event\":\"ddl_command_end\",\"command\":\"ALTER TABLE\",\"schema\":\"s\",\"table\":\"t\","
             "\"oid\":5,\"columns\":[%s,%s]}",
             c1, c2);
    expect_refused(msg, "columns[1].attnum 2 is not above the previous 2");
    snprintf(c2, sizeof c2, COL, 3, "");
    snprintf(msg, sizeof msg,
             "{\"v\":1,\"event\":\"ddl_command_end\",\"command\":\"ALTER TABLE\",\"schema\":\"s\",\"table\":\"t\","
             "\"oid\":5,\"columns\":[%s,%s]}",
             c1, c2);
    expect_refused(msg, "columns[1].\"name\" must be a non-empty string");
    expect_refused("{\"v\":1,\"v\":1}", "not JSON");
}

Test(ddlmsg, record_json_is_one_line_for_ddl_messages_only)
{
    size_t n = 0;
    uint8_t *text = read_fixture("ddl/rename.json", &n);
    char *line = ddlmsg_record_json("wal2edge.ddl", 12, text, n);
    cr_assert_not_null(line);
    cr_assert_null(strchr(line, '\n'));
    cr_assert_not_null(strstr(line, "\"name\":\"full_name\""));
    free(line);
    cr_assert_null(ddlmsg_record_json("wal2edge.ddx", 12, text, n), "another prefix");
    cr_assert_null(ddlmsg_record_json("wal2edge.ddl", 12, (const uint8_t *)"{}", 2), "not a valid message");
    free(text);
}

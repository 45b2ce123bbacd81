/*
 * pg/ddlmsg.h - the DDL capture trigger's logical messages (prefix
 *               "wal2edge.ddl", sql/ddl_capture.sql, docs/schema-changes.md).
 *
 * Owns:     the message format (version 1): parsing and validating one message
 *           into a DdlMsg, and telling a DDL message from any other.
 * Not mine: installing the trigger (pg/ddlcapture), what a change of shape
 *           means for a target (schema/).
 * Pure:     no I/O, no globals. Input is untrusted: a malformed message is
 *           ERR_PROTOCOL naming the field and what was wrong.
 */
#ifndef WAL2EDGE_PG_DDLMSG_H
#define WAL2EDGE_PG_DDLMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define DDLMSG_PREFIX "wal2edge.ddl"
#define DDLMSG_VERSION 1
/* Postgres allows 1600 columns per table. */
#define DDLMSG_MAX_COLUMNS 1600

typedef enum DdlEvent {
    DDL_EVENT_COMMAND_END,     /* the table's new shape (columns) */
    DDL_EVENT_TABLE_REWRITE,   /* the table was rewritten: no row changes came for it */
    DDL_EVENT_DROP,            /* the table was dropped */
} DdlEvent;

typedef struct DdlColumn {
    int attnum;                /* stable for the column's life: renames keep it */
    char *name;
    char *type;                /* format_type(), with the typmod */
    uint32_t type_oid;
    int32_t typmod;
    bool not_null;
    char *default_expr;        /* pg_get_expr() of the default, NULL when none */
    bool pk;
} DdlColumn;

typedef struct DdlMsg {
    DdlEvent event;
    char *command;             /* the command tag: "ALTER TABLE", "DROP TABLE", ... */
    char *schema, *table;
    char *qualname;            /* "schema.table" */
    uint32_t oid;
    size_t ncols;              /* DDL_EVENT_COMMAND_END only */
    DdlColumn *cols;           /* ascending attnum */
} DdlMsg;

/* The prefix is the DDL capture's. */
bool ddlmsg_prefix_is(const char *prefix, size_t len);

/*
 * A record of its own in `decode` and the change log: when the prefix is the
 * DDL capture's and the content a valid message, the content as one line of
 * compact JSON (owned); NULL for anything else, which stays a plain message.
 */
char *ddlmsg_record_json(const char *prefix, size_t prefix_len, const uint8_t *content, size_t len);

/* Parse and validate content[0..len) into *out (free with ddlmsg_free). */
bool ddlmsg_parse(const uint8_t *content, size_t len, DdlMsg *out, Err *err) WARN_UNUSED;
void ddlmsg_free(DdlMsg *m);

const char *ddlmsg_event_name(DdlEvent e);

#endif

/*
 * pg/ddlcapture.h - the DDL capture event trigger on the source (sql/ddl_capture.sql).
 *
 * Owns:     installing the trigger (idempotent; a role without the privilege is
 *           told what is needed, and the caller goes on without it), and reading
 *           whether it is installed, enabled and of the version this build ships.
 * Not mine: what the trigger's messages mean (schema/ddlmsg), the SQL itself
 *           (sql/ddl_capture.sql, embedded at build time).
 * Pure:     no (it talks to the server through pg/conn).
 */
#ifndef WAL2EDGE_PG_DDLCAPTURE_H
#define WAL2EDGE_PG_DDLCAPTURE_H

#include <stdbool.h>

#include "core/err.h"
#include "pg/conn.h"

/* The version of sql/ddl_capture.sql this build ships (_wal2edge.ddl_capture_version()). */
#define DDLCAPTURE_VERSION 1

typedef enum DdlCaptureStatus {
    DDLCAPTURE_MISSING,        /* no trigger: schema changes fall back to Relation messages */
    DDLCAPTURE_OUTDATED,       /* installed, another version: `wal2edge setup` replaces it */
    DDLCAPTURE_DISABLED,       /* installed, but an event trigger is disabled */
    DDLCAPTURE_INSTALLED,
} DdlCaptureStatus;

typedef struct DdlCaptureState {
    DdlCaptureStatus status;
    int version;               /* the installed version, 0 when missing */
} DdlCaptureState;

/* Read the trigger's state. */
bool ddlcapture_check(PgConn *conn, DdlCaptureState *out, Err *err) WARN_UNUSED;

/*
 * Install (or replace) the trigger. *installed tells whether it is in place
 * now. A role that lacks the privilege is not an error: *installed is false and
 * `why` (size why_size) says what the role needs and how else to install it.
 * Any other failure is an error (ERR_PG).
 */
bool ddlcapture_install(PgConn *conn, bool *installed, char *why, size_t why_size, Err *err) WARN_UNUSED;

/* The fix line for a missing, outdated or disabled trigger (static text). */
const char *ddlcapture_fix(DdlCaptureStatus status);

#endif

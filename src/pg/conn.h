/*
 * pg/conn.h - the source database connection (the only code that includes libpq
 *             for ordinary SQL; pg/stream owns the replication protocol).
 *
 * Owns:     opening a connection from the configured DSN (never pasting
 *           conninfo strings, never logging them), and the catalog questions
 *           wal2edge asks: server facts for `doctor` and `status`.
 * Not mine: what the answers mean for the user (cli/cmd_doctor).
 * Domain API on purpose: there is no generic "run this SQL" function.
 */
#ifndef WAL2EDGE_PG_CONN_H
#define WAL2EDGE_PG_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/secret.h"
#include "pg/lsn.h"

typedef struct PgConn PgConn;

/* Connect with the DSN; connect_timeout defaults to 10 s unless the DSN sets one. */
PgConn *pgconn_open(const Secret *dsn, Err *err) WARN_UNUSED;
void pgconn_close(PgConn *conn);

typedef struct PgSlotFacts {
    bool exists;
    char plugin[64];
    char database[64];
    char slot_type[16];          /* "logical" / "physical" */
    bool active;
    int active_pid;              /* the walsender holding the slot, 0 when none */
    bool two_phase;
    bool failover;               /* synchronized to physical standbys (PG17+; false before) */
    char wal_status[16];         /* reserved / extended / unreserved / lost, "" if unknown */
    char confirmed_flush_lsn[32];
    char restart_lsn[32];
    int64_t retained_bytes;      /* pg_current_wal_lsn() - restart_lsn, -1 if unknown */
    int64_t safe_wal_size;       /* bytes, -1 when NULL (unlimited); negative once unreserved */
    bool has_safe_wal_size;      /* safe_wal_size was not NULL */
    int64_t flush_lag_bytes;     /* pg_current_wal_lsn() - confirmed_flush_lsn, -1 if unknown */
} PgSlotFacts;

typedef struct PgServerFacts {
    int server_version_num;      /* 150018 */
    char server_version[64];     /* "15.18 (Debian 15.18-0+deb12u1)" */
    char wal_level[32];
    char current_user[64];
    char database[64];
    bool is_superuser;
    bool can_replicate;          /* rolreplication */
    int max_replication_slots;
    int replication_slots_used;
    int max_wal_senders;
    int wal_senders_used;
    char max_slot_wal_keep_size[32];   /* as SHOW prints it: "-1", "10GB" */
    char synchronized_standby_slots[256]; /* PG17+: physical slots failover slots wait for; "" unset or before 17 */
    bool publication_exists;
    bool publication_all_tables;
    int publication_table_count;
    bool publication_publishes_truncate;
    PgSlotFacts slot;
} PgServerFacts;

/* Gather everything doctor needs about the server, the role, the publication and the slot. */
bool pgconn_server_facts(PgConn *conn, const char *publication, const char *slot,
                         PgServerFacts *out, Err *err) WARN_UNUSED;

/* Only the slot's row (exists false when there is none): cheap enough to poll every few seconds. */
bool pgconn_slot_facts(PgConn *conn, const char *slot, PgSlotFacts *out, Err *err) WARN_UNUSED;

/* pg_current_wal_lsn() (the end of WAL written so far). */
bool pgconn_current_wal_lsn(PgConn *conn, Lsn *out, Err *err) WARN_UNUSED;

/*
 * A WAL position at or after the commit record of every transaction committed
 * so far, that a walsender is certain to reach: commits one tiny transaction
 * with synchronous_commit = on (which flushes all WAL before it too, including
 * asynchronous commits) and returns the flushed position. The transaction
 * creates and drops a temporary table; without the TEMP privilege it emits a
 * transactional logical message with PGCONN_SYNC_MESSAGE_PREFIX instead.
 */
#define PGCONN_SYNC_MESSAGE_PREFIX "wal2edge.sync"
bool pgconn_sync_point(PgConn *conn, Lsn *out, Err *err) WARN_UNUSED;

/*
 * A heartbeat: a small transactional logical message (prefix PGCONN_HEARTBEAT_PREFIX, the
 * content given) in a transaction of its own, so a slot on an idle database still advances.
 * Needs EXECUTE on pg_logical_emit_message (granted to PUBLIC by default).
 */
#define PGCONN_HEARTBEAT_PREFIX "wal2edge.heartbeat"
bool pgconn_emit_heartbeat(PgConn *conn, const char *content, Err *err) WARN_UNUSED;

/* CREATE PUBLICATION name FOR TABLE t1, t2 ... ("schema.table" names, quoted here),
 * or FOR ALL TABLES when count is 0. */
bool pgconn_create_publication(PgConn *conn, const char *name, const char *const *tables, size_t count,
                               Err *err) WARN_UNUSED;
/* Add table ("schema.table") to publication name unless it publishes it already (FOR ALL TABLES
 * included) or does not exist; *added when it was added. ERR_PG naming both (e.g. not its owner). */
bool pgconn_publication_add(PgConn *conn, const char *name, const char *table, bool *added, Err *err) WARN_UNUSED;
bool pgconn_drop_publication(PgConn *conn, const char *name, Err *err) WARN_UNUSED;

#endif

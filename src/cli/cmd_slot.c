/*
 * cli/cmd_slot.c - `wal2edge slot create|drop [--force] [--publication]|info [--json]`:
 * the replication slot and the publication it streams. A drop is refused while
 * targets of the state directory hold checkpoints on the slot (--force drops anyway).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "core/log.h"
#include "core/mem.h"
#include "mapping/mapping.h"
#include "pg/conn.h"
#include "pg/source.h"
#include "pg/stream.h"
#include "state/store.h"

static int slot_create(const Config *cfg)
{
    Err err;
    PgConn *conn = pgconn_open(cfg->source.dsn, &err);
    if (!conn)
        return cli_fail(&err);
    PgServerFacts facts;
    if (!pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, &err)) {
        pgconn_close(conn);
        return cli_fail(&err);
    }
    int rc = cli_setup_source(cfg, conn, &facts);
    if (rc) {
        pgconn_close(conn);
        return rc;
    }
    pgconn_close(conn);
    if (facts.slot.exists) {
        printf("replication slot \"%s\" exists (confirmed %s)\n", cfg->source.slot,
               facts.slot.confirmed_flush_lsn[0] ? facts.slot.confirmed_flush_lsn : "-");
        return 0;
    }
    PgStream *stream = pgstream_connect(cfg->source.dsn, &err);
    if (!stream)
        return cli_fail(&err);
    PgSlotCreated created;
    bool two_phase = false;
    bool ok = source_create_slot(stream, cfg->source.slot, (SlotFailover)cfg->source.failover_slot, 0, &created,
                                 &two_phase, &err);
    pgstream_close(stream);
    ok = ok && store_record_incarnation(cfg->state_dir, created.consistent_point, &err);
    if (!ok)
        return cli_fail(&err);
    char lsn[LSN_STR_MAX];
    printf("created replication slot \"%s\" at %s%s\n", cfg->source.slot, lsn_format(created.consistent_point, lsn),
           two_phase ? " (two-phase)" : "");
    printf("note: the slot retains WAL until wal2edge confirms it; drop it with \"wal2edge slot drop\" when "
           "you stop using it\n");
    return 0;
}

/*
 * Targets of this state directory that hold a checkpoint on the slot: after a
 * drop, none of them can be resumed (pipeline/gap). Prints them; returns how many.
 */
static size_t list_resumable_targets(const Config *cfg, FILE *out, const char *header)
{
    Err err;
    Store *store = store_open_existing(cfg->state_dir, &err);
    if (!store)
        return 0;
    StoreCheckpoint rows[64];
    size_t count = 0;
    if (!store_list_checkpoints(store, rows, 64, &count, &err))
        count = 0;
    store_close(store);
    if (count > 64)
        count = 64;
    size_t held = 0;
    for (size_t i = 0; i < count; i++) {
        if (rows[i].checkpoint.commit_lsn == 0 && rows[i].through == 0)
            continue;
        if (held == 0)
            fputs(header, out);
        char pos[LSN_STR_MAX];
        Lsn at = rows[i].through > rows[i].checkpoint.end_lsn ? rows[i].through : rows[i].checkpoint.end_lsn;
        fprintf(out, "  %s (complete through %s)\n", rows[i].target, lsn_format(at, pos));
        held++;
    }
    return held;
}

static int slot_drop(const Config *cfg, bool with_publication, bool force)
{
    Err err;
    if (!force) {
        size_t held = list_resumable_targets(cfg, stderr, "these targets would lose their way to resume:\n");
        if (held) {
            fprintf(stderr,
                    "wal2edge: %zu target%s listed above hold%s checkpoints on replication slot \"%s\" (state "
                    "directory %s); after a drop they cannot be resumed: `wal2edge run` will refuse them until "
                    "they are rebuilt (`wal2edge migrate` for D1, `wal2edge warm` for KV, a re-sync of the queue's "
                    "consumers). Drop it anyway with `wal2edge slot drop --force`\n",
                    held, held == 1 ? "" : "s", held == 1 ? "s" : "", cfg->source.slot, cfg->state_dir);
            return 1;
        }
    }
    PgStream *stream = pgstream_connect(cfg->source.dsn, &err);
    if (!stream)
        return cli_fail(&err);
    bool ok = pgstream_drop_slot(stream, cfg->source.slot, &err);
    pgstream_close(stream);
    if (!ok)
        return cli_fail(&err);
    printf("dropped replication slot \"%s\"; its targets can no longer be resumed from it\n", cfg->source.slot);
    if (force)
        list_resumable_targets(cfg, stdout,
                               "before `wal2edge run`, rebuild (`wal2edge migrate` for D1, `wal2edge warm` for KV, a "
                               "re-sync of a queue's consumers) or accept the gap (`wal2edge run --accept-gap "
                               "TARGET`) of:\n");
    if (with_publication) {
        PgConn *conn = pgconn_open(cfg->source.dsn, &err);
        if (!conn || !pgconn_drop_publication(conn, cfg->source.publication, &err)) {
            pgconn_close(conn);
            return cli_fail(&err);
        }
        pgconn_close(conn);
        printf("dropped publication \"%s\"\n", cfg->source.publication);
    }
    return 0;
}

static int slot_info(const Config *cfg, bool as_json)
{
    Err err;
    PgConn *conn = pgconn_open(cfg->source.dsn, &err);
    if (!conn)
        return cli_fail(&err);
    PgServerFacts facts;
    Lsn current = 0;
    bool ok = pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, &err) &&
              pgconn_current_wal_lsn(conn, &current, &err);
    pgconn_close(conn);
    if (!ok)
        return cli_fail(&err);
    const PgSlotFacts *s = &facts.slot;
    if (as_json) {
        json_t *doc = json_pack("{s:s, s:b}", "slot", cfg->source.slot, "exists", s->exists);
        if (s->exists) {
            json_object_set_new(doc, "plugin", json_string(s->plugin));
            json_object_set_new(doc, "database", json_string(s->database));
            json_object_set_new(doc, "active", json_boolean(s->active));
            json_object_set_new(doc, "two_phase", json_boolean(s->two_phase));
            json_object_set_new(doc, "confirmed_flush_lsn", json_string(s->confirmed_flush_lsn));
            json_object_set_new(doc, "restart_lsn", json_string(s->restart_lsn));
            json_object_set_new(doc, "wal_status", json_string(s->wal_status));
            json_object_set_new(doc, "retained_bytes", s->retained_bytes >= 0 ? json_integer(s->retained_bytes) : json_null());
            json_object_set_new(doc, "safe_wal_size", s->has_safe_wal_size ? json_integer(s->safe_wal_size) : json_null());
        }
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
        json_decref(doc);
        return s->exists ? 0 : 1;
    }
    if (!s->exists) {
        printf("replication slot \"%s\" does not exist (wal2edge slot create)\n", cfg->source.slot);
        return 1;
    }
    printf("slot                 %s (%s, plugin %s, database %s%s)\n", cfg->source.slot,
           s->active ? "active" : "inactive", s->plugin, s->database, s->two_phase ? ", two-phase" : "");
    printf("confirmed_flush_lsn  %s\nrestart_lsn          %s\n", s->confirmed_flush_lsn, s->restart_lsn);
    printf("wal_status           %s\n", s->wal_status[0] ? s->wal_status : "-");
    if (s->retained_bytes >= 0)
        printf("retained WAL         %" PRId64 " bytes\n", s->retained_bytes);
    else /* a lost slot has no restart_lsn */
        printf("retained WAL         unknown (the slot has no restart_lsn)\n");
    if (s->has_safe_wal_size)
        printf("safe_wal_size        %" PRId64 " bytes\n", s->safe_wal_size);
    return 0;
}

int cmd_slot(CliCtx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(argv[0], "which: create, drop or info?");
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    const char *action = a.operands[0];
    bool as_json = cli_args_flag(&a, "--json"), with_publication = cli_args_flag(&a, "--publication"),
         force = cli_args_flag(&a, "--force");
    if (strcmp(action, "create") != 0 && strcmp(action, "drop") != 0 && strcmp(action, "info") != 0)
        return cli_usage_error(argv[0], "unknown action \"%s\" (create, drop or info)", action);
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);
    int rc = strcmp(action, "create") == 0 ? slot_create(cfg)
             : strcmp(action, "drop") == 0 ? slot_drop(cfg, with_publication, force)
                                           : slot_info(cfg, as_json);
    config_free(cfg);
    return rc;
}

/*
 * cli/cmd_doctor.c - `wal2edge doctor`: check the source and every target, and
 * say how to fix each problem.
 *
 * A check is ok, warn (works, but not as well as it should) or fail (the
 * pipeline cannot run). Exit 0 when nothing failed, 1 otherwise, 2 for a bad
 * config. Output is text, or one JSON document with --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "core/log.h"
#include "core/mem.h"
#include "pg/conn.h"

typedef enum { CHECK_OK, CHECK_WARN, CHECK_FAIL } CheckLevel;

typedef struct Report {
    json_t *checks;   /* array of {name, status, message, fix} */
    int warnings;
    int failures;
} Report;

static void report_add(Report *r, CheckLevel level, const char *name, const char *fix,
                       const char *fmt, ...) ATTR_PRINTF(5, 6);
static void report_add(Report *r, CheckLevel level, const char *name, const char *fix,
                       const char *fmt, ...)
{
    static const char *const status[] = {"ok", "warn", "fail"};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *clean_msg = log_redact(msg);
    json_t *check = json_pack("{s:s, s:s, s:s}", "name", name, "status", status[level], "message",
                              clean_msg);
    free(clean_msg);
    if (fix) {
        char *clean_fix = log_redact(fix);
        json_object_set_new(check, "fix", json_string(clean_fix));
        free(clean_fix);
    }
    json_array_append_new(r->checks, check);
    if (level == CHECK_WARN)
        r->warnings++;
    if (level == CHECK_FAIL)
        r->failures++;
}

static void check_server(Report *r, const PgServerFacts *f)
{
    if (f->server_version_num < 100000)
        report_add(r, CHECK_FAIL, "server_version",
                   "upgrade PostgreSQL to 14 or newer (logical replication with pgoutput needs 10+)",
                   "PostgreSQL %s is too old", f->server_version);
    else if (f->server_version_num < 140000)
        report_add(r, CHECK_WARN, "server_version",
                   "upgrade to PostgreSQL 14 or newer to stream large transactions with bounded memory",
                   "PostgreSQL %s: no streaming of in-progress transactions before 14",
                   f->server_version);
    else
        report_add(r, CHECK_OK, "server_version", NULL, "PostgreSQL %s", f->server_version);

    if (strcmp(f->wal_level, "logical") == 0)
        report_add(r, CHECK_OK, "wal_level", NULL, "wal_level is logical");
    else
        report_add(r, CHECK_FAIL, "wal_level",
                   "run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL "
                   "(on a managed service, enable logical replication in its settings)",
                   "wal_level is %s, logical decoding needs logical", f->wal_level);

    if (f->is_superuser)
        report_add(r, CHECK_OK, "role", NULL, "role \"%s\" is a superuser and may replicate",
                   f->current_user);
    else if (f->can_replicate)
        report_add(r, CHECK_OK, "role", NULL, "role \"%s\" has REPLICATION", f->current_user);
    else {
        char *fix = xasprintf("run ALTER ROLE \"%s\" WITH REPLICATION; as a superuser",
                              f->current_user);
        report_add(r, CHECK_FAIL, "role", fix, "role \"%s\" may not replicate (needs REPLICATION)",
                   f->current_user);
        free(fix);
    }
}

static void check_capacity(Report *r, const PgServerFacts *f)
{
    int slots_needed = f->slot.exists ? 0 : 1;
    int free_slots = f->max_replication_slots - f->replication_slots_used;
    if (free_slots < slots_needed)
        report_add(r, CHECK_FAIL, "replication_slots",
                   "raise max_replication_slots (ALTER SYSTEM SET max_replication_slots = ...; "
                   "restart) or drop an unused slot",
                   "no free replication slot: %d of %d in use", f->replication_slots_used,
                   f->max_replication_slots);
    else
        report_add(r, CHECK_OK, "replication_slots", NULL, "%d of %d replication slots in use",
                   f->replication_slots_used, f->max_replication_slots);

    /* An active slot of ours already holds its sender. */
    int senders_needed = f->slot.exists && f->slot.active ? 0 : 1;
    int free_senders = f->max_wal_senders - f->wal_senders_used;
    if (free_senders < senders_needed)
        report_add(r, CHECK_FAIL, "wal_senders",
                   "raise max_wal_senders (ALTER SYSTEM SET max_wal_senders = ...; restart)",
                   "no free WAL sender: %d of %d in use", f->wal_senders_used, f->max_wal_senders);
    else
        report_add(r, CHECK_OK, "wal_senders", NULL, "%d of %d WAL senders in use",
                   f->wal_senders_used, f->max_wal_senders);

    if (strcmp(f->max_slot_wal_keep_size, "-1") == 0)
        report_add(r, CHECK_WARN, "max_slot_wal_keep_size",
                   "set max_slot_wal_keep_size (e.g. ALTER SYSTEM SET max_slot_wal_keep_size = "
                   "'50GB'; SELECT pg_reload_conf();) so a stopped bridge cannot fill the disk",
                   "max_slot_wal_keep_size is unlimited: a stopped replicator retains WAL without bound");
    else
        report_add(r, CHECK_OK, "max_slot_wal_keep_size", NULL, "max_slot_wal_keep_size is %s",
                   f->max_slot_wal_keep_size);
}

static void check_publication_and_slot(Report *r, const Config *cfg, const PgServerFacts *f)
{
    const char *pub = cfg->source.publication;
    if (!f->publication_exists) {
        char *fix = xasprintf("run CREATE PUBLICATION \"%s\" FOR TABLE ...; (or FOR ALL TABLES) "
                              "listing the mapped tables",
                              pub);
        report_add(r, CHECK_WARN, "publication", fix, "publication \"%s\" does not exist", pub);
        free(fix);
    } else if (f->publication_table_count == 0) {
        char *fix = xasprintf("run ALTER PUBLICATION \"%s\" ADD TABLE ...;", pub);
        report_add(r, CHECK_WARN, "publication", fix, "publication \"%s\" publishes no tables", pub);
        free(fix);
    } else {
        report_add(r, CHECK_OK, "publication", NULL, "publication \"%s\" publishes %d table%s%s", pub,
                   f->publication_table_count, f->publication_table_count == 1 ? "" : "s",
                   f->publication_all_tables ? " (FOR ALL TABLES)" : "");
    }

    const char *slot = cfg->source.slot;
    const PgSlotFacts *s = &f->slot;
    if (!s->exists) {
        report_add(r, CHECK_WARN, "slot", "run: wal2edge slot create",
                   "replication slot \"%s\" does not exist yet", slot);
        return;
    }
    if (strcmp(s->slot_type, "logical") != 0 || strcmp(s->plugin, "pgoutput") != 0) {
        char *fix = xasprintf("drop it (SELECT pg_drop_replication_slot('%s');) or configure another "
                              "source.slot",
                              slot);
        report_add(r, CHECK_FAIL, "slot", fix,
                   "replication slot \"%s\" is not a logical pgoutput slot (type %s, plugin %s)",
                   slot, s->slot_type, s->plugin[0] ? s->plugin : "none");
        free(fix);
        return;
    }
    if (strcmp(s->database, f->database) != 0) {
        report_add(r, CHECK_FAIL, "slot", "point source.dsn at the slot's database or use another slot",
                   "replication slot \"%s\" belongs to database \"%s\", not \"%s\"", slot,
                   s->database, f->database);
        return;
    }
    if (strcmp(s->wal_status, "lost") == 0) {
        char *fix = xasprintf("the slot's WAL was removed: drop and recreate it (wal2edge slot drop; wal2edge "
                              "slot create), resync the targets (wal2edge migrate; wal2edge warm), then "
                              "wal2edge run; raise max_slot_wal_keep_size (now %s) so it does not happen again",
                              f->max_slot_wal_keep_size);
        report_add(r, CHECK_FAIL, "slot", fix, "replication slot \"%s\" is invalidated (wal_status lost)", slot);
        free(fix);
        return;
    }
    char retained[64] = "";
    if (s->retained_bytes >= 0)
        snprintf(retained, sizeof retained, ", retains %lld bytes of WAL", (long long)s->retained_bytes);
    if (strcmp(s->wal_status, "unreserved") == 0) {
        char *fix = xasprintf("start wal2edge run now so the slot catches up before the next checkpoint "
                              "removes its WAL, or raise max_slot_wal_keep_size (now %s)",
                              f->max_slot_wal_keep_size);
        report_add(r, CHECK_FAIL, "slot", fix,
                   "replication slot \"%s\" is unreserved: it is past max_slot_wal_keep_size and will be "
                   "invalidated at the next checkpoint (safe_wal_size %lld bytes%s)",
                   slot, s->has_safe_wal_size ? (long long)s->safe_wal_size : 0LL, retained);
        free(fix);
        return;
    }
    report_add(r, CHECK_OK, "slot", NULL, "replication slot \"%s\" exists (%s, confirmed %s%s)", slot,
               s->active ? "active" : "inactive", s->confirmed_flush_lsn[0] ? s->confirmed_flush_lsn : "-",
               retained);
    if (s->has_safe_wal_size && strcmp(s->wal_status, "extended") == 0)
        report_add(r, CHECK_WARN, "slot_wal",
                   "let wal2edge run catch up, or raise max_slot_wal_keep_size",
                   "replication slot \"%s\" retains more WAL than max_wal_size (wal_status extended); "
                   "%lld bytes more and it is invalidated",
                   slot, (long long)s->safe_wal_size);
}

static void check_targets(Report *r, const Config *cfg)
{
    bool has_token = !secret_is_empty(cfg->cloudflare.api_token);
    bool has_account = cfg->cloudflare.account_id != NULL;
    for (size_t i = 0; i < cfg->target_count; i++) {
        const ConfigTarget *t = &cfg->targets[i];
        char *name = xasprintf("%s.%s", target_kind_name(t->kind), t->name);
        if (target_is_embedded(t)) {
            report_add(r, CHECK_OK, name, NULL, "embedded, writes %s", t->embedded_path);
        } else if (t->kind == TARGET_R2) {
            bool has_endpoint = t->endpoint || has_account;
            bool has_keys = t->access_key_id && !secret_is_empty(t->secret_access_key);
            if (!has_endpoint)
                report_add(r, CHECK_FAIL, name,
                           "set r2.<name>.endpoint or CLOUDFLARE_ACCOUNT_ID",
                           "bucket \"%s\" has no endpoint", t->remote_id);
            else if (!has_keys)
                report_add(r, CHECK_FAIL, name,
                           "export R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY (an R2 API token's S3 "
                           "credentials) or reference them with ${VAR} in the config",
                           "bucket \"%s\" has no access key pair", t->remote_id);
            else
                report_add(r, CHECK_OK, name, NULL, "bucket \"%s\" at %s, access key %s",
                           t->remote_id, t->endpoint ? t->endpoint : "the account endpoint",
                           t->access_key_id);
        } else if (!has_account || !has_token) {
            report_add(r, CHECK_FAIL, name,
                       "export CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (or reference them with "
                       "${VAR} under \"cloudflare\" in the config), or remove the id to use the "
                       "embedded default",
                       "remote id \"%s\" configured but %s missing", t->remote_id,
                       !has_account && !has_token ? "account id and API token are"
                       : !has_account            ? "the account id is"
                                                 : "the API token is");
        } else {
            report_add(r, CHECK_OK, name, NULL, "remote id \"%s\" via %s", t->remote_id,
                       cfg->cloudflare.api_base_url);
        }
        free(name);
    }
    if (cfg->target_count == 0)
        report_add(r, CHECK_WARN, "targets", "add a d1, kv, queues or r2 section to the config",
                   "no targets configured");
}

static void print_text(const Report *r, const Config *cfg)
{
    printf("wal2edge doctor (config %s)\n", cfg->path);
    size_t idx;
    json_t *check;
    json_array_foreach(r->checks, idx, check)
    {
        const char *status = json_string_value(json_object_get(check, "status"));
        const char *label = strcmp(status, "ok") == 0 ? "ok  " : strcmp(status, "warn") == 0 ? "WARN" : "FAIL";
        printf("  %s  %-24s %s\n", label, json_string_value(json_object_get(check, "name")),
               json_string_value(json_object_get(check, "message")));
        json_t *fix = json_object_get(check, "fix");
        if (fix)
            printf("        %-24s fix: %s\n", "", json_string_value(fix));
    }
    printf("%d problem%s, %d warning%s\n", r->failures, r->failures == 1 ? "" : "s", r->warnings,
           r->warnings == 1 ? "" : "s");
}

int cmd_doctor(CliCtx *ctx, int argc, char **argv)
{
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else
            return cli_usage_error(argv[0], "unknown option \"%s\"", argv[i]);
    }
    Err err;
    Config *cfg = cli_load_config(ctx, &err);
    if (!cfg)
        return cli_fail(&err);

    Report r = {json_array(), 0, 0};
    PgConn *conn = pgconn_open(cfg->source.dsn, &err);
    if (!conn) {
        report_add(&r, CHECK_FAIL, "connection",
                   "check source.dsn (host, port, user, database) and that the server accepts "
                   "connections from here (pg_hba.conf)",
                   "%s", err.msg);
    } else {
        PgServerFacts facts;
        if (pgconn_server_facts(conn, cfg->source.publication, cfg->source.slot, &facts, &err)) {
            check_server(&r, &facts);
            check_capacity(&r, &facts);
            check_publication_and_slot(&r, cfg, &facts);
        } else {
            report_add(&r, CHECK_FAIL, "catalog", "check the role's privileges on the source",
                       "%s", err.msg);
        }
        pgconn_close(conn);
    }
    check_targets(&r, cfg);

    if (as_json) {
        json_t *doc = json_pack("{s:O, s:i, s:i, s:b}", "checks", r.checks, "problems", r.failures,
                                "warnings", r.warnings, "ok", r.failures == 0);
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        print_text(&r, cfg);
    }
    int rc = r.failures ? 1 : 0;
    json_decref(r.checks);
    config_free(cfg);
    return rc;
}

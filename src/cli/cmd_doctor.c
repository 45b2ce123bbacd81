/*
 * cli/cmd_doctor.c - `wal2edge doctor`: check the source and every target, and
 * say how to fix each problem.
 *
 * A check is ok, warn (works, but not as well as it should) or fail (the
 * pipeline cannot run). Exit 0 when nothing failed, 1 otherwise, 2 for a bad
 * config. Output is text, or one JSON document with --json.
 *
 * Credentials are checked with real calls: the API token (token verify), each
 * remote D1 database, KV namespace and queue (a read of its own record), each
 * R2 bucket (HeadBucket, signed with the S3 keys). The mappings are checked
 * against the catalog as `run` would (cli/mapcheck), and the publication must
 * publish every mapped table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cf/client.h"
#include "cf/r2.h"
#include "cf/r2_target.h"
#include "cli/commands.h"
#include "cli/mapcheck.h"
#include "core/log.h"
#include "core/mem.h"
#include "daemon/source_watch.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pg/conn.h"
#include "pg/ddlcapture.h"
#include "pg/slotcmd.h"
#include "state/store.h"

/* doctor waits for an answer, not for a recovery: few retries, short timeouts */
#define DOCTOR_HTTP_TIMEOUT_MS 15000
#define DOCTOR_ATTEMPTS 2

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
        char *fix = xasprintf("the slot's WAL was removed: drop and recreate it (wal2edge slot drop --force; wal2edge "
                              "slot create), rebuild each target as wal2edge run then lists it (D1: wal2edge migrate; KV: "
                              "wal2edge warm; a queue: re-sync its consumers, then wal2edge run --accept-gap "
                              "queues.NAME; the change log: --accept-gap changelog); raise max_slot_wal_keep_size "
                              "(now %s) so it does not happen again",
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
        /* a warning (lost is the error): run can still save it */
        report_add(r, CHECK_WARN, "slot", fix,
                   "replication slot \"%s\" is unreserved: it is past max_slot_wal_keep_size and will be "
                   "invalidated at the next checkpoint (safe_wal_size %lld bytes%s)",
                   slot, s->has_safe_wal_size ? (long long)s->safe_wal_size : 0LL, retained);
        free(fix);
        return;
    }
    if (s->retained_bytes > cfg->source.max_retained_wal_bytes)
        report_add(r, CHECK_WARN, "slot_wal", "see what holds the slot back: wal2edge status (a failing target, a "
                   "stopped run); or raise source.max_retained_wal_bytes",
                   "replication slot \"%s\" retains %lld bytes of WAL, over source.max_retained_wal_bytes (%lld)",
                   slot, (long long)s->retained_bytes, (long long)cfg->source.max_retained_wal_bytes);
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

/* Whether the slot survives a primary failover (docs/operations.md, "Primary failover on PostgreSQL 17"). */
static void check_failover_slot(Report *r, const Config *cfg, const PgServerFacts *f)
{
    const char *slot = cfg->source.slot;
    unsigned flags;
    Err err;
    if (!slotcmd_main_flags(f->server_version_num, (SlotFailover)cfg->source.failover_slot, &flags, &err)) {
        report_add(r, CHECK_FAIL, "failover_slot", "remove source.failover_slot or set it to false", "%s", err.msg);
        return;
    }
    if (f->server_version_num < SLOTCMD_FAILOVER_MIN_VERSION) {
        report_add(r, CHECK_OK, "failover_slot", NULL,
                   "failover slot: n/a (PostgreSQL %d has none; a primary failover loses the slot and the gap "
                   "rule names the way back)",
                   f->server_version_num / 10000);
        return;
    }
    bool wanted = flags & PGSLOT_FAILOVER;
    if (!f->slot.exists) {
        report_add(r, CHECK_OK, "failover_slot", NULL, "replication slot \"%s\" will be created %s", slot,
                   wanted ? "as a failover slot" : "without failover (source.failover_slot is false)");
        return;
    }
    const char *label = slotcmd_failover_label(f->server_version_num, f->slot.failover);
    if (f->slot.failover && !f->synchronized_standby_slots[0]) {
        /* without it wal2edge may apply a transaction the promoted standby never received */
        report_add(r, CHECK_WARN, "failover_slot",
                   "set synchronized_standby_slots on the primary to the physical slots of the standbys that may "
                   "take over (ALTER SYSTEM SET synchronized_standby_slots = 'standby1'; SELECT pg_reload_conf())",
                   "replication slot \"%s\" is a failover slot but synchronized_standby_slots is empty: after a "
                   "failover the edge may hold changes the new primary never had",
                   slot);
        return;
    }
    if (f->slot.failover) {
        report_add(r, CHECK_OK, "failover_slot", NULL, "replication slot \"%s\" failover: %s (synchronized_standby_slots "
                   "= '%s')", slot, label, f->synchronized_standby_slots);
        return;
    }
    if (!wanted) {
        report_add(r, CHECK_OK, "failover_slot", NULL, "replication slot \"%s\" failover: %s (source.failover_slot is "
                   "false)", slot, label);
        return;
    }
    /* 17 will not make a two-phase slot a failover slot: only a new slot (a gap) will do */
    char *fix = f->slot.two_phase && f->server_version_num < SLOTCMD_FAILOVER_TWO_PHASE_MIN_VERSION
                    ? xstrdup("it is two-phase, which PostgreSQL 17 keeps from failover: create it again (wal2edge "
                              "slot drop --force; wal2edge slot create; then the ways back wal2edge run names) or "
                              "set source.failover_slot to false")
                    : xasprintf("stop wal2edge run, then on a replication connection (psql \"dbname=... "
                                "replication=database\"): ALTER_REPLICATION_SLOT %s (FAILOVER true); "
                                "or set source.failover_slot to false",
                                slot);
    report_add(r, CHECK_WARN, "failover_slot", fix,
               "replication slot \"%s\" is not a failover slot: a primary failover loses it", slot);
    free(fix);
}

/* The DDL capture trigger: without it schema changes are followed from Relation messages only. */
static void check_ddl_capture(Report *r, PgConn *conn)
{
    Err err;
    DdlCaptureState st;
    if (!ddlcapture_check(conn, &st, &err)) {
        report_add(r, CHECK_WARN, "ddl_capture", "check the role's privileges on the source", "%s", err.msg);
        return;
    }
    static const char *const what[] = {
        [DDLCAPTURE_MISSING] = "the DDL capture trigger is not installed: a column rename stops its table",
        [DDLCAPTURE_OUTDATED] = "the DDL capture trigger is another version",
        [DDLCAPTURE_DISABLED] = "the DDL capture trigger is disabled: a column rename stops its table",
        [DDLCAPTURE_INSTALLED] = "the DDL capture trigger is installed",
    };
    if (st.status == DDLCAPTURE_INSTALLED)
        report_add(r, CHECK_OK, "ddl_capture", NULL, "%s (version %d)", what[st.status], st.version);
    else if (st.status == DDLCAPTURE_OUTDATED)
        report_add(r, CHECK_WARN, "ddl_capture", ddlcapture_fix(st.status), "%s (%d, this build ships %d)",
                   what[st.status], st.version, DDLCAPTURE_VERSION);
    else
        report_add(r, CHECK_WARN, "ddl_capture", ddlcapture_fix(st.status), "%s", what[st.status]);
}

/* A mapped table dropped and created again since its targets were filled: what `run` would stop on. */
static void check_recreated(Report *r, const Config *cfg, const MappingSet *maps)
{
    Err err;
    Store *store = store_open_existing(cfg->state_dir, &err);
    if (!store)
        return; /* nothing has run here yet: nothing recorded to compare with */
    SourceWatchTable *tables = source_watch_tables(maps);
    SourceWatch *w = source_watch_new(cfg, store, tables, maps->count, 0);
    source_watch_read_only(w);
    if (source_watch_check(w, &err))
        report_add(r, CHECK_OK, "source_tables", NULL, "every mapped table is the one its targets were filled from");
    else if (err.code == ERR_CHECK) /* the message holds the way back */
        report_add(r, CHECK_FAIL, "source_tables", NULL, "%s", err.msg);
    else
        report_add(r, CHECK_WARN, "source_tables", NULL, "cannot compare the mapped tables with the state: %s", err.msg);
    source_watch_free(w);
    free(tables);
    store_close(store);
}

/* The mappings against the catalog, and the publication against the mapped tables. */
static void check_mappings(Report *r, const Config *cfg, bool publication_exists)
{
    if (cfg->mapping_file_count == 0)
        return;
    Err err;
    MappingSet *maps = mapping_set_load(cfg, &err);
    if (!maps) {
        report_add(r, CHECK_FAIL, "mappings", "correct the mapping file (wal2edge plan shows the same)", "%s",
                   err.msg);
        return;
    }
    CatalogInfo *cat = mapcheck_catalog(cfg, maps, &err);
    if (!cat) {
        report_add(r, CHECK_FAIL, "mappings", "check the role's privileges on the source",
                   "cannot read the mapped tables from the catalog: %s", err.msg);
        mapping_set_free(maps);
        return;
    }
    check_recreated(r, cfg, maps);
    MapCheck mc;
    mapcheck_run(cfg, maps, cat, &mc);
    for (size_t i = 0; i < mc.problem_count; i++)
        report_add(r, CHECK_FAIL, "mapping", "correct the mapping (wal2edge run refuses it; wal2edge plan shows the same)",
                   "%s", mc.problems[i]);
    if (mc.problem_count == 0)
        report_add(r, CHECK_OK, "mappings", NULL, "%zu mapping%s match the source tables%s", maps->count,
                   maps->count == 1 ? "" : "s", mc.warning_count ? " (wal2edge plan shows warnings)" : "");
    mapcheck_clear(&mc);

    /* a table the publication leaves out streams nothing: its targets silently go stale */
    if (publication_exists) {
        Buf missing;
        Err e;
        buf_init(&missing, 1 << 16);
        size_t n = 0;
        for (size_t i = 0; i < cat->table_count; i++) {
            const CatTable *t = &cat->tables[i];
            if (t->exists && !t->in_publication && buf_printf(&missing, &e, "%s%s", n ? ", " : "", t->qualname))
                n++;
        }
        const char *pub = cfg->source.publication;
        if (n) {
            char *fix = xasprintf("run ALTER PUBLICATION \"%s\" ADD TABLE %s; then wal2edge migrate / wal2edge warm "
                                  "for those tables (changes made meanwhile were not streamed)",
                                  pub, missing.data);
            report_add(r, CHECK_FAIL, "publication_coverage", fix, "publication \"%s\" does not publish %zu mapped "
                       "table%s: %s", pub, n, n == 1 ? "" : "s", missing.data);
            free(fix);
        } else {
            report_add(r, CHECK_OK, "publication_coverage", NULL, "publication \"%s\" publishes every mapped table",
                       pub);
        }
        buf_free(&missing);
    }
    catalog_free(cat);
    mapping_set_free(maps);
}

/* The fix for a call the API refused: the permission, the id, or the service. */
static const char *api_fix(const Err *err, const char *perm, const char *what_id)
{
    static char fix[512];
    long status = err->code == ERR_CF_API || err->code == ERR_HTTP ? err->detail : 0;
    if (strstr(err->msg, "(http 404)") || status == 404)
        snprintf(fix, sizeof fix, "check %s (it does not exist in this account)", what_id);
    else if (strstr(err->msg, "(http 401)") || strstr(err->msg, "(http 403)"))
        snprintf(fix, sizeof fix, "give the API token the %s permission for this account", perm);
    else
        snprintf(fix, sizeof fix, "check that the Cloudflare API is reachable from here (cloudflare.api_base_url)");
    return fix;
}

static void check_rest_target(Report *r, CfClient *client, const ConfigTarget *t, const char *name)
{
    static const struct {
        CfResourceKind kind;
        const char *label, *perm;
    } kinds[] = {
        [TARGET_D1] = {CF_RESOURCE_D1, "database_id", "D1 Read (D1 Edit to write)"},
        [TARGET_KV] = {CF_RESOURCE_KV, "namespace_id", "Workers KV Storage Read (Edit to write)"},
        [TARGET_QUEUE] = {CF_RESOURCE_QUEUE, "queue_id", "Queues Read (Edit to send)"},
    };
    Err err;
    char what_id[160];
    snprintf(what_id, sizeof what_id, "%s.%s \"%s\"", name, kinds[t->kind].label, t->remote_id);
    if (cf_resource_check(client, kinds[t->kind].kind, t->remote_id, &err))
        report_add(r, CHECK_OK, name, NULL, "%s \"%s\" reachable with the API token", kinds[t->kind].label,
                   t->remote_id);
    else
        report_add(r, CHECK_FAIL, name, api_fix(&err, kinds[t->kind].perm, what_id), "%s \"%s\": %s",
                   kinds[t->kind].label, t->remote_id, err.msg);
}

static void check_r2_target(Report *r, const Config *cfg, const ConfigTarget *t, const char *name)
{
    R2Options o;
    r2_options_default(&o);
    o.http.total_timeout_ms = DOCTOR_HTTP_TIMEOUT_MS;
    o.retry.max_attempts = DOCTOR_ATTEMPTS;
    char *endpoint = config_r2_endpoint(cfg, t);
    Err err;
    bool found = false;
    R2Client *c = r2_client_for_target(cfg, t, &o, &err);
    bool ok = c && r2_head_bucket(c, &found, &err);
    r2_client_free(c);
    if (ok && found)
        report_add(r, CHECK_OK, name, NULL, "bucket \"%s\" at %s reachable with access key %s", t->remote_id,
                   endpoint, t->access_key_id);
    else if (ok)
        report_add(r, CHECK_FAIL, name, "create the bucket (wrangler r2 bucket create) or correct r2.<name>.bucket",
                   "bucket \"%s\" does not exist at %s", t->remote_id, endpoint);
    else
        report_add(r, CHECK_FAIL, name,
                   strstr(err.msg, "403") ? "check R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY (an R2 API token's S3 "
                                            "credentials with access to this bucket)"
                                          : "check the endpoint and that it is reachable from here",
                   "bucket \"%s\" at %s: %s", t->remote_id, endpoint, err.msg);
    free(endpoint);
}

/* One client for every REST target; NULL (reported) when the token does not verify. */
static CfClient *verified_client(Report *r, const Config *cfg)
{
    CfClientOptions o;
    cf_client_options_default(&o);
    o.http.total_timeout_ms = DOCTOR_HTTP_TIMEOUT_MS;
    o.retry.max_attempts = DOCTOR_ATTEMPTS;
    Err err;
    CfClient *client = cf_client_new(cfg->cloudflare.api_base_url, cfg->cloudflare.account_id,
                                     cfg->cloudflare.api_token, &o, &err);
    if (client && cf_token_verify(client, &err)) {
        report_add(r, CHECK_OK, "api_token", NULL, "the API token is valid (%s)", cfg->cloudflare.api_base_url);
        return client;
    }
    if (client && err.code == ERR_CF_API) /* the API answered, and said no */
        report_add(r, CHECK_FAIL, "api_token",
                   "create an API token (My Profile > API Tokens) with the permissions of the targets and export "
                   "it as CLOUDFLARE_API_TOKEN",
                   "%s rejects the API token: %s", cfg->cloudflare.api_base_url, err.msg);
    else
        report_add(r, CHECK_FAIL, "api_token",
                   "check that the Cloudflare API is reachable from here (cloudflare.api_base_url, proxies, DNS)",
                   "cannot verify the API token at %s: %s", cfg->cloudflare.api_base_url, err.msg);
    cf_client_free(client);
    return NULL;
}

static void check_targets(Report *r, const Config *cfg)
{
    bool has_token = !secret_is_empty(cfg->cloudflare.api_token);
    bool has_account = cfg->cloudflare.account_id != NULL;
    CfClient *client = NULL;
    bool token_checked = false;
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
                check_r2_target(r, cfg, t, name);
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
            if (!token_checked) {
                client = verified_client(r, cfg);
                token_checked = true;
            }
            if (client)
                check_rest_target(r, client, t, name);
            else
                report_add(r, CHECK_WARN, name, "fix the api_token check first", "remote id \"%s\" not checked: the "
                           "API token did not verify", t->remote_id);
        }
        free(name);
    }
    cf_client_free(client);
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
    CliArgs a;
    int parse_rc = cli_parse(argc, argv, &a);
    if (parse_rc)
        return parse_rc;
    bool as_json = cli_args_flag(&a, "--json");
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
            check_failover_slot(&r, cfg, &facts);
            check_ddl_capture(&r, conn);
            check_mappings(&r, cfg, facts.publication_exists);
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

/*
 * config/config.h - the validated, immutable wal2edge configuration.
 *
 * Owns:     the meaning of every key of wal2edge.jsonc (PRODUCT.md, "The
 *           interface"), defaults, validation with file:line:col errors,
 *           ${VAR} expansion, resolving paths and mapping globs relative to
 *           the config file, and the redacted dump.
 * Not mine: JSONC syntax (config/jsonc), the mapping files' contents.
 * Pure:     apart from reading the one file, globbing the mapping patterns and
 *           reading the environment through an injectable lookup.
 * Secrets:  source.dsn, cloudflare.api_token and r2.*.secret_access_key are
 *           held as Secret and registered with the log redactor at load.
 */
#ifndef WAL2EDGE_CONFIG_CONFIG_H
#define WAL2EDGE_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/envsubst.h"
#include "core/err.h"
#include "core/secret.h"

#define CONFIG_DEFAULT_API_BASE_URL "https://api.cloudflare.com/client/v4"
#define CONFIG_DEFAULT_STATE_DIR ".wal2edge"
#define CONFIG_DEFAULT_PUBLICATION "wal2edge"
#define CONFIG_DEFAULT_SLOT "wal2edge"
#define CONFIG_DEFAULT_HEARTBEAT_MS 10000
#define CONFIG_DEFAULT_MAX_RETAINED_WAL (10LL * 1024 * 1024 * 1024)   /* 10 GiB */
#define CONFIG_DEFAULT_FLUSH_INTERVAL_MS 200
#define CONFIG_DEFAULT_STATUS_INTERVAL_MS 10000
#define CONFIG_DEFAULT_FENCE_INTERVAL_MS 5000
#define CONFIG_DEFAULT_RESYNC_CHUNK_ROWS 1000
#define CONFIG_DEFAULT_READY_MAX_LAG_S 60
#define CONFIG_MAX_FILE_BYTES (4 * 1024 * 1024)

typedef enum { TARGET_D1, TARGET_KV, TARGET_QUEUE, TARGET_R2 } TargetKind;

/* One named target of the config: d1.app, kv.cache, queues.changes, r2.lake. */
typedef struct ConfigTarget {
    TargetKind kind;
    char *name;
    char *remote_id;           /* database_id / namespace_id / queue_id / bucket; NULL → embedded */
    char *embedded_path;       /* where the embedded default lives (always set) */
    /* D1 only */
    char *migrations_dir;      /* each schema change it follows is also written here as a migration; NULL: not */
    /* R2 only */
    char *endpoint;            /* NULL → https://ACCOUNT_ID.r2.cloudflarestorage.com */
    char *access_key_id;
    Secret *secret_access_key;
    int line, col;             /* where the target is declared */
} ConfigTarget;

typedef struct Config {
    char *path;                /* as given */
    char *dir;                 /* directory of the config file; relative paths resolve here */
    struct {
        Secret *dsn;
        char *publication;
        char *slot;
        int failover_slot;               /* -1 unset (a failover slot where the server has them, 17+), 0 false, 1 true */
        int heartbeat_interval_ms;       /* a logical message when the stream is quiet this long; 0: never */
        int64_t max_retained_wal_bytes;  /* the WAL guard: warn and fail readiness above (default 10 GiB) */
    } source;
    char *state_dir;           /* absolute or relative to the working directory, resolved */
    struct {
        char *account_id;      /* NULL when unset */
        Secret *api_token;     /* NULL when unset */
        char *api_base_url;
    } cloudflare;
    struct {
        int flush_interval_ms;     /* "run": {"flush_interval_ms"}: max delay before targets flush (default 200) */
        int status_interval_ms;    /* standby status update period (default 10000) */
        int fence_interval_ms;     /* a REST target's checkpoint-only move, at most this often (default 5000) */
        int resync_chunk_rows;     /* rows per chunk of the copies run makes itself (default 1000) */
    } run;
    struct {
        char *listen;              /* "metrics": {"listen": "HOST:PORT"}: the HTTP endpoint; NULL: none */
        int ready_max_lag_seconds; /* /readyz fails above this replication lag (default 60) */
    } metrics;
    char *changelog_path;      /* "changelog": {"path": ...}: an NDJSON change log target; NULL if none */
    ConfigTarget *targets;
    size_t target_count;
    char **mapping_patterns;
    size_t mapping_pattern_count;
    char **mapping_files;      /* resolved, sorted, unique */
    size_t mapping_file_count;
    char **warnings;           /* non-fatal findings, already prefixed with file:line:col */
    size_t warning_count;
} Config;

/* Load, expand and validate. Returns an owned Config or NULL with *err (ERR_CONFIG, or ERR_IO). */
Config *config_load(const char *path, EnvLookup lookup, void *lookup_user, Err *err) WARN_UNUSED;
/* Same, from text already in memory (tests); `path` names it in messages and anchors relative paths. */
Config *config_parse(const char *text, size_t len, const char *path, EnvLookup lookup,
                     void *lookup_user, Err *err) WARN_UNUSED;
void config_free(Config *cfg);

const char *target_kind_name(TargetKind kind);   /* "d1", "kv", "queues", "r2" */
const ConfigTarget *config_target(const Config *cfg, TargetKind kind, const char *name);
/* Owned: an r2 target's S3 endpoint, its own or https://ACCOUNT_ID.r2.cloudflarestorage.com. */
char *config_r2_endpoint(const Config *cfg, const ConfigTarget *t);
bool target_is_embedded(const ConfigTarget *t);

/* Owned JSON text of the resolved config with every secret shown as "[redacted]". */
char *config_dump_json(const Config *cfg);

#endif

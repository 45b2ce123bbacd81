# The Cloudflare side of wal2edge: D1 databases, the KV namespace, the change queue and its
# dead-letter queue, the R2 bucket, the reference queue consumer Worker, an optional Hyperdrive
# config for the origin, and the bridge's own least-privilege token (token.tf).
# Written for the Cloudflare provider v5: nested settings are attributes (`x = { ... }`), never
# v4 blocks; scripts/check-terraform.mjs checks every name against the provider's 5.14 schema.

locals {
  consumer_script = coalesce(var.consumer_script_path, "${path.module}/../../../workers/queue-consumer/src/index.mjs")
}

resource "cloudflare_d1_database" "db" {
  for_each              = toset(var.d1_databases)
  account_id            = var.account_id
  name                  = "${var.name_prefix}-${each.key}"
  primary_location_hint = var.d1_location_hint
}

resource "cloudflare_workers_kv_namespace" "cache" {
  account_id = var.account_id
  title      = "${var.name_prefix}-cache"
}

resource "cloudflare_queue" "changes" {
  account_id = var.account_id
  queue_name = "${var.name_prefix}-changes"
}

# messages the consumer failed max_retries times land here instead of being dropped
resource "cloudflare_queue" "changes_dlq" {
  account_id = var.account_id
  queue_name = "${var.name_prefix}-changes-dlq"
}

resource "cloudflare_r2_bucket" "lake" {
  account_id = var.account_id
  name       = "${var.name_prefix}-lake"
  location   = var.r2_location
}

resource "cloudflare_workers_script" "consumer" {
  count              = var.deploy_consumer ? 1 : 0
  account_id         = var.account_id
  script_name        = "${var.name_prefix}-queue-consumer"
  content_file       = local.consumer_script
  content_sha256     = filesha256(local.consumer_script)
  main_module        = "index.mjs"
  compatibility_date = "2025-04-01"
  bindings = [
    { name = "DB", type = "d1", id = try(cloudflare_d1_database.db[var.consumer_d1_database].id, null) },
    { name = "CLAIMS", type = "r2_bucket", bucket_name = cloudflare_r2_bucket.lake.name },
    { name = "TABLE_MAP", type = "plain_text", text = jsonencode(var.consumer_table_map) },
  ]
  lifecycle {
    precondition {
      condition     = contains(var.d1_databases, var.consumer_d1_database)
      error_message = "consumer_d1_database must be one of d1_databases."
    }
  }
}

resource "cloudflare_queue_consumer" "changes" {
  count             = var.deploy_consumer ? 1 : 0
  account_id        = var.account_id
  queue_id          = cloudflare_queue.changes.queue_id
  type              = "worker"
  script_name       = cloudflare_workers_script.consumer[0].script_name
  dead_letter_queue = cloudflare_queue.changes_dlq.queue_name
  settings = {
    batch_size       = var.consumer_settings.batch_size
    max_retries      = var.consumer_settings.max_retries
    max_wait_time_ms = var.consumer_settings.max_wait_time_ms
    retry_delay      = var.consumer_settings.retry_delay
  }
}

resource "cloudflare_hyperdrive_config" "origin" {
  count      = var.hyperdrive == null ? 0 : 1
  account_id = var.account_id
  name       = "${var.name_prefix}-origin"
  origin = {
    scheme   = var.hyperdrive.scheme
    host     = var.hyperdrive.host
    port     = var.hyperdrive.port
    database = var.hyperdrive.database
    user     = var.hyperdrive.user
    password = var.hyperdrive_password
  }
  # read-your-writes: a Worker that just wrote through Hyperdrive must read the origin, not a cache
  caching = {
    disabled = true
  }
  lifecycle {
    precondition {
      condition     = var.hyperdrive_password != null
      error_message = "hyperdrive is set but hyperdrive_password is not (TF_VAR_hyperdrive_password)."
    }
  }
}

# The demo shop Worker (workers/shop): it imports postgres.js, so it is deployed as wrangler's
# bundle (`npm run build:shop` writes workers/shop/dist/index.js); products from KV, orders from
# D1, new orders through the Hyperdrive config above (docs/workers.md).
resource "cloudflare_workers_script" "shop" {
  count               = var.shop_script_path == null ? 0 : 1
  account_id          = var.account_id
  script_name         = "${var.name_prefix}-shop"
  content_file        = var.shop_script_path
  content_sha256      = filesha256(var.shop_script_path)
  main_module         = "index.js"
  compatibility_date  = "2025-04-01"
  compatibility_flags = ["nodejs_compat"]
  bindings = [
    { name = "DB", type = "d1", id = try(cloudflare_d1_database.db[var.shop_d1_database].id, null) },
    { name = "CACHE", type = "kv_namespace", namespace_id = cloudflare_workers_kv_namespace.cache.id },
    { name = "HYPERDRIVE", type = "hyperdrive", id = one(cloudflare_hyperdrive_config.origin[*].id) },
    { name = "SHOP_METRICS", type = "analytics_engine", dataset = var.shop_dataset },
    { name = "WAL2EDGE_SLOT", type = "plain_text", text = var.shop_slot },
    { name = "WAIT_TIMEOUT_MS", type = "plain_text", text = tostring(var.shop_wait_timeout_ms) },
  ]
  lifecycle {
    precondition {
      condition     = var.hyperdrive != null && contains(var.d1_databases, var.shop_d1_database)
      error_message = "the shop needs hyperdrive set (it writes orders through it) and shop_d1_database one of d1_databases."
    }
  }
}

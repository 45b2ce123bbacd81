output "d1_database_ids" {
  description = "D1 database ids by wal2edge target name (d1.NAME.database_id)."
  value       = { for n, db in cloudflare_d1_database.db : n => db.id }
}

output "kv_namespace_id" {
  description = "The KV namespace id (kv.cache.namespace_id)."
  value       = cloudflare_workers_kv_namespace.cache.id
}

output "queue_id" {
  description = "The change queue's id (queues.changes.queue_id)."
  value       = cloudflare_queue.changes.queue_id
}

output "queue_name" {
  description = "The change queue's name (the consumer's wrangler.jsonc)."
  value       = cloudflare_queue.changes.queue_name
}

output "dead_letter_queue_name" {
  description = "Where the consumer's failed messages go."
  value       = cloudflare_queue.changes_dlq.queue_name
}

output "r2_bucket" {
  description = "The R2 bucket (r2.lake.bucket)."
  value       = cloudflare_r2_bucket.lake.name
}

output "hyperdrive_id" {
  description = "The Hyperdrive config's id (a Worker's hyperdrive binding), or null."
  value       = one(cloudflare_hyperdrive_config.origin[*].id)
}

output "consumer_script_name" {
  description = "The consumer Worker's name, or null."
  value       = one(cloudflare_workers_script.consumer[*].script_name)
}

output "token_id" {
  description = "The bridge token's id; also the R2 access key id."
  value       = local.token_id
}

output "api_token" {
  description = "The bridge token. Only reliably known in the apply that creates it (provider issue): write the env file then."
  value       = local.token_value
  sensitive   = true
}

# R2's S3 credentials derived from an API token, as Cloudflare documents: the access key id is the
# token's id, the secret access key the SHA-256 of its value.
output "r2_access_key_id" {
  description = "R2 S3 access key id (= token_id)."
  value       = local.token_id
}

output "r2_secret_access_key" {
  description = "R2 S3 secret access key (SHA-256 of the token's value)."
  value       = local.token_value == null ? null : sha256(local.token_value)
  sensitive   = true
}

output "wal2edge_env" {
  description = "The env file for wal2edge (systemd EnvironmentFile=, docker --env-file); add DATABASE_URL. `terraform output -raw wal2edge_env`."
  sensitive   = true
  value = join("", concat([
    "# written by terraform (terraform/modules/wal2edge); add DATABASE_URL=\n",
    "CLOUDFLARE_ACCOUNT_ID=${var.account_id}\n",
    "CLOUDFLARE_API_TOKEN=${local.token_value == null ? "" : local.token_value}\n",
    "D1_DATABASE_ID=${cloudflare_d1_database.db[var.d1_databases[0]].id}\n",
    ], [for n in var.d1_databases : "D1_DATABASE_ID_${upper(replace(n, "-", "_"))}=${cloudflare_d1_database.db[n].id}\n"], [
    "KV_NAMESPACE_ID=${cloudflare_workers_kv_namespace.cache.id}\n",
    "QUEUE_ID=${cloudflare_queue.changes.queue_id}\n",
    "R2_BUCKET=${cloudflare_r2_bucket.lake.name}\n",
    "R2_ACCESS_KEY_ID=${local.token_id}\n",
    "R2_SECRET_ACCESS_KEY=${local.token_value == null ? "" : sha256(local.token_value)}\n",
  ]))
}

# A wrangler config that names every D1 database by its id, for `wrangler d1 migrations apply`
# (docs/deploy.md): write it at the repository's top, where migrations/ is.
output "wrangler_d1_config" {
  description = "wrangler.jsonc for the D1 migrations: `terraform output -raw wrangler_d1_config > wrangler.d1.jsonc`."
  value = jsonencode({
    name               = "${var.name_prefix}-migrations"
    compatibility_date = "2025-04-01"
    d1_databases = [for n in var.d1_databases : {
      binding        = upper(replace(n, "-", "_"))
      database_name  = cloudflare_d1_database.db[n].name
      database_id    = cloudflare_d1_database.db[n].id
      migrations_dir = length(var.d1_databases) == 1 ? "migrations" : "migrations/${n}"
    }]
  })
}

output "shop_script_name" {
  description = "The demo shop Worker's name, or null."
  value       = one(cloudflare_workers_script.shop[*].script_name)
}

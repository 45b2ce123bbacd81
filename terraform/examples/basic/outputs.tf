output "d1_database_ids" {
  value = module.wal2edge.d1_database_ids
}

output "kv_namespace_id" {
  value = module.wal2edge.kv_namespace_id
}

output "queue_id" {
  value = module.wal2edge.queue_id
}

output "r2_bucket" {
  value = module.wal2edge.r2_bucket
}

output "hyperdrive_id" {
  value = module.wal2edge.hyperdrive_id
}

output "token_id" {
  value = module.wal2edge.token_id
}

# terraform output -raw wal2edge_env > wal2edge.env   (right after the apply that creates the token)
output "wal2edge_env" {
  value     = module.wal2edge.wal2edge_env
  sensitive = true
}

# terraform output -raw wrangler_d1_config > ../../../wrangler.d1.jsonc   (then docs/deploy.md, step 4)
output "wrangler_d1_config" {
  value = module.wal2edge.wrangler_d1_config
}

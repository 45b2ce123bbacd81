# The bridge's own API token: owned by the account by default (it survives the person who ran
# terraform; token_owner = "user" makes a user-owned one with the same policies), and allowed
# only what wal2edge does: D1, Workers KV and Queues on this account (Cloudflare cannot
# scope those to one database, namespace or queue), and R2 on this one bucket only. The Read groups
# are there for `wal2edge doctor`, which reads each target's info. Permission group ids are looked
# up by name, never hard-coded: one() fails the plan if a name matches no group or several.

locals {
  account_groups = ["D1 Read", "D1 Write", "Workers KV Storage Read", "Workers KV Storage Write",
  "Queues Read", "Queues Write"]
  bucket_groups = ["Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write"]
  permission_group_ids = {
    for n in concat(local.account_groups, local.bucket_groups) :
    n => one([for g in data.cloudflare_account_api_token_permission_groups_list.all.result : g.id if g.name == n])
  }
}

data "cloudflare_account_api_token_permission_groups_list" "all" {
  account_id = var.account_id
}

locals {
  token_policies = [
    {
      effect            = "allow"
      permission_groups = [for n in local.account_groups : { id = local.permission_group_ids[n] }]
      resources         = jsonencode({ "com.cloudflare.api.account.${var.account_id}" = "*" })
    },
    {
      effect            = "allow"
      permission_groups = [for n in local.bucket_groups : { id = local.permission_group_ids[n] }]
      # jurisdiction "default": the bucket is created without one
      resources = jsonencode({ "com.cloudflare.edge.r2.bucket.${var.account_id}_default_${cloudflare_r2_bucket.lake.name}" = "*" })
    },
  ]
  token_condition = length(var.token_allowed_ips) == 0 ? null : {
    request_ip = { in = var.token_allowed_ips }
  }
  # whichever of the two was made (their object types differ: take the attributes one by one)
  token_id    = one(concat(cloudflare_account_token.bridge[*].id, cloudflare_api_token.bridge[*].id))
  token_value = one(concat(cloudflare_account_token.bridge[*].value, cloudflare_api_token.bridge[*].value))
}

resource "cloudflare_account_token" "bridge" {
  count      = var.token_owner == "account" ? 1 : 0
  account_id = var.account_id
  name       = "${var.name_prefix}-bridge"
  expires_on = var.token_expires_on
  policies   = local.token_policies
  condition  = local.token_condition
}

resource "cloudflare_api_token" "bridge" {
  count      = var.token_owner == "user" ? 1 : 0
  name       = "${var.name_prefix}-bridge"
  expires_on = var.token_expires_on
  policies   = local.token_policies
  condition  = local.token_condition
}

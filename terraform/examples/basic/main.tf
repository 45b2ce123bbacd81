# The root module a user applies: the provider, reading its (deploy) token from the environment
# (CLOUDFLARE_API_TOKEN), and the wal2edge module with the repository's demo names.
# terraform/README.md walks through it.
terraform {
  required_version = ">= 1.5"
  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = ">= 5.14, < 6"
    }
  }
}

# the deploy token comes from CLOUDFLARE_API_TOKEN; it is not the token the bridge gets
provider "cloudflare" {}

module "wal2edge" {
  source = "../../modules/wal2edge"

  account_id          = var.account_id
  name_prefix         = var.name_prefix
  d1_databases        = ["app"]
  d1_location_hint    = var.location
  r2_location         = var.location
  consumer_table_map  = { "public.users" = "users" }
  hyperdrive          = var.origin
  hyperdrive_password = var.origin_password
  token_allowed_ips   = var.bridge_ips
  token_owner         = var.bridge_token_owner
  shop_script_path    = var.shop_script_path
}

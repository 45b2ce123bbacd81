variable "account_id" {
  description = "Cloudflare account id (32 hex digits)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name; one per environment (wal2edge-staging, ...)."
  type        = string
  default     = "wal2edge"
}

variable "location" {
  description = "Location hint for the D1 primary and the R2 bucket (wnam, enam, weur, eeur, apac, oc), or null."
  type        = string
  default     = null
}

variable "origin" {
  description = "The origin Postgres for Hyperdrive ({host, port, database, user}), or null for none."
  type = object({
    host     = string
    port     = optional(number, 5432)
    database = string
    user     = string
  })
  default = null
}

variable "origin_password" {
  description = "The origin user's password: TF_VAR_origin_password, never a committed file."
  type        = string
  default     = null
  sensitive   = true
}

variable "bridge_ips" {
  description = "CIDRs the bridge's token may be used from; empty: anywhere."
  type        = list(string)
  default     = []
}

variable "bridge_token_owner" {
  description = "\"account\" (an account-owned token) or \"user\" (owned by the deploy token's user)."
  type        = string
  default     = "account"
}

variable "shop_script_path" {
  description = "The demo shop's bundle (npm run build:shop: ../../../workers/shop/dist/index.js), or null for no shop; needs origin."
  type        = string
  default     = null
}

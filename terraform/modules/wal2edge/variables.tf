variable "account_id" {
  description = "Cloudflare account id (32 hex digits): dashboard, Account home, or `wrangler whoami`."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.account_id))
    error_message = "account_id must be 32 lower-case hex digits."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (D1 databases, KV namespace, queues, bucket, Worker, token)."
  type        = string
  default     = "wal2edge"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,29}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 2-31 of a-z, 0-9 and '-', starting with a letter, not ending with '-' (R2 bucket and queue names)."
  }
}

variable "d1_databases" {
  description = "wal2edge's D1 target names (the keys of \"d1\" in wal2edge.jsonc). The first is D1_DATABASE_ID in the env file."
  type        = list(string)
  default     = ["app"]
  validation {
    condition     = length(var.d1_databases) > 0 && alltrue([for n in var.d1_databases : can(regex("^[A-Za-z0-9_-]{1,64}$", n))])
    error_message = "d1_databases: at least one name of 1-64 of A-Z a-z 0-9 _ - (wal2edge's target names)."
  }
  validation {
    condition     = length(distinct(var.d1_databases)) == length(var.d1_databases)
    error_message = "d1_databases: names must be distinct."
  }
}

variable "d1_location_hint" {
  description = "Where the primary of each D1 database is created: wnam, enam, weur, eeur, apac or oc; null lets Cloudflare choose."
  type        = string
  default     = null
  validation {
    condition     = var.d1_location_hint == null || contains(["wnam", "enam", "weur", "eeur", "apac", "oc"], coalesce(var.d1_location_hint, "-"))
    error_message = "d1_location_hint must be one of wnam, enam, weur, eeur, apac, oc (or null)."
  }
}

variable "r2_location" {
  description = "R2 bucket location hint (apac, eeur, enam, weur, wnam, oc), honoured only when the bucket is created; null lets Cloudflare choose."
  type        = string
  default     = null
  validation {
    condition     = var.r2_location == null || contains(["apac", "eeur", "enam", "weur", "wnam", "oc"], coalesce(var.r2_location, "-"))
    error_message = "r2_location must be one of apac, eeur, enam, weur, wnam, oc (lower case), or null."
  }
}

variable "deploy_consumer" {
  description = "Deploy the reference queue consumer Worker (workers/queue-consumer) on the change queue."
  type        = bool
  default     = true
}

variable "consumer_script_path" {
  description = "The consumer Worker's module; defaults to the repository's workers/queue-consumer/src/index.mjs."
  type        = string
  default     = null
}

variable "consumer_d1_database" {
  description = "Which of d1_databases the consumer applies the change events to (binding DB)."
  type        = string
  default     = "app"
}

variable "consumer_table_map" {
  description = "The consumer's TABLE_MAP: source table -> D1 table; unlisted tables keep their name."
  type        = map(string)
  default     = {}
}

variable "consumer_settings" {
  description = "Queue consumer settings (batch size, retries before the dead-letter queue, batch wait)."
  type = object({
    batch_size       = optional(number, 100)
    max_retries      = optional(number, 10)
    max_wait_time_ms = optional(number, 1000)
    retry_delay      = optional(number, 5)
  })
  default = {}
  validation {
    condition     = var.consumer_settings.batch_size >= 1 && var.consumer_settings.batch_size <= 100 && var.consumer_settings.max_retries >= 0 && var.consumer_settings.max_retries <= 100
    error_message = "consumer_settings: batch_size 1-100, max_retries 0-100 (Queues limits)."
  }
}

variable "hyperdrive" {
  description = "The origin Postgres for a Hyperdrive config (Workers reading the origin next to the replicas); null creates none. Caching is off: the read-your-writes path must see the origin."
  type = object({
    host     = string
    port     = optional(number, 5432)
    database = string
    user     = string
    scheme   = optional(string, "postgres")
  })
  default = null
  validation {
    condition     = var.hyperdrive == null || try(var.hyperdrive.port >= 1 && var.hyperdrive.port <= 65535 && contains(["postgres", "postgresql"], var.hyperdrive.scheme) && length(var.hyperdrive.host) > 0, false)
    error_message = "hyperdrive: host must be set, port 1-65535, scheme \"postgres\" or \"postgresql\"."
  }
}

variable "hyperdrive_password" {
  description = "Password of hyperdrive.user. Pass it as TF_VAR_hyperdrive_password, never in a .tfvars file that is committed."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.hyperdrive_password == null || try(length(var.hyperdrive_password) > 0, false)
    error_message = "hyperdrive_password must not be empty."
  }
}

variable "token_expires_on" {
  description = "When the bridge's token expires (RFC 3339, e.g. 2027-01-01T00:00:00Z); null: never. Rotating: docs/deploy.md."
  type        = string
  default     = null
  validation {
    condition     = var.token_expires_on == null || can(formatdate("YYYY", coalesce(var.token_expires_on, "x")))
    error_message = "token_expires_on must be an RFC 3339 timestamp such as 2027-01-01T00:00:00Z."
  }
}

variable "token_allowed_ips" {
  description = "CIDRs the bridge's token may be used from (the bridge host's egress); empty: anywhere."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.token_allowed_ips : can(cidrhost(c, 0))])
    error_message = "token_allowed_ips: each entry must be a CIDR such as 203.0.113.7/32."
  }
}

variable "token_owner" {
  description = "\"account\": an account-owned token for the bridge (survives people leaving); \"user\": owned by the deploy token's user. `wal2edge doctor` verifies either kind."
  type        = string
  default     = "account"
  validation {
    condition     = contains(["account", "user"], var.token_owner)
    error_message = "token_owner must be \"account\" or \"user\"."
  }
}

variable "shop_script_path" {
  description = "The demo shop Worker's bundle (workers/shop/dist/index.js after `npm run build:shop`); null deploys no shop."
  type        = string
  default     = null
}

variable "shop_d1_database" {
  description = "Which of d1_databases the shop reads orders from (binding DB)."
  type        = string
  default     = "app"
}

variable "shop_slot" {
  description = "wal2edge's source.slot: whose checkpoint the shop waits on (WAL2EDGE_SLOT)."
  type        = string
  default     = "wal2edge"
}

variable "shop_dataset" {
  description = "The Analytics Engine dataset of the shop's per-request data points (SHOP_METRICS)."
  type        = string
  default     = "wal2edge_shop"
}

variable "shop_wait_timeout_ms" {
  description = "How long a shop read waits for the client's token (WAIT_TIMEOUT_MS)."
  type        = number
  default     = 3000
  validation {
    condition     = var.shop_wait_timeout_ms >= 0 && var.shop_wait_timeout_ms <= 30000
    error_message = "shop_wait_timeout_ms must be 0-30000."
  }
}

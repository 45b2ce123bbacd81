terraform {
  required_version = ">= 1.5"
  required_providers {
    cloudflare = {
      source = "cloudflare/cloudflare"
      # 5.14 is the schema scripts/check-terraform.mjs checks against; v6 may rename things again
      version = ">= 5.14, < 6"
    }
  }
}

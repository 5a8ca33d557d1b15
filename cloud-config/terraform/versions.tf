terraform {
  required_version = ">= 1.3"
  # Exact versions: each schema used here was checked against the provider's source at that tag
  # (README.md; tests/packaging/terraform-schema.tsv). A range would let `terraform init` pick a
  # release whose schema nobody checked (terraform-provider-vultr 2.24.0 made tier_id required).
  required_providers {
    linode = {
      source  = "linode/linode"
      version = "3.13.0"
    }
    vultr = {
      source  = "vultr/vultr"
      version = "2.32.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.9.0"
    }
  }
}

# Credentials from the environment: LINODE_TOKEN, VULTR_API_KEY (as in the seed).
provider "linode" {}

provider "vultr" {}

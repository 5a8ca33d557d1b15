terraform {
  required_version = ">= 1.3"
  required_providers {
    linode = {
      source  = "linode/linode"
      version = "~> 2.5"
    }
    vultr = {
      source  = "vultr/vultr"
      version = "~> 2.19"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.5"
    }
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

# Credentials from the environment: LINODE_TOKEN, VULTR_API_KEY (as in the seed).
provider "linode" {}

provider "vultr" {}

# Only for storage = "vultr": the Vultr provider creates the Object Storage subscription and its
# keys but no bucket, so the bucket is made through the S3 API with those keys.
provider "aws" {
  alias                       = "vultr_s3"
  region                      = "us-east-1"
  access_key                  = try(vultr_object_storage.mesh[0].s3_access_key, "unused")
  secret_key                  = try(vultr_object_storage.mesh[0].s3_secret_key, "unused")
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {
    s3 = "https://${try(vultr_object_storage.mesh[0].s3_hostname, "unused.vultrobjects.com")}"
  }
}

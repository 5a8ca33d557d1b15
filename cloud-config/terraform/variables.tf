variable "deb_url" {
  description = "Where the nodes download clique-boot's .deb (make deb), e.g. a public object URL or a presigned URL"
  type        = string
}

variable "deb_sha256" {
  description = "sha256 of that .deb (sha256sum build-deb/clique-boot_*.deb): a node installs the download only if it matches"
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.deb_sha256))
    error_message = "deb_sha256 must be 64 lowercase hex digits (the first field of sha256sum's output)."
  }
}

variable "storage" {
  description = "Which cloud holds the mesh bucket: linode (a bucket and a key limited to it) or vultr (an Object Storage subscription)"
  type        = string
  default     = "linode"
  validation {
    condition     = contains(["linode", "vultr"], var.storage)
    error_message = "storage must be linode or vultr."
  }
}

variable "linode_region" {
  description = "Region of the Linode nodes and of the Linode bucket (the seed: ap-south)"
  type        = string
  default     = "ap-south"
}

variable "linode_type" {
  type    = string
  default = "g6-nanode-1"
}

variable "linode_image" {
  description = "A Linode image with cloud-init (Metadata) support"
  type        = string
  default     = "linode/debian12"
}

variable "root_password" {
  description = "Root password of the Linode nodes (the seed's TF_VAR_root_password)"
  type        = string
  sensitive   = true
}

variable "vultr_region" {
  description = "Region of the Vultr nodes (the seed: sgp) and of a Vultr bucket"
  type        = string
  default     = "sgp"
}

variable "vultr_storage_tier" {
  description = "Slug of the Vultr Object Storage tier for storage = vultr (vultr-cli object-storage tier list); it must be offered in vultr_region"
  type        = string
  default     = "tier_010k_5000m"
}

variable "vultr_plan" {
  type    = string
  default = "vc2-1c-1gb"
}

variable "vultr_os_id" {
  description = "Vultr OS id: 2136 is Debian 12 x64 (vultr-cli os list)"
  type        = number
  default     = 2136
}

variable "node_count" {
  description = "Nodes per cloud (the seed: 3 + 3)"
  type        = number
  default     = 3
}

variable "listen_port" {
  description = "WireGuard UDP port on every node (the seed: 51871)"
  type        = number
  default     = 51871
}

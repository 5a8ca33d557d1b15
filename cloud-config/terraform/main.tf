# The seed's fleet (3 Linode nodes in ap-south + 3 Vultr nodes in sgp) as one WireGuard mesh that
# forms itself: no Ansible, no SSH, no PSKs copied around. Each node's user_data installs
# clique-boot and writes its config; the nodes meet through one bucket.

resource "random_bytes" "mesh_key" {
  length = 32
}

resource "random_id" "bucket" {
  prefix      = "clique-mesh-"
  byte_length = 4
}

# --- the bucket on Linode Object Storage (default)

resource "linode_object_storage_bucket" "mesh" {
  count  = var.storage == "linode" ? 1 : 0
  region = var.linode_region
  label  = random_id.bucket.hex
}

resource "linode_object_storage_key" "mesh" {
  count = var.storage == "linode" ? 1 : 0
  label = "clique-mesh"
  bucket_access {
    bucket_name = linode_object_storage_bucket.mesh[0].label
    region      = linode_object_storage_bucket.mesh[0].region
    permissions = "read_write"
  }
}

# --- or on Vultr Object Storage

data "vultr_object_storage_cluster" "mesh" {
  count = var.storage == "vultr" ? 1 : 0
  filter {
    name   = "region"
    values = [var.vultr_region]
  }
  filter {
    name   = "deploy"
    values = ["yes"]
  }
}

# tier_id is required since terraform-provider-vultr 2.24.0; the tier is looked up by its slug
data "vultr_object_storage_tier" "mesh" {
  count = var.storage == "vultr" ? 1 : 0
  filter {
    name   = "slug"
    values = [var.vultr_storage_tier]
  }
}

resource "vultr_object_storage" "mesh" {
  count      = var.storage == "vultr" ? 1 : 0
  cluster_id = data.vultr_object_storage_cluster.mesh[0].id
  tier_id    = data.vultr_object_storage_tier.mesh[0].id
  label      = "clique-mesh"
}

resource "vultr_object_storage_bucket" "mesh" {
  count             = var.storage == "vultr" ? 1 : 0
  object_storage_id = vultr_object_storage.mesh[0].id
  name              = random_id.bucket.hex
}

locals {
  # Path-style endpoint without the bucket (Linode: the provider's s3_endpoint, the API's own
  # endpoint for the region, or the bucket's host name minus "<bucket>." where the API has none).
  bucket = var.storage == "linode" ? {
    endpoint   = "https://${linode_object_storage_bucket.mesh[0].s3_endpoint}"
    name       = linode_object_storage_bucket.mesh[0].label
    access_key = linode_object_storage_key.mesh[0].access_key
    secret_key = linode_object_storage_key.mesh[0].secret_key
    } : {
    endpoint   = "https://${vultr_object_storage.mesh[0].s3_hostname}"
    name       = vultr_object_storage_bucket.mesh[0].name
    access_key = vultr_object_storage.mesh[0].s3_access_key
    secret_key = vultr_object_storage.mesh[0].s3_secret_key
  }

  # user_data values shared by every node; address is per node (the seed's layout)
  clique = {
    deb_url         = var.deb_url
    deb_sha256      = var.deb_sha256
    bucket_endpoint = local.bucket.endpoint
    bucket          = local.bucket.name
    bucket_region   = "us-east-1" # SigV4 scope; Ceph RGW does not check it
    access_key      = local.bucket.access_key
    secret_key      = local.bucket.secret_key
    mesh_key        = random_bytes.mesh_key.base64
    listen_port     = var.listen_port
  }
}

# --- the nodes

resource "linode_instance" "node" {
  count      = var.node_count
  label      = "clique-linode-${count.index + 1}"
  region     = var.linode_region
  type       = var.linode_type
  image      = var.linode_image
  root_pass  = var.root_password
  private_ip = true
  booted     = true

  metadata {
    user_data = base64encode(templatefile("${path.module}/../linode.yaml",
    merge(local.clique, { address = "10.15.0.${count.index + 1}" })))
  }
}

resource "vultr_instance" "node" {
  count    = var.node_count
  label    = "clique-vultr-${count.index + 1}"
  hostname = "clique-vultr-${count.index + 1}"
  region   = var.vultr_region
  plan     = var.vultr_plan
  os_id    = var.vultr_os_id
  user_data = templatefile("${path.module}/../vultr.yaml",
  merge(local.clique, { address = "10.15.1.${count.index + 1}" }))
}

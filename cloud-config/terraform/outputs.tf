output "mesh" {
  description = "Each node's mesh address and public IPv4: ping the mesh addresses from any node"
  value = merge(
    # ipv4 holds the public and the private address (ip_address is deprecated in provider 3.x)
    { for i, n in linode_instance.node : n.label => {
      mesh_address = "10.15.0.${i + 1}"
      public_ipv4  = try(sort([for ip in n.ipv4 : ip if ip != n.private_ip_address])[0], null)
      private_ipv4 = n.private_ip_address
    } },
    { for i, n in vultr_instance.node : n.label => { mesh_address = "10.15.1.${i + 1}", public_ipv4 = n.main_ip } },
  )
}

output "bucket" {
  description = "The bucket the nodes meet in"
  value       = "${local.bucket.endpoint}/${local.bucket.name}"
}

output "mesh_key" {
  description = "The mesh key (terraform output -raw mesh_key), to add nodes made outside this configuration"
  value       = random_bytes.mesh_key.base64
  sensitive   = true
}

#!/bin/bash
# make demo: the seed's fleet (3 Linode + 3 Vultr nodes) plus a Linode VPC pair and a Vultr VPC 2.0
# pair, a DigitalOcean VPC pair, a Hetzner Cloud private-network pair and an AWS EC2 pair in one
# VPC on this machine, meshed by clique-boot alone: each node reads its own fake metadata service,
# publishes a sealed record to a real Ceph radosgw bucket over HTTPS (a test CA, fleet.sh
# S3_TLS=1), reads the others' and brings up wg0 (wireguard-go; no kernel module here).
# Prints the ping matrix and every node's peers, then removes everything it started.
set -eu
[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces)" >&2; exit 1; }
P=cbdemo
S3_TLS=${S3_TLS:-1}
BIN=$(cd "$(dirname "$0")/../.." && pwd)/build/clique-boot
. "$(dirname "$0")/fleet.sh"
NODES="$NODES $VPC_NODES $CLOUD_NODES $AWS_NODES"
N=$(echo $NODES | wc -w)
trap 'echo; echo "cleaning up (namespaces, radosgw, daemons)"; fleet_down' EXIT

echo "starting radosgw, $N namespaces and their metadata services ..."
fleet_up
for n in $NODES; do
	if run_node "$n" boot; then
		fleet_log "$(node_name "$n") ($n): $(grep -o 'wg0 .*skipped' "$ST/logs/run-$n-boot.log")"
	else
		cat "$ST/logs/run-$n-boot.log"
		exit 1
	fi
done
echo "every node runs 'clique-boot --refresh' once (the timer's job) ..."
for n in $NODES; do run_node "$n" refresh --refresh || { cat "$ST/logs/run-$n-refresh.log"; exit 1; }; done
fleet_log "mesh formed"
echo
echo "ping matrix over wg0 (10.15.0.x = Linode, 10.15.1.x = Vultr; .7 and .8 in a VPC):"
echo "(10.15.6.x = DigitalOcean, one VPC; 10.15.7.x = Hetzner, one private network;"
echo " 10.15.8.x = AWS, one VPC)"
ping_matrix && echo "all $((N * (N - 1))) ordered pairs reach each other" || echo "some pairs failed"
echo
for n in $NODES; do
	echo "$(node_name "$n") ($(mesh_ip "$n")) sees:"
	on "$n" "$BIN" --config "$ST/nodes/$n/clique.conf" --root "$ST/nodes/$n/root" --dry-run -q |
		awk '$1=="peer"{printf "  %-14s %-12s %-4s %s\n", $2, $3, $6, $7}' | sort
done
echo
echo "linode-1's /etc/systemd/network/90-clique-wg0.netdev (for reboots; keys redacted here):"
sed -E 's/^(PrivateKey|PresharedKey)=.*/\1=<redacted>/' \
	"$ST/nodes/l1/root/etc/systemd/network/90-clique-wg0.netdev" | sed -n '1,24p'
echo "  ..."

#!/bin/bash
# e2e (issues 2, 15): the seed's six-node, two-cloud fleet plus a Linode VPC pair and a Vultr
# VPC 2.0 pair (fleet.sh VPC_NODES), a DigitalOcean VPC pair and a Hetzner private-network pair
# (CLOUD_NODES) and an AWS pair in one VPC (AWS_NODES) forms a mesh by itself.
# Each node runs clique-boot once in random order, then --refresh once; then:
# every ordered pair pings over WireGuard, LAN endpoints exactly inside a shared private network
# (the Linode private LAN, each VPC), equal PSKs on both ends, only ciphertext in the bucket,
# and a second refresh that changes nothing. The bucket is radosgw over HTTPS with a test CA
# (fleet.sh S3_TLS=1; S3_TLS=0 for plain http).
# Prints "ok <check>" / "FAIL <check>"; exits non-zero on any failure.
set -eu
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 77; }
P=cbmesh$$ # per run: concurrent `make check`s in one tree must not share namespaces
S3_TLS=${S3_TLS:-1}
BIN=$(cd "$(dirname "$0")/../.." && pwd)/${BUILD:-build}/clique-boot
. "$(dirname "$0")/fleet.sh"
trap fleet_down EXIT
NODES="$NODES $VPC_NODES $CLOUD_NODES $AWS_NODES"
N=$(echo $NODES | wc -w)
PAIRS=$((N * (N - 1)))
fails=0
ok() { echo "ok $1"; }
fail() {
	echo "FAIL $1${2:+: $2}"
	fails=$((fails + 1))
}
check() { # name cmd...
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}
show_logs() { for f in "$ST"/logs/run-*"$1"*.log; do echo "--- $f"; cat "$f"; done; }

fleet_up
T_START=$EPOCHREALTIME

# --- first boot, in random order
order=$(printf '%s\n' $NODES | shuf | tr '\n' ' ')
boot_ok=1
for n in $order; do
	if ! run_node "$n" boot; then
		boot_ok=0
		show_logs "$n-boot"
	fi
done
[ $boot_ok = 1 ] && ok "first boot exits 0 on all nodes (order: $order)" || fail "first boot"
if [ "$S3_TLS" = 1 ]; then
	if grep -q "^bucket_endpoint = https://$S3_ADDR:7443" "$ST/nodes/l1/clique.conf" &&
		! grep -l 'plain http' "$ST"/logs/run-*-boot.log; then
		ok "bucket over HTTPS (https://$S3_ADDR:7443, the test CA as ca_file)"
	else
		fail "bucket over HTTPS"
	fi
fi
boot_ok=1
for n in $order; do
	run_node "$n" refresh1 --refresh || { boot_ok=0; show_logs "$n-refresh1"; }
done
[ $boot_ok = 1 ] && ok "first --refresh exits 0 on all nodes" || fail "first refresh"

# --- the metadata services were really asked, the Linode ones with the token dance
md_ok=1
for n in l1 l2 l3; do
	grep -q '^PUT /v1/token' "$ST/logs/metadata-$n.req" || md_ok=0
	grep -q '^GET /v1/network' "$ST/logs/metadata-$n.req" || md_ok=0
done
for n in v1 v2 v3; do grep -q '^GET /v1.json' "$ST/logs/metadata-$n.req" || md_ok=0; done
[ $md_ok = 1 ] && ok "metadata fetched (linode token flow, vultr v1.json)" || fail "metadata requests"
md_ok=1
for n in d1 d2; do
	grep -qx 'GET /metadata/v1.json accept=application/json status=200' "$ST/logs/metadata-$n.req" || md_ok=0
done
for n in h1 h2; do
	for k in instance-id hostname region public-ipv4 network-config private-networks; do
		grep -q "^GET /hetzner/v1/metadata/$k .*status=200$" "$ST/logs/metadata-$n.req" || md_ok=0
	done
done
[ $md_ok = 1 ] && ok "metadata fetched (digitalocean v1.json, hetzner per-key documents)" ||
	fail "digitalocean/hetzner metadata requests"
prov_ok=1
for n in $NODES; do
	grep -q "zone $(cloud_of "$n")/" "$ST/logs/run-$n-boot.log" || prov_ok=0
done
[ $prov_ok = 1 ] && ok "provider detected from DMI sys_vendor on every node" || fail "provider detection"

# --- ping matrix
if matrix=$(ping_matrix); then
	ok "$PAIRS/$PAIRS ordered pairs ping over wg0"
else
	echo "$matrix"
	fail "ping matrix"
fi
T_PINGED=$EPOCHREALTIME
echo "# fleet start to full ping matrix: $(awk -v a="$T_START" -v b="$T_PINGED" 'BEGIN{printf "%.2f s", b-a}')"

# --- endpoints: LAN inside a shared private network, WAN otherwise; PSKs equal on both ends
declare -A PUB NODE_OF
for n in $NODES; do
	PUB[$n]=$(on "$n" wg show wg0 public-key)
	NODE_OF[${PUB[$n]}]=$n
done
ep_ok=1
for n in $NODES; do
	while read -r pub ep; do
		m=${NODE_OF[$pub]:-?}
		want=$(want_endpoint "$n" "$m")
		[ "$ep" = "$want" ] || { echo "  $n sees $m at $ep, want $want"; ep_ok=0; }
		case $want in 198.51.100.*) ;; *) lan_pairs="${lan_pairs:-} $n>$m" ;; esac
	done < <(on "$n" wg show wg0 endpoints)
	[ "$(on "$n" wg show wg0 peers | wc -l)" = $((N - 1)) ] || { echo "  $n has not $((N - 1)) peers"; ep_ok=0; }
done
echo "# LAN paths:${lan_pairs:-}"
[ $ep_ok = 1 ] && ok "LAN endpoints inside the Linode LAN, Linode VPC 7001, the Vultr VPC 2.0, the DigitalOcean VPC, Hetzner network $HZ_NETWORK and the AWS VPC, WAN across" ||
	fail "endpoints"
psk_ok=1
for a in $NODES; do
	for b in $NODES; do
		[ "$a" \< "$b" ] || continue
		pa=$(on "$a" wg show wg0 preshared-keys | awk -v k="${PUB[$b]}" '$1==k{print $2}')
		pb=$(on "$b" wg show wg0 preshared-keys | awk -v k="${PUB[$a]}" '$1==k{print $2}')
		if [ -z "$pa" ] || [ "$pa" = "(none)" ] || [ "$pa" != "$pb" ]; then
			echo "  PSK $a/$b differs or missing"
			psk_ok=0
		fi
	done
done
[ $psk_ok = 1 ] && ok "both ends of all $((PAIRS / 2)) pairs hold the same non-empty PSK" || fail "PSKs"
hs_ok=1
for n in $NODES; do
	hs=$(on "$n" wg show wg0 latest-handshakes | awk '$2>0' | wc -l)
	[ "$hs" = $((N - 1)) ] || { echo "  $n: $hs/$((N - 1)) handshakes"; hs_ok=0; }
done
[ $hs_ok = 1 ] && ok "every node has $((N - 1))/$((N - 1)) handshakes" || fail "handshakes"

# --- the bucket holds only ciphertext
dump=$ST/bucket
mkdir -p "$dump"
s3cmd_fleet get --recursive "s3://$BUCKET/" "$dump/" >/dev/null
nobj=$(find "$dump" -type f | wc -l)
[ "$nobj" = "$N" ] && ok "bucket holds $N objects" || fail "bucket objects" "$nobj objects"
# Each object must be exactly {"v":1,"nonce","box"}; no plaintext needle may appear in the
# object text (needles of 8+ chars: shorter ones occur in random base64 by chance) nor in the
# decoded nonce/box bytes (any length: chance there is ~2^-24 per position).
needles=""
for n in $NODES; do
	needles="$needles ${PUB[$n]} $(mesh_ip "$n") $(wan_ip "$n") $(node_name "$n") $(lan_ip "$n") $(vpc_ip "$n")"
done
needles="$needles digitalocean hetzner fra1 eu-central subnet-10.110.0.0-20 $HZ_NETWORK"
if leak=$($PY - "$dump" $needles linode vultr ap-south sgp 51871 <<'EOF'
import base64, json, os, sys
root, needles = sys.argv[1], sys.argv[2:]
bad = []
for dirpath, _, files in os.walk(root):
    for f in files:
        path = os.path.join(dirpath, f)
        text = open(path, "rb").read()
        d = json.loads(text)
        if set(d) != {"v", "nonce", "box"} or d["v"] != 1:
            bad.append(f"{f}: fields {sorted(d)}")
            continue
        raw = base64.b64decode(d["nonce"]) + base64.b64decode(d["box"])
        for n in needles:
            b = n.encode()
            if (len(b) >= 8 and b in text) or b in raw:
                bad.append(f"{f}: {n}")
            if len(n) == 44 and n.endswith("=") and base64.b64decode(n) in raw:
                bad.append(f"{f}: raw key of {n}")
print(" ".join(bad))
sys.exit(1 if bad else 0)
EOF
); then
	leak=""
fi
names=$(find "$dump" -type f -printf '%P\n' | grep -cvE '^clique/nodes/[0-9a-f]{32}$' || true)
[ -z "$leak" ] && [ "$names" = 0 ] && ok "objects are {v,nonce,box} only; no key, IP, name or region in any object or name" ||
	fail "bucket plaintext" "leaked: $leak; non-opaque names: $names"

# --- units for reboots: modes and content
unit_ok=1
for n in $NODES; do
	for ext in netdev network; do
		f=$ST/nodes/$n/root/etc/systemd/network/90-clique-wg0.$ext
		[ "$(stat -c %a "$f" 2>/dev/null)" = 640 ] || { echo "  $f mode"; unit_ok=0; }
	done
	[ "$(grep -c '^\[WireGuardPeer\]' "$ST/nodes/$n/root/etc/systemd/network/90-clique-wg0.netdev")" = $((N - 1)) ] || unit_ok=0
	[ "$(stat -c %a "$ST/nodes/$n/root/var/lib/clique-boot/private.key")" = 600 ] || unit_ok=0
done
[ $unit_ok = 1 ] && ok "networkd units 0640 with $((N - 1)) peers, private key 0600" || fail "units"

# --- a second refresh changes nothing: no file rewritten, no request but one LIST, no set
declare -A STAMP
for n in $NODES; do
	STAMP[$n]=$(stat -c '%i %Y.%y' "$ST"/nodes/"$n"/root/etc/systemd/network/* "$ST/nodes/$n/root/var/lib/clique-boot/state.json" | md5sum)
done
noop_ok=1
for n in $NODES; do
	run_node "$n" refresh2 --refresh || { noop_ok=0; show_logs "$n-refresh2"; }
	grep -q 'summary: .* list=1 get=0 put=0 retries=0 units_written=0 wg_set=0 link_changed=0 bucket=ok' \
		"$ST/logs/run-$n-refresh2.log" || { noop_ok=0; show_logs "$n-refresh2"; }
	[ "${STAMP[$n]}" = "$(stat -c '%i %Y.%y' "$ST"/nodes/"$n"/root/etc/systemd/network/* "$ST/nodes/$n/root/var/lib/clique-boot/state.json" | md5sum)" ] ||
		{ echo "  $n: a file changed"; noop_ok=0; }
done
[ $noop_ok = 1 ] && ok "second --refresh: 1 LIST, 0 GET/PUT, no file rewritten, no set sent" ||
	fail "no-op refresh"

# --- dry-run --json tells the desired state, and where each address and the zone came from
# (issue 15), and changes nothing
dry_ok=1
for n in l1 l8 v8; do
	on "$n" "$BIN" --config "$ST/nodes/$n/clique.conf" --root "$ST/nodes/$n/root" --dry-run --json \
		>"$ST/logs/dry-$n.json" 2>"$ST/logs/dry-$n.err" || { cat "$ST/logs/dry-$n.err"; dry_ok=0; }
	want=""
	for m in $NODES; do [ "$m" = "$n" ] || want="$want $(node_name "$m")=$(want_endpoint "$n" "$m")"; done
	$PY - "$ST/logs/dry-$n.json" "$n" "$(mesh_ip "$n")" $want <<'EOF' || dry_ok=0
import json, sys
d = json.load(open(sys.argv[1]))
node, addr, want = sys.argv[2], sys.argv[3], dict(w.split("=") for w in sys.argv[4:])
s = d["self"]
origin = {
    "l1": {"zone": "linode/ap-south", "wan": "/v1/network ipv4.public[0]",
           "lan": "/v1/network ipv4.private[0]", "wan6": "/v1/network ipv6.slaac",
           "region": "/v1/instance region", "private_net": "",
           "zone_from": "provider + /v1/instance region"},
    "l8": {"zone": "linode/ap-south/vpc-7001",
           "wan": "/v1/network interfaces[0].vpc.subnet.ipv4.nat_1_1",
           "lan": "/v1/network interfaces[0].vpc.subnet.ipv4.instance_address", "wan6": "",
           "region": "/v1/instance region", "private_net": "/v1/network interfaces[0].vpc.id",
           "zone_from": "provider + /v1/instance region + /v1/network interfaces[0].vpc.id"},
    "v8": {"zone": "vultr/sgp/5c2e4d9a-1b7f-4e0a-9c3d-2f6a8b1e7d40",
           "wan": "/v1.json interfaces[0].ipv4.address",
           "lan": "/v1.json cloud_interfaces.config[2].subnets[0].address", "wan6": "",
           "region": "/v1.json region.regioncode",
           "private_net": "/v1.json interfaces[1].network-v2-id",
           "zone_from": "provider + /v1.json region.regioncode + /v1.json interfaces[1].network-v2-id"},
}[node]
assert s["address"] == addr and s["zone"] == origin["zone"], s
o = s["origin"]
for k in ("wan", "lan", "wan6", "region", "private_net"):
    assert o[k] == origin[k], (k, o[k], origin[k])
assert o["zone"] == origin["zone_from"], o
assert len(d["peers"]) == len(want), len(d["peers"])
for p in d["peers"]:
    assert p["endpoint"] == want[p["name"]], (p, want[p["name"]])
    assert p["path"] == ("wan" if p["endpoint"].startswith("198.51.100.") else "lan"), p
    assert p["allowed_ips"][0].startswith("10.15."), p
EOF
done
[ $dry_ok = 1 ] && ok "--dry-run --json on l1, l8, v8: self with the origin of each address and the zone, every peer's path and endpoint" ||
	fail "dry-run json"

# --- the same for a Droplet and a Hetzner server: the zone keys their documents give
dry_ok=1
for n in d2 h1; do
	on "$n" "$BIN" --config "$ST/nodes/$n/clique.conf" --root "$ST/nodes/$n/root" --dry-run --json \
		>"$ST/logs/dry-$n.json" 2>"$ST/logs/dry-$n.err" || { cat "$ST/logs/dry-$n.err"; dry_ok=0; }
	$PY - "$ST/logs/dry-$n.json" "$n" "$(mesh_ip "$n")" "$(want_endpoint "$n" "${n:0:1}$((3 - ${n:1}))")" <<'EOF' || dry_ok=0
import json, sys
d = json.load(open(sys.argv[1]))
node, addr, lan_peer = sys.argv[2], sys.argv[3], sys.argv[4]
doc = "/metadata/v1.json interfaces."
hz = "/hetzner/v1/metadata"
want = {
    "d2": {"zone": "digitalocean/fra1/subnet-10.110.0.0-20",
           "wan": doc + "public[0].ipv4.ip_address", "lan": doc + "private[0].ipv4.ip_address",
           "wan6": doc + "public[0].ipv6.ip_address", "region": "/metadata/v1.json region",
           "private_net": doc + "private[0].ipv4 (subnet)"},
    "h1": {"zone": "hetzner/eu-central/4124728", "wan": hz + " public-ipv4",
           "lan": hz + "/private-networks [0].ip",
           "wan6": hz + "/network-config config[0].subnets[1].address",
           "region": hz + " region", "private_net": hz + "/private-networks [0].network_id"},
}[node]
s = d["self"]
assert s["address"] == addr and s["zone"] == want["zone"], s
for k in ("wan", "lan", "wan6", "region", "private_net"):
    assert s["origin"][k] == want[k], (k, s["origin"][k], want[k])
lan = [p for p in d["peers"] if p["path"] == "lan"]
assert [p["endpoint"] for p in lan] == [lan_peer], lan
EOF
done
[ $dry_ok = 1 ] && ok "--dry-run --json on d2, h1: zone keyed by the VPC subnet / network_id, the origin of each address, one LAN peer" ||
	fail "dry-run json (digitalocean, hetzner)"

# --- AWS (issue 15): IMDSv2 as the real service wants it, and what a1 took from it
aws_ok=1
for n in $AWS_NODES; do
	log=$(grep -v '^listening' "$ST/logs/metadata-$n.req")
	echo "$log" | grep -q '^PUT /latest/api/token ttl=300 .*status=200$' || aws_ok=0
	[ "$(echo "$log" | grep -c '^GET /latest/meta-data/.* token=valid .*status=200$')" -ge 8 ] || aws_ok=0
	# every GET of clique-boot carried a valid token (fleet.sh's readiness probe asks "GET /")
	! echo "$log" | grep -q '^GET /latest/.*token=\(absent\|invalid\|expired\)' || aws_ok=0
done
[ $aws_ok = 1 ] && ok "aws nodes: IMDSv2 token PUT (TTL 300), every GET with a valid token" ||
	fail "aws IMDSv2 requests"
want=""
for m in $NODES; do [ "$m" = a1 ] || want="$want $(node_name "$m")=$(want_endpoint a1 "$m")"; done
if on a1 "$BIN" --config "$ST/nodes/a1/clique.conf" --root "$ST/nodes/a1/root" --dry-run --json \
	>"$ST/logs/dry-a1.json" 2>"$ST/logs/dry-a1.err" &&
	$PY - "$ST/logs/dry-a1.json" "$AWS_VPC" "$(aws_mac a1)" $want <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
vpc, mac, want = sys.argv[2], sys.argv[3], dict(w.split("=") for w in sys.argv[4:])
s, md = d["self"], "IMDS /latest/meta-data/"
assert s["name"] == "aws-1" and s["zone"] == "aws/eu-west-1/" + vpc, s
o = s["origin"]
assert o["region"] == md + "placement/region", o
assert o["private_net"] == md + f"network/interfaces/macs/{mac}/vpc-id", o
assert o["lan"] == md + "local-ipv4" and o["wan"] == md + "public-ipv4" and o["wan6"] == "", o
assert o["zone"] == f"provider + {o['region']} + {o['private_net']}", o
assert len(d["peers"]) == len(want)
for p in d["peers"]:
    assert p["endpoint"] == want[p["name"]], (p, want[p["name"]])
EOF
	ok "--dry-run --json on a1: zone aws/eu-west-1/<vpc-id>, each address and the zone traced to its IMDS path, aws-2 over the VPC"
else
	cat "$ST/logs/dry-a1.err"
	fail "aws dry-run json"
fi

echo "# $fails failed checks"
[ $fails = 0 ]

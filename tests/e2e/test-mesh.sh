#!/bin/bash
# e2e (issue 2): the seed's six-node, two-cloud fleet forms a mesh by itself.
# Each node runs clique-boot once in random order, then --refresh once; then:
# 30/30 pings over WireGuard, LAN endpoints only between the linode nodes, equal PSKs on both
# ends, only ciphertext in the bucket, and a second refresh that changes nothing.
# Prints "ok <check>" / "FAIL <check>"; exits non-zero on any failure.
set -eu
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 77; }
P=cbmesh
BIN=$(cd "$(dirname "$0")/../.." && pwd)/${BUILD:-build}/clique-boot
. "$(dirname "$0")/fleet.sh"
trap fleet_down EXIT
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
prov_ok=1
for n in $NODES; do
	grep -q "zone $(cloud_of "$n")/" "$ST/logs/run-$n-boot.log" || prov_ok=0
done
[ $prov_ok = 1 ] && ok "provider detected from DMI sys_vendor on every node" || fail "provider detection"

# --- ping matrix
if matrix=$(ping_matrix); then
	ok "30/30 ordered pairs ping over wg0"
else
	echo "$matrix"
	fail "ping matrix"
fi
T_PINGED=$EPOCHREALTIME
echo "# fleet start to full ping matrix: $(awk -v a="$T_START" -v b="$T_PINGED" 'BEGIN{printf "%.2f s", b-a}')"

# --- endpoints: LAN only linode<->linode, WAN otherwise; PSKs equal on both ends
declare -A PUB NODE_OF
for n in $NODES; do
	PUB[$n]=$(on "$n" wg show wg0 public-key)
	NODE_OF[${PUB[$n]}]=$n
done
ep_ok=1
for n in $NODES; do
	while read -r pub ep; do
		m=${NODE_OF[$pub]:-?}
		if [ "$(cloud_of "$n")" = linode ] && [ "$(cloud_of "$m")" = linode ]; then
			want=$(lan_ip "$m"):51871
		else
			want=$(wan_ip "$m"):51871
		fi
		[ "$ep" = "$want" ] || { echo "  $n sees $m at $ep, want $want"; ep_ok=0; }
	done < <(on "$n" wg show wg0 endpoints)
	[ "$(on "$n" wg show wg0 peers | wc -l)" = 5 ] || { echo "  $n has not 5 peers"; ep_ok=0; }
done
[ $ep_ok = 1 ] && ok "linode<->linode pairs use LAN endpoints, all others WAN" || fail "endpoints"
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
[ $psk_ok = 1 ] && ok "both ends of all 15 pairs hold the same non-empty PSK" || fail "PSKs"
hs_ok=1
for n in $NODES; do
	hs=$(on "$n" wg show wg0 latest-handshakes | awk '$2>0' | wc -l)
	[ "$hs" = 5 ] || { echo "  $n: $hs/5 handshakes"; hs_ok=0; }
done
[ $hs_ok = 1 ] && ok "every node has 5/5 handshakes" || fail "handshakes"

# --- the bucket holds only ciphertext
dump=$ST/bucket
mkdir -p "$dump"
s3cmd_fleet get --recursive "s3://$BUCKET/" "$dump/" >/dev/null
nobj=$(find "$dump" -type f | wc -l)
[ "$nobj" = 6 ] && ok "bucket holds 6 objects" || fail "bucket objects" "$nobj objects"
# Each object must be exactly {"v":1,"nonce","box"}; no plaintext needle may appear in the
# object text (needles of 8+ chars: shorter ones occur in random base64 by chance) nor in the
# decoded nonce/box bytes (any length: chance there is ~2^-24 per position).
needles=""
for n in $NODES; do
	needles="$needles ${PUB[$n]} $(mesh_ip "$n") $(wan_ip "$n") $(node_name "$n") $(lan_ip "$n")"
done
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
	[ "$(grep -c '^\[WireGuardPeer\]' "$ST/nodes/$n/root/etc/systemd/network/90-clique-wg0.netdev")" = 5 ] || unit_ok=0
	[ "$(stat -c %a "$ST/nodes/$n/root/var/lib/clique-boot/private.key")" = 600 ] || unit_ok=0
done
[ $unit_ok = 1 ] && ok "networkd units 0640 with 5 peers, private key 0600" || fail "units"

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

# --- dry-run --json tells the desired state and changes nothing
if on l1 "$BIN" --config "$ST/nodes/l1/clique.conf" --root "$ST/nodes/l1/root" --dry-run --json \
	>"$ST/logs/dry.json" 2>"$ST/logs/dry.err" &&
	$PY - "$ST/logs/dry.json" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
assert d["self"]["address"] == "10.15.0.1" and d["self"]["zone"] == "linode/ap-south", d["self"]
assert len(d["peers"]) == 5
for p in d["peers"]:
    lan = p["name"].startswith("linode-")
    assert p["path"] == ("lan" if lan else "wan"), p
    assert p["endpoint"].startswith("192.168.131." if lan else "198.51.100."), p
    assert p["allowed_ips"][0].startswith("10.15."), p
EOF
	ok "--dry-run --json shows self and 5 peers with paths and endpoints"
else
	cat "$ST/logs/dry.err"
	fail "dry-run json"
fi

echo "# $fails failed checks"
[ $fails = 0 ]

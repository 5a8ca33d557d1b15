#!/bin/bash
# e2e (issue 5): a bucket others can write (shared/DESIGN.md 4). Hostile records -- forged,
# replayed under another name, older seq, oversized, truncated, wrong types, duplicate or our own
# key, our address, outside the network, injection attempts in names -- are each skipped with
# one warning naming the object, the rest of the mesh comes up, and no unit file carries any
# injected content. Then hostile metadata documents over real HTTP (malformed, or without a
# usable address; Vultr JSON, Hetzner YAML, AWS IMDSv2 values): refused with exit 69, nothing
# written. Prints "ok <check>" / "FAIL <check>"; 77 = skipped (not root).
set -u
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (network namespaces)"; exit 77; }
P=cbho$$ # unique: concurrent make check runs share this tree
. "$(dirname "$0")/faults.sh"
NODES="l1 l2 v1"
FORGE=$TOP/${BUILD:-build}/tools/record-forge
[ -x "$FORGE" ] || { echo "FAIL $FORGE missing (make unit-bins)"; exit 1; }
trap fleet_down EXIT
fleet_up >/dev/null || { echo "FAIL fleet_up"; exit 1; }
faults_up || { echo "FAIL s3-proxy"; exit 1; }

for n in $NODES; do run_node "$n" boot || { fail "boot $n"; show_log "$ST/logs/run-$n-boot.log"; }; done
for n in $NODES; do run_node "$n" r1 --refresh || fail "refresh $n"; done
[ "$(peers_of l1)" = 2 ] && ok "three-node mesh up before the attack" || fail "mesh before attack"

KEYF=$ST/nodes/l1/mesh_key
H=$ST/hostile
mkdir -p "$H"
self_object() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["self"]["object"])' "$(node_state "$1")/state.json"; }
L1_OBJ=$(self_object l1)
L2_OBJ=$(self_object l2)
s3cmd_fleet get --force "s3://$BUCKET/$L2_OBJ" "$H/l2.sealed"
"$FORGE" "$KEYF" open "$L2_OBJ" <"$H/l2.sealed" >"$H/l2.json" || fail "record-forge open"
L1_PUB=$(on l1 wg show wg0 public-key)
L2_PUB=$(on l2 wg show wg0 public-key)
V1_PUB=$(on v1 wg show wg0 public-key)
V1_OBJ=$(self_object v1)

# mutate CASE EXPR: l2's payload changed by a python expression over dict r, fresh key unless kept
mutate() {
	$PY - "$H/l2.json" "$2" <<'EOF'
import base64, json, os, sys
r = json.load(open(sys.argv[1]))
r["public_key"] = base64.b64encode(os.urandom(32)).decode()
exec(sys.argv[2])
sys.stdout.write(r if isinstance(r, str) else json.dumps(r))
EOF
}
# put_case CASE OBJECT FILE: uploads and remembers which object carries which case
declare -A CASE_OF
put_case() {
	s3cmd_fleet put "$3" "s3://$BUCKET/$2" || fail "upload $1"
	CASE_OF[$2]=$1
}
new_object() { "$FORGE" "$KEYF" name hostile "$1"; }
seal_case() { # CASE EXPR: a fresh object with an authentic envelope around the mutated payload
	local obj
	obj=$(new_object "$1")
	mutate "$1" "$2" | "$FORGE" "$KEYF" seal "$obj" >"$H/$1" || fail "seal $1"
	put_case "$1" "$obj" "$H/$1"
}

# forged: a well-formed record sealed with another mesh key
head -c 32 /dev/urandom | base64 >"$H/wrong.key"
obj=$(new_object forged)
mutate forged 'r["name"] = "forged"; r["address"] = "10.15.0.50"' | "$FORGE" "$H/wrong.key" seal "$obj" >"$H/forged"
put_case forged "$obj" "$H/forged"
# replayed: l2's authentic envelope under another name
put_case replayed "$(new_object replayed)" "$H/l2.sealed"
# truncated: half of an authentic envelope
head -c 300 "$H/l2.sealed" >"$H/truncated"
put_case truncated "$(new_object truncated)" "$H/truncated"
# oversized: over 4 KiB
{ printf '{"v":1,"nonce":"'; head -c 6000 /dev/zero | tr '\0' A; printf '","box":""}'; } >"$H/oversized"
put_case oversized "$(new_object oversized)" "$H/oversized"
# not a record at all, and a future version
printf 'not json at all\n' >"$H/garbage"
put_case garbage "$(new_object garbage)" "$H/garbage"
printf '{"v":2,"nonce":"","box":""}' >"$H/version2"
put_case version2 "$(new_object version2)" "$H/version2"
# authentic envelopes around bad payloads
seal_case wrong-types 'r["port"] = "51871"; r["address"] = "10.15.0.51"'
seal_case not-object 'r = "[1, 2, 3]"'
# dup-key: v1's key on another record. Both are authentic (a cloned VM image carrying the state
# dir does this): exactly one of the two is used, the same one on every node (object order).
seal_case dup-key 'r["public_key"] = "'"$V1_PUB"'"; r["address"] = "10.15.0.52"; r["name"] = "dupkey"'
DUP_OBJ=$(new_object dup-key)
seal_case own-key 'r["public_key"] = "'"$L1_PUB"'"; r["address"] = "10.15.0.53"; r["name"] = "ownkey"'
seal_case own-address 'r["address"] = "10.15.0.1"; r["name"] = "ownaddr"'
seal_case outside 'r["address"] = "192.0.2.5"; r["name"] = "outside"'
seal_case name-newline 'r["name"] = "evil\nPrivateKey=INJECTED"; r["address"] = "10.15.0.54"'
seal_case name-section 'r["name"] = "evil[WireGuardPeer]"; r["address"] = "10.15.0.55"'
seal_case name-equals 'r["name"] = "Endpoint=INJECTED"; r["address"] = "10.15.0.56"'
seal_case name-control 'r["name"] = "evil\x01\x1b[2J"; r["address"] = "10.15.0.57"'
seal_case zone-newline 'r["zone"] = "linode/ap-south\nAllowedIPs=0.0.0.0/0"; r["address"] = "10.15.0.58"'
seal_case endpoint-bad 'r["endpoints"] = {"wan": "198.51.100.1:1\nEndpoint=x"}; r["address"] = "10.15.0.59"'
# older seq than l1 has seen for l2's own object: an authentic replay of an old version
mutate older 'r["public_key"] = "'"$L2_PUB"'"; r["seq"] -= 1000; r["port"] = 1111' |
	"$FORGE" "$KEYF" seal "$L2_OBJ" >"$H/older"
s3cmd_fleet put "$H/older" "s3://$BUCKET/$L2_OBJ"
CASE_OF[$L2_OBJ]=older
# and one good newcomer: it must come up despite all of the above
seal_case good 'r["name"] = "good-newcomer"; r["address"] = "10.15.0.99"'
unset 'CASE_OF[$(new_object good)]'
GOOD_OBJ=$(new_object good)

timed_run l1 attack --refresh
LOG=$ST/logs/run-l1-attack.log
bad_warn=""
for obj in "${!CASE_OF[@]}"; do
	[ "${CASE_OF[$obj]}" = dup-key ] && continue
	c=$(grep -c "skipping record '$obj'" "$LOG")
	[ "$c" = 1 ] || bad_warn="$bad_warn ${CASE_OF[$obj]}:$c"
done
c=$(grep -c "skipping record '\($DUP_OBJ\|$V1_OBJ\)': duplicate public key" "$LOG")
[ "$c" = 1 ] || bad_warn="$bad_warn dup-key:$c"
ncases=${#CASE_OF[@]}
if [ $RC = 0 ] && [ -z "$bad_warn" ]; then
	ok "$ncases hostile records: exit 0, each skipped with exactly one warning naming its object"
else
	fail "hostile records" "rc=$RC warnings per case:$bad_warn"
	show_log "$LOG" 40
fi
grep -q "skipping record '$L2_OBJ': seq .* older" "$LOG" && ok "an older seq than already seen is refused as such" ||
	fail "older seq" "$(grep "$L2_OBJ" "$LOG")"
grep -q "skipping record '$GOOD_OBJ'" "$LOG" && fail "good newcomer skipped"
live=$(on l1 wg show wg0 peers | sort | tr '\n' ' ')
l2_ep=$(on l1 wg show wg0 endpoints | awk -v k="$L2_PUB" '$1 == k {print $2}')
if [ "$(peers_of l1)" = 3 ] && [ "$l2_ep" = "192.168.131.12:51871" ] &&
	summary_of l1 attack | grep -q 'peers=3 '; then
	ok "the rest of the mesh is up: l2 (cached record, port 51871 kept), v1 and the good newcomer"
else
	fail "mesh under attack" "peers: $live l2 endpoint $l2_ep; $(summary_of l1 attack)"
fi
U=$(node_units l1)
injected=$(grep -l 'INJECTED\|evil\|forged\|ownkey\|ownaddr\|outside\|192\.0\.2\.5\|10\.15\.0\.5[013-9]\|:1111\|0\.0\.0\.0/0' "$U"/* 2>/dev/null)
npeers=$(grep -c '^\[WireGuardPeer\]' "$U/90-clique-wg0.netdev")
badlines=$($PY - "$U/90-clique-wg0.netdev" "$U/90-clique-wg0.network" <<'EOF'
import re, sys
bad = []
for p in sys.argv[1:]:
    for i, line in enumerate(open(p, "rb").read().split(b"\n")):
        if any(c < 0x20 and c != 0x09 for c in line) or any(c >= 0x7f for c in line):
            bad.append(f"{p}:{i + 1} control byte")
        if line and not re.fullmatch(rb"#.*|\[[A-Za-z]+\]|[A-Za-z]+=.*", line):
            bad.append(f"{p}:{i + 1} not a unit line")
print(" ".join(bad))
EOF
)
if [ -z "$injected" ] && [ "$npeers" = 3 ] && [ -z "$badlines" ] &&
	[ "$(grep -c "PublicKey=$L2_PUB" "$U/90-clique-wg0.netdev")" = 1 ] &&
	[ "$(grep -c "PublicKey=$V1_PUB" "$U/90-clique-wg0.netdev")" = 1 ]; then
	ok "units: 3 peers, no injected name, key, address or line, no control byte"
else
	fail "unit content" "injected in: $injected; peers=$npeers; $badlines"
fi

# a refresh with nothing changed warns again (the bad records are cached, not re-fetched)
timed_run l1 attack2 --refresh
if [ $RC = 0 ] && summary_of l1 attack2 | grep -q 'peers=3 .*units_written=0 wg_set=0' &&
	[ "$(grep -c 'skipping record' "$ST/logs/run-l1-attack2.log")" -ge "$ncases" ]; then
	ok "second refresh: no change applied, the same records still refused"
else
	fail "second refresh" "$(summary_of l1 attack2)"
fi
# a fresh node knows no seq to compare with, but everything else holds for it too
rm -rf "$(node_state v1)" "$(node_units v1)"
timed_run v1 fresh
bad_warn=""
for obj in "${!CASE_OF[@]}"; do
	case ${CASE_OF[$obj]} in older | own-key | own-address | dup-key) continue ;; esac
	c=$(grep -c "skipping record '$obj'" "$ST/logs/run-v1-fresh.log")
	[ "$c" = 1 ] || bad_warn="$bad_warn ${CASE_OF[$obj]}:$c"
done
if [ $RC = 0 ] && [ -z "$bad_warn" ] && ! grep -q 'INJECTED\|evil\|forged\|192\.0\.2\.5' "$(node_units v1)"/*; then
	ok "a node booting into the hostile bucket comes up with the good peers only"
else
	fail "fresh node in hostile bucket" "rc=$RC warnings per case:$bad_warn"
	show_log "$ST/logs/run-v1-fresh.log"
fi

# --- hostile metadata over HTTP: refused, exit 69, one line, nothing written
md_case() { # NAME JSON-FILE: v1 boots from scratch against this /v1.json
	local name=$1 f=$2
	kill "$(cat "$ST/pids/metadata-v1")" 2>/dev/null
	sleep 0.2
	on_bg v1 metadata-v1 "$PY" "$TOP/tests/fakes/metadata.py" --provider vultr --data "$f" \
		--log "$ST/logs/metadata-v1.req"
	wait_metadata v1 >/dev/null
	rm -rf "$ST/nodes/v1/root"
	sed -i 's/^metadata_timeout = .*/metadata_timeout = 3/' "$ST/nodes/v1/clique.conf"
	timed_run v1 "md-$name"
	written=$(find "$ST/nodes/v1/root" -type f ! -name lock 2>/dev/null | wc -l)
	lines=$(wc -l <"$ST/logs/run-v1-md-$name.log")
	if [ $RC = 69 ] && [ "$written" = 0 ] && [ "$lines" = 1 ] && [ "$MS" -lt 6000 ]; then
		ok "metadata $name: exit 69 in $MS ms: $(cut -c1-110 "$ST/logs/run-v1-md-$name.log")"
	else
		fail "metadata $name" "rc=$RC files=$written lines=$lines ms=$MS"
		show_log "$ST/logs/run-v1-md-$name.log"
	fi
}
good=$ST/nodes/v1/metadata.json
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d["user-data"]="A"*(8<<20); json.dump(d,open(sys.argv[2],"w"))' "$good" "$H/md-huge.json"
md_case "huge body (8 MiB)" "$H/md-huge.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d["hostname"]="evil\nPrivateKey=x"; json.dump(d,open(sys.argv[2],"w"))' "$good" "$H/md-name.json"
md_case "hostname with a newline" "$H/md-name.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d["instance-v2-id"]=["x"]; json.dump(d,open(sys.argv[2],"w"))' "$good" "$H/md-type.json"
md_case "id of the wrong type" "$H/md-type.json"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d["region"]["regioncode"]="X"*5000; json.dump(d,open(sys.argv[2],"w"))' "$good" "$H/md-long.json"
md_case "region of 5000 bytes" "$H/md-long.json"
# issue 15: well-formed, but no address that is a host: retried until metadata_timeout
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d["interfaces"]=[{"ipv4":{"address":"169.254.7.7"},"ipv6":{"address":"2001:db8:200::","prefix":"64"}}]; json.dump(d,open(sys.argv[2],"w"))' "$good" "$H/md-noaddr.json"
md_case "link-local IPv4 and an IPv6 network only" "$H/md-noaddr.json"

# The same for the per-key clouds: v1 becomes a Hetzner server (YAML documents) or an AWS
# instance (IMDSv2 values); the fakes serve a string value as it is, byte for byte.
cloud_case() { # PROVIDER NODE PATH NAME PYTHON: v1 boots from scratch as PROVIDER against
	# NODE's tree (fleet.sh metadata_json) changed by PYTHON (d); the error names PATH
	local prov=$1 node=$2 path=$3 name=$4 log
	metadata_json "$node" | $PY -c 'import json, sys
d = json.load(sys.stdin)
exec(sys.argv[1])
json.dump(d, open(sys.argv[2], "w"))' "$5" "$H/$prov-$name.json"
	kill "$(cat "$ST/pids/metadata-v1")" 2>/dev/null
	sleep 0.2
	on_bg v1 metadata-v1 "$PY" "$TOP/tests/fakes/metadata.py" --provider "$prov" \
		--data "$H/$prov-$name.json" --log "$ST/logs/metadata-v1.req"
	wait_metadata v1 >/dev/null
	rm -rf "$ST/nodes/v1/root"
	sed -i '/^provider = /d' "$ST/nodes/v1/clique.conf"
	echo "provider = $prov" >>"$ST/nodes/v1/clique.conf"
	timed_run v1 "$prov-$name"
	log=$ST/logs/run-v1-$prov-$name.log
	written=$(find "$ST/nodes/v1/root" -type f ! -name lock 2>/dev/null | wc -l)
	lines=$(wc -l <"$log")
	if [ $RC = 69 ] && [ "$written" = 0 ] && [ "$lines" = 1 ] && [ "$MS" -lt 6000 ] &&
		grep -q "^clique-boot: metadata ($prov): http://169.254.169.254$path" "$log"; then
		ok "$prov metadata $name: exit 69 in $MS ms: $(cut -c1-120 "$log")"
	else
		fail "$prov metadata $name" "rc=$RC files=$written lines=$lines ms=$MS"
		show_log "$log"
	fi
}
hz_case() { cloud_case hetzner h1 /hetzner/v1/metadata "$@"; }
hz_case yaml-aliases 'd["private-networks"] = "".join("l%d: &l%d [*l%d, *l%d, *l%d]\n" % (i + 1, i + 1, i, i, i) for i in range(9)).replace("*l0, *l0, *l0", "lol")'
hz_case yaml-100-deep 'd["network-config"] = "".join("  " * i + "k:\n" for i in range(100))'
hz_case network-config-8MiB 'd["network-config"] = "version: 1\n" + "# " + "x" * (8 << 20) + "\n"'
hz_case hostname-newline 'd["hostname"] = "evil\nPrivateKey=x"'
hz_case instance-id-path 'd["instance-id"] = "../../etc"'
hz_case private-network-flow-mapping 'd["private-networks"] = "- {ip: 10.0.0.2, network_id: 1}\n"'
# AWS: each value its own GET with the token
aws_case() { cloud_case aws a1 /latest/meta-data/ "$@"; }
aws_case html-as-public-ipv4 'd["meta-data"]["public-ipv4"] = "<html><body><h1>404 - Not Found</h1></body></html>"'
aws_case instance-id-newline 'd["meta-data"]["instance-id"] = "i-0af01c0123456789a\nPrivateKey=x"'
aws_case local-ipv4-8MiB 'd["meta-data"]["local-ipv4"] = "10.20.1.1" + " " * (8 << 20)'
aws_case mac-upper-case 'd["meta-data"]["mac"] = "0E:49:61:0F:C3:11"'
aws_case region-path 'd["meta-data"]["placement"]["region"] = "../../etc"'
# well-formed, but no address that is a host and no VPC: retried until metadata_timeout
aws_case link-local-only 'd["meta-data"]["public-ipv4"] = "169.254.7.7"; del d["meta-data"]["network"]'

echo "# $fails failed checks"
[ $fails = 0 ]

#!/bin/bash
# e2e (issue 4): membership lifecycle on the seed's six-node fleet plus a seventh node (v4,
# address = auto) that joins and leaves a running mesh.
#   expiry     a node that stops refreshing is dropped by expire_after (bucket LastModified),
#              the others stay because each republishes its own record at half time
#   no-change  a refresh makes 1 LIST, 0 GET/PUT (client counters and radosgw's own log)
#   join       after one refresh everywhere 42 ordered pairs ping; the 30 old pairs did not
#              re-handshake (latest-handshakes before/after)
#   status     --status / --status --json from the device and the cache
#   leave      --leave removes record, claim, interface and units; one refresh everywhere and
#              it is gone, nobody else re-handshook; a later --refresh does not rejoin
#   rotate     --rotate-key, one refresh everywhere, 30/30 again
#   outage     radosgw stopped: refresh keeps the mesh and exits 75; a reboot-like restart
#              (wg0 deleted, wireguard-go gone) brings it back from the cache, exit 75
#   md-down    the metadata services of l3 and v3 stopped too: a boot run keeps wg0 as it is
#              (same peers, no set, no re-handshake), a reboot-like restart brings it back from
#              the cached metadata and peers; both exit 75 with one warning naming the service
# Prints "ok <check>" / "FAIL <check>"; exits non-zero on any failure.
set -eu
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 77; }
P=cblc$$ # per run: concurrent `make check`s in one tree must not share namespaces
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$TOP/${BUILD:-build}/clique-boot
SPARE_NODES=v4
AUTO_NODES=v4
AUTO_POOL=10.15.3.1-10.15.3.254
. "$(dirname "$0")/fleet.sh"
trap fleet_down EXIT
fails=0
ok() { echo "ok $1"; }
fail() {
	echo "FAIL $1${2:+: $2}"
	fails=$((fails + 1))
}
show_logs() { for f in "$ST"/logs/run-*"$1"*.log; do echo "--- $f"; cat "$f"; done; }
summary_of() { grep -o 'summary: .*' "$ST/logs/run-$1-$2.log" | tail -1; }
# every node of $1 ran tag $2 with exit status $3 and a summary matching $4
all_runs() {
	local nodes=$1 tag=$2 want_rc=$3 pat=$4 n rc good=1
	shift 4
	for n in $nodes; do
		rc=0
		run_node "$n" "$tag" "$@" || rc=$?
		if [ "$rc" != "$want_rc" ] || ! summary_of "$n" "$tag" | grep -qE "$pat"; then
			echo "  $n: exit $rc, $(summary_of "$n" "$tag")"
			good=0
		fi
	done
	[ $good = 1 ]
}
# "node pubkey epoch" lines of every node's latest handshakes
handshakes() {
	local n
	for n in $NODES; do on "$n" wg show wg0 latest-handshakes | sed "s/^/$n /"; done
}
# old pairs whose handshake time moved between two snapshots (a rekey of a session older than
# 110 s is WireGuard's own REKEY_AFTER_TIME, not the refresh's doing)
moved_pairs() {
	awk -v now="$(date +%s)" 'NR==FNR { t[$1" "$2] = $3; next }
		($1" "$2) in t && t[$1" "$2] != $3 && now - t[$1" "$2] < 110 { print $1" -> "$2 }' "$1" "$2"
}
ping_ok() { # name nodes
	local m
	if m=$(ping_matrix "$2"); then ok "$1"; else
		echo "$m"
		fail "$1"
	fi
}
bucket_keys() {
	ip netns exec "$P-s3" s3cmd --no-ssl --host="127.0.0.1:7480" --host-bucket="127.0.0.1:7480" \
		--access_key="$S3_ACCESS_KEY" --secret_key="$S3_SECRET_KEY" --region=us-east-1 \
		ls --recursive "s3://$BUCKET/$1" | awk '{print $4}' | sed "s|s3://$BUCKET/||"
}
rgw_log=$ST/rgw/log/client.rgw.log
rgw_requests() { grep -c 'beast: .* HTTP/1.1" [0-9]' "$rgw_log" || true; }

fleet_up

# --- first boot (v3 first: its record is the oldest), then refreshes with expire_after = 12
# on all nodes but v3, which plays dead: the others republish at half time and keep each
# other, v3's record ages out everywhere
# T_V3 is taken before v3's boot, so v3's record (LastModified >= T_V3) is at most
# (end of a refresh - T_V3) seconds old when that refresh reads it: only a refresh that ended
# less than 11 s after T_V3 certainly saw it younger than expire_after, whatever the load
boot_ok=1
T_V3=$(date +%s)
for n in v3 l1 l2 l3 v1 v2; do run_node "$n" boot || { boot_ok=0; show_logs "$n-boot"; }; done
[ $boot_ok = 1 ] && ok "first boot exits 0 on six nodes" || fail "first boot"
LIVE="l1 l2 l3 v1 v2"
declare -A t_end
exp_ok=1 republished=0 round=0
while :; do
	round=$((round + 1))
	for n in $LIVE; do
		CLIQUE_EXPIRE_AFTER=12 run_node "$n" "exp$round" --refresh || exp_ok=0
		t_end[$n]=$(date +%s)
		summary_of "$n" "exp$round" | grep -q 'put=1' && republished=$((republished + 1))
	done
	gone=0
	for n in $LIVE; do
		summary_of "$n" "exp$round" | grep -q 'peers=4 skipped=1' && gone=$((gone + 1))
		# while v3's record is certainly younger than expire_after nobody may lose a peer
		if [ $((t_end[$n] - T_V3)) -lt 11 ] && ! summary_of "$n" "exp$round" | grep -q 'peers=5'; then
			echo "  $n lost a peer early: $(summary_of "$n" "exp$round")"
			exp_ok=0
		fi
	done
	[ $gone = 5 ] && break
	[ $(($(date +%s) - T_V3)) -gt 40 ] && { exp_ok=0; break; }
	sleep 1
done
v3pub=$(on v3 wg show wg0 public-key)
for n in $LIVE; do
	on "$n" wg show wg0 peers | grep -qF "$v3pub" && { echo "  $n still has v3"; exp_ok=0; }
	grep -q 'skipping record .*expired: last modified' "$ST/logs/run-$n-exp$round.log" || exp_ok=0
done
[ $exp_ok = 1 ] && [ $republished -ge 5 ] &&
	ok "expire_after: silent v3 dropped by 5 nodes after $(($(date +%s) - T_V3)) s; live records republished at half time ($republished PUTs)" ||
	fail "expire_after" "republished=$republished rounds=$round"
all_runs "$NODES" back 0 'peers=5 ' --refresh &&
	ok "without expire_after one refresh brings v3 back" || fail "v3 back"
ping_ok "30/30 ordered pairs ping" "$NODES"

# --- no-change refresh: exactly one LIST, no GET/PUT, by the client's counters and radosgw's log
sleep 1
before=$(rgw_requests)
all_runs "$NODES" noop 0 'list=1 get=0 put=0 retries=0 units_written=0 wg_set=0 link_changed=0 bucket=ok delete=0' --refresh &&
	ok "no-change refresh on 6 nodes: list=1 get=0 put=0, no file, no set" || fail "no-change refresh"
sleep 1
after=$(rgw_requests)
if [ -f "$rgw_log" ] && [ $((after - before)) = 6 ]; then
	ok "radosgw logged exactly 6 requests for 6 no-change refreshes"
else
	fail "radosgw request count" "$before -> $after"
	grep 'beast: ' "$rgw_log" | tail -8
fi
REL=$TOP/build/clique-boot
[ -x "$REL" ] || REL=$BIN
cost=$(on l1 /usr/bin/time -f 'wall=%e s maxrss=%M KiB' "$REL" --config "$ST/nodes/l1/clique.conf" \
	--root "$ST/nodes/l1/root" --refresh 2>&1 | grep -oE 'list=[0-9]+ get=[0-9]+ put=[0-9]+|cpu_us=[0-9]+|wall=.*' | tr '\n' ' ')
echo "# no-change refresh at 6 records ($(basename "$(dirname "$REL")")/clique-boot): $cost"

# --- join: v4 (address = auto) boots into the running mesh
handshakes >"$ST/hs-join-before"
if run_node v4 boot && summary_of v4 boot | grep -q 'peers=6 .*put=[1-9]'; then
	ok "v4 boots into the running mesh with address = auto ($(node_addr v4))"
else
	show_logs v4-boot
	fail "v4 boot"
fi
# before anyone refreshes, v4 knows 6 peers and none has handshaken yet
if on v4 "$BIN" --config "$ST/nodes/v4/clique.conf" --root "$ST/nodes/v4/root" --status --json \
	>"$ST/status-v4.json" 2>"$ST/logs/status-v4.err" &&
	$PY - "$ST/status-v4.json" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
assert d["up"] and d["backend"] == "userspace", d
assert len(d["peers"]) == 6 and len(d["not_handshaken"]) == 6, d
assert all(not p["handshaken"] and p["handshake_age"] is None for p in d["peers"]), d
EOF
	ok "--status --json on the new node: 6 peers from the cache, none handshaken yet"
else
	cat "$ST/status-v4.json" "$ST/logs/status-v4.err"
	fail "status before handshakes"
fi
all_runs "$NODES" join 0 'peers=6 skipped=0 list=1 get=1 put=0 .*wg_set=1 link_changed=0' --refresh &&
	ok "one refresh on each old node: 1 LIST, 1 GET, 1 set (the new peer only)" || fail "join refresh"
ping_ok "42/42 ordered pairs ping after one refresh everywhere" "$NODES v4"
handshakes >"$ST/hs-join-after"
moved=$(moved_pairs "$ST/hs-join-before" "$ST/hs-join-after")
n_old=$(awk '$3 > 0' "$ST/hs-join-before" | wc -l)
[ -z "$moved" ] && [ "$n_old" = 30 ] && ok "the 30 old pairs kept their sessions (latest handshake unchanged)" ||
	fail "old sessions kept on join" "old handshakes $n_old; moved: $moved"

# --- status on an old node
if on l1 "$BIN" --config "$ST/nodes/l1/clique.conf" --root "$ST/nodes/l1/root" --status --json \
	>"$ST/status-l1.json" 2>"$ST/logs/status-l1.err" &&
	$PY - "$ST/status-l1.json" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
assert d["up"] and d["self"]["name"] == "linode-1" and d["self"]["address"] == "10.15.0.1", d
ps = {p["name"]: p for p in d["peers"]}
assert sorted(ps) == ["linode-2", "linode-3", "vultr-1", "vultr-2", "vultr-3", "vultr-4"], ps
for name, p in ps.items():
    assert p["handshaken"] and 0 <= p["handshake_age"] < 300, p
    assert p["rx_bytes"] > 0 and p["tx_bytes"] > 0, p
    lan = name.startswith("linode-")
    assert p["path"] == ("lan" if lan else "wan"), p
    assert p["endpoint"].startswith("192.168.131." if lan else "198.51.100."), p
    assert p["zone"] == ("linode/ap-south" if lan else "vultr/sgp"), p
assert d["not_handshaken"] == [] and d["unknown_on_device"] == [], d
EOF
	ok "--status --json on l1: 6 peers with name, zone, LAN/WAN endpoint, handshake age, rx/tx"
else
	cat "$ST/status-l1.json" "$ST/logs/status-l1.err"
	fail "status json"
fi
if on l1 "$BIN" --config "$ST/nodes/l1/clique.conf" --root "$ST/nodes/l1/root" --status \
	>"$ST/status-l1.txt" 2>&1 && [ "$(grep -cE ' (lan|wan) .*[0-9]s ago ' "$ST/status-l1.txt")" = 6 ]; then
	ok "--status prints one line per peer"
else
	cat "$ST/status-l1.txt"
	fail "status text"
fi

# --- leave: v4 goes; one refresh everywhere and it is gone, nobody else moved
v4pub=$(on v4 wg show wg0 public-key)
v4addr=$(node_addr v4)
claims_before=$(bucket_keys clique/addrs/ | wc -l)
handshakes >"$ST/hs-leave-before"
lv_ok=1
run_node v4 leave --leave || { lv_ok=0; show_logs v4-leave; }
on v4 ip link show wg0 >/dev/null 2>&1 && { echo "  v4 still has wg0"; lv_ok=0; }
ls "$ST"/nodes/v4/root/etc/systemd/network/90-clique-* >/dev/null 2>&1 && { echo "  units left"; lv_ok=0; }
[ "$(bucket_keys clique/nodes/ | wc -l)" = 6 ] || { echo "  record not deleted"; lv_ok=0; }
[ "$claims_before" = 1 ] && [ "$(bucket_keys clique/addrs/ | wc -l)" = 0 ] ||
	{ echo "  claims: $claims_before -> $(bucket_keys clique/addrs/ | wc -l)"; lv_ok=0; }
[ $lv_ok = 1 ] && ok "--leave deleted record and address claim ($v4addr free), interface and units" ||
	fail "leave"
all_runs "$NODES" left 0 'peers=5 skipped=0 list=1 get=0 put=0 .*wg_set=1' --refresh &&
	ok "one refresh everywhere: 5 peers each, 1 LIST, 0 GET/PUT, 1 set (the removal)" || fail "leave refresh"
gone=1
for n in $NODES; do on "$n" wg show wg0 peers | grep -qF "$v4pub" && gone=0; done
[ $gone = 1 ] && ok "v4 is gone from every device" || fail "v4 still on a device"
handshakes >"$ST/hs-leave-after"
moved=$(moved_pairs "$ST/hs-leave-before" "$ST/hs-leave-after")
[ -z "$moved" ] && ok "nobody else re-handshook on the leave" || fail "sessions on leave" "$moved"
ping_ok "30/30 after the leave" "$NODES"
if run_node v4 after-leave --refresh && ! on v4 ip link show wg0 >/dev/null 2>&1 &&
	[ "$(bucket_keys clique/nodes/ | wc -l)" = 6 ]; then
	ok "--refresh after --leave does not rejoin"
else
	show_logs v4-after-leave
	fail "refresh after leave"
fi

# --- rotate: v1 gets a new key; after one refresh everywhere all pairs ping again
v1old=$(on v1 wg show wg0 public-key)
if run_node v1 rotate --rotate-key && summary_of v1 rotate | grep -q 'put=1 .*wg_set=1' &&
	[ "$(on v1 wg show wg0 public-key)" != "$v1old" ] &&
	[ "$(stat -c %a "$ST/nodes/v1/root/var/lib/clique-boot/private.key")" = 600 ]; then
	ok "--rotate-key: new key on the device, record republished, key file 0600"
else
	show_logs v1-rotate
	fail "rotate"
fi
all_runs "$NODES" rotated 0 'peers=5 .*bucket=ok' --refresh || fail "refresh after rotate"
v1new=$(on v1 wg show wg0 public-key)
rot_ok=1
for n in l1 l2 l3 v2 v3; do
	on "$n" wg show wg0 peers | grep -qF "$v1new" || rot_ok=0
	on "$n" wg show wg0 peers | grep -qF "$v1old" && rot_ok=0
done
[ $rot_ok = 1 ] && ok "every peer swapped v1's old key for the new one" || fail "rotated key not picked up"
ping_ok "30/30 after key rotation" "$NODES"

# --- outage: radosgw stopped
. "$ST/rgw/env"
kill "$RGW_PID"
for _ in $(seq 50); do kill -0 "$RGW_PID" 2>/dev/null || break; sleep 0.1; done
pids=""
for n in $NODES; do
	run_node "$n" outage --refresh &
	pids="$pids $!"
done
out_ok=1
for p in $pids; do wait "$p" && out_ok=0 || [ $? = 75 ] || out_ok=0; done
for n in $NODES; do
	summary_of "$n" outage | grep -q 'peers=5 .*wg_set=0 link_changed=0 bucket=unreachable' ||
		{ echo "  $n: $(summary_of "$n" outage)"; out_ok=0; }
done
[ $out_ok = 1 ] && ok "radosgw down: refresh exits 75 on 6 nodes and keeps all 5 peers (no set)" ||
	fail "outage refresh"
ping_ok "30/30 with the bucket down" "$NODES"
# a reboot-like restart of node $1 as run $2: wg0 deleted (wireguard-go goes with it), then a
# boot run; sets rc
restart_node() {
	on "$1" ip link del wg0
	for _ in $(seq 50); do
		[ -z "$(on "$1" ls /run/wireguard)" ] && break
		sleep 0.1
	done
	[ -z "$(on "$1" ls /run/wireguard)" ] || { echo "  $1: wireguard-go still there"; rb_ok=0; }
	rc=0
	run_node "$1" "$2" || rc=$?
}
rb_ok=1
for n in l2 v2; do
	restart_node "$n" reboot
	[ $rc = 75 ] && summary_of "$n" reboot | grep -q 'peers=5 .*bucket=unreachable' ||
		{ echo "  $n: exit $rc"; show_logs "$n-reboot"; rb_ok=0; }
done
[ $rb_ok = 1 ] && ok "reboot-like restart (wg0 deleted, wireguard-go gone) with the bucket down: exit 75, 5 peers from the cache" ||
	fail "restart from cache"
ping_ok "30/30 after the restart from the cache" "$NODES"

# --- md-down: the metadata services of l3 and v3 stopped as well (a reboot while the cloud's
# metadata service is out): with a cache that is no reason to tear the mesh down
for n in l3 v3; do kill "$(cat "$ST/pids/metadata-$n")"; done
for n in l3 v3; do
	for _ in $(seq 50); do on "$n" curl -s -o /dev/null --max-time 1 http://169.254.169.254/ || break; sleep 0.1; done
done
md_ok=1
for n in l3 v3; do
	on "$n" wg show wg0 latest-handshakes | sort >"$ST/hs-$n-before"
	rc=0
	run_node "$n" md-down || rc=$?
	on "$n" wg show wg0 latest-handshakes | sort >"$ST/hs-$n-after"
	warn=$(grep -c "^clique-boot: metadata ($(cloud_of "$n")): .*; the mesh from the cached metadata, the refresh timer retries$" "$ST/logs/run-$n-md-down.log" || true)
	if [ $rc != 75 ] || [ "$warn" != 1 ] ||
		! summary_of "$n" md-down | grep -q 'peers=5 .*units_written=0 wg_set=0 link_changed=0 bucket=unreachable' ||
		[ "$(wc -l <"$ST/hs-$n-after")" != 5 ] || ! cmp -s "$ST/hs-$n-before" "$ST/hs-$n-after"; then
		echo "  $n: exit $rc, $warn warning lines, $(wc -l <"$ST/hs-$n-after") peers"
		show_logs "$n-md-down"
		md_ok=0
	fi
done
[ $md_ok = 1 ] && ok "metadata and bucket down, boot run on l3 and v3: exit 75, one warning, wg0 keeps its 5 peers, no set, no re-handshake" ||
	fail "boot run with the metadata service down"
rb_ok=1
for n in l3 v3; do
	restart_node "$n" md-reboot
	[ $rc = 75 ] && summary_of "$n" md-reboot | grep -q 'peers=5 .*bucket=unreachable' &&
		grep -q "metadata ($(cloud_of "$n")): .*the mesh from the cached metadata" "$ST/logs/run-$n-md-reboot.log" ||
		{ echo "  $n: exit $rc"; show_logs "$n-md-reboot"; rb_ok=0; }
done
[ $rb_ok = 1 ] && ok "reboot-like restart with metadata and bucket down: exit 75, wg0 back with 5 peers from the cache" ||
	fail "restart with the metadata service down"
ping_ok "30/30 with metadata services and the bucket down" "$NODES"

echo "# $fails failed checks"
[ $fails = 0 ]

#!/bin/bash
# e2e (issue 5): no private key, PSK, mesh key or S3 secret key in any log line, argv, child
# environment (/proc/<pid>/environ of wireguard-go) or world-readable file (shared/DESIGN.md 4).
# A sampler watches /proc while the runs happen: boots (one node with its secrets in CLIQUE_*
# variables), refreshes, verbose runs, a dry run, a run refused by the bucket and config errors.
# Prints "ok <check>" / "FAIL <check>"; 77 = skipped (not root).
set -u
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (network namespaces)"; exit 77; }
P=cbse$$ # unique: concurrent make check runs share this tree
. "$(dirname "$0")/faults.sh"
NODES="l1 v1"
trap 'kill $SAMPLER 2>/dev/null; fleet_down' EXIT
SAMPLER=
fleet_up >/dev/null || { echo "FAIL fleet_up"; exit 1; }
faults_up || { echo "FAIL s3-proxy"; exit 1; }

# argv of every clique-boot and wireguard-go, and wireguard-go's environment, as often as we can
$PY - "$ST/proc-samples" <<'EOF' &
import os, sys, time
seen = set()
out = open(sys.argv[1], "wb", buffering=0)
while True:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = open(f"/proc/{pid}/comm", "rb").read().strip()
            if comm not in (b"clique-boot", b"wireguard-go"):
                continue
            items = [b"argv " + open(f"/proc/{pid}/cmdline", "rb").read()]
            if comm == b"wireguard-go":
                items.append(b"environ " + open(f"/proc/{pid}/environ", "rb").read())
        except OSError:
            continue
        for it in items:
            if it not in seen:
                seen.add(it)
                out.write(comm + b" " + it.replace(b"\0", b" ") + b"\n")
    time.sleep(0.005)
EOF
SAMPLER=$!

# v1 gets its secrets from the environment instead of files: they must not reach wireguard-go
sed -i '/^secret_key_file\|^mesh_key_file/d' "$ST/nodes/v1/clique.conf"
on_env() { # NODE TAG ARGS...: v1's runs with the secrets in CLIQUE_* variables
	local n=$1 tag=$2
	shift 2
	on "$n" env CLIQUE_SECRET_KEY="$S3_SECRET_KEY" CLIQUE_MESH_KEY="$MESH_KEY" "$BIN" \
		--config "$ST/nodes/$n/clique.conf" --root "$ST/nodes/$n/root" "$@" \
		>"$ST/logs/run-$n-$tag.log" 2>&1
}
runs_ok=1
run_node l1 boot -v || runs_ok=0
on_env v1 boot -v || runs_ok=0
run_node l1 refresh -v --refresh || runs_ok=0
on_env v1 refresh --refresh || runs_ok=0
run_node l1 dry --dry-run --json -v || runs_ok=0
[ $runs_ok = 1 ] && [ "$(peers_of l1)" = 1 ] && [ "$(peers_of v1)" = 1 ] &&
	ok "two nodes up (v1 with its secrets in the environment), verbose runs and a dry run" ||
	fail "runs" "$(tail -n3 "$ST"/logs/run-*.log)"

# failures print what went wrong, never the value: wrong S3 secret, bad mesh key, bad key line
cp "$ST/nodes/l1/clique.conf" "$ST/nodes/l1/bad.conf"
sed -i '/^secret_key_file/d' "$ST/nodes/l1/bad.conf"
echo "secret_key = WRONG$S3_SECRET_KEY" >>"$ST/nodes/l1/bad.conf"
on l1 "$BIN" --config "$ST/nodes/l1/bad.conf" --root "$ST/nodes/l1/root" --refresh -v \
	>"$ST/logs/run-l1-badsecret.log" 2>&1
rc_bad=$?
sed -i '/^mesh_key_file/d' "$ST/nodes/l1/bad.conf"
echo "mesh_key = ${MESH_KEY%??????}" >>"$ST/nodes/l1/bad.conf"
on l1 "$BIN" --config "$ST/nodes/l1/bad.conf" --root "$ST/nodes/l1/root" >"$ST/logs/run-l1-badmesh.log" 2>&1
rc_mesh=$?
printf 'secret_kee = %s\n' "$S3_SECRET_KEY" >"$ST/nodes/l1/typo.conf"
on l1 "$BIN" --config "$ST/nodes/l1/typo.conf" >"$ST/logs/run-l1-typo.log" 2>&1
rc_typo=$?
printf 'secret_key = %s\r\nsecret_key = %s\n' "$S3_SECRET_KEY" "$S3_SECRET_KEY" >"$ST/nodes/l1/dup.conf"
on l1 "$BIN" --config "$ST/nodes/l1/dup.conf" >"$ST/logs/run-l1-dup.log" 2>&1
rc_dup=$?
# an operator's world-readable secret file: warned about, named, not printed
cp "$ST/nodes/l1/secret_key" "$ST/nodes/l1/secret_key.644"
chmod 644 "$ST/nodes/l1/secret_key.644"
sed "s|^secret_key_file = .*|secret_key_file = $ST/nodes/l1/secret_key.644|" "$ST/nodes/l1/clique.conf" >"$ST/nodes/l1/open.conf"
on l1 "$BIN" --config "$ST/nodes/l1/open.conf" --root "$ST/nodes/l1/root" --dry-run >"$ST/logs/run-l1-open.log" 2>&1
grep -q 'secret_key_file can be read by other users' "$ST/logs/run-l1-open.log" &&
	ok "a world-readable secret_key_file is warned about" || fail "insecure file warning"
chmod 600 "$ST/nodes/l1/secret_key.644" "$ST"/nodes/l1/*.conf # ours, not clique-boot's
if [ $rc_bad = 75 ] && [ $rc_mesh = 78 ] && [ $rc_typo = 78 ] && [ $rc_dup = 78 ]; then
	ok "refused runs: wrong S3 secret exit 75, short mesh key, unknown key, duplicate key exit 78"
else
	fail "refused runs" "badsecret=$rc_bad badmesh=$rc_mesh typo=$rc_typo dup=$rc_dup"
fi
sleep 0.1
kill $SAMPLER
wait $SAMPLER 2>/dev/null
SAMPLER=

# the needles: every secret in base64, hex (UAPI speaks hex) and as text
needles=$ST/needles
{
	echo "$MESH_KEY"
	echo "${MESH_KEY%??????}"
	echo "$S3_SECRET_KEY"
	for n in $NODES; do
		cat "$(node_state "$n")/private.key"
		on "$n" wg show wg0 preshared-keys | awk '{print $2}'
	done
} | sort -u >"$needles"
nneedles=$(wc -l <"$needles")
nsamples=$(wc -l <"$ST/proc-samples")
wgenv=$(grep -c '^wireguard-go environ' "$ST/proc-samples")
scan() { # FILES...: prints "file: what" for every needle found (base64, hex or raw bytes)
	$PY - "$needles" "$@" <<'EOF'
import base64, binascii, sys
needles = set()
for line in open(sys.argv[1]):
    s = line.strip()
    if not s:
        continue
    needles.add((s, s.encode()))
    try:
        raw = base64.b64decode(s, validate=True)
        if len(raw) == 32:
            needles.add((s + " (hex)", binascii.hexlify(raw)))
            needles.add((s + " (raw)", raw))
    except binascii.Error:
        pass
for path in sys.argv[2:]:
    try:
        data = open(path, "rb").read()
    except OSError:
        continue
    for name, b in needles:
        if b in data or (not name.endswith("(raw)") and b.upper() in data.upper()):
            print(f"{path}: {name[:8]}...")
EOF
}
leaks=$(scan "$ST/proc-samples")
if [ -z "$leaks" ] && [ "$wgenv" -ge 1 ] && grep -q '^clique-boot argv' "$ST/proc-samples"; then
	ok "$nneedles secrets absent from $nsamples sampled argv/environ ($wgenv wireguard-go environments, v1's had CLIQUE_* secrets to strip)"
else
	fail "argv/environ" "samples=$nsamples wg-environ=$wgenv $leaks"
fi
leaks=$(scan "$ST"/logs/*)
nlog=$(cat "$ST"/logs/run-*.log | wc -l)
[ -z "$leaks" ] && ok "no secret in $nlog log lines of clique-boot (verbose too), metadata, proxy and radosgw client logs" ||
	fail "logs" "$leaks"

# files: nothing world-readable holds a secret; the key 0600, units 0640, state dir 0700
readable=$(find "$ST/nodes" /run/wireguard -type f -perm -o+r 2>/dev/null)
leaks=""
[ -n "$readable" ] && leaks=$(scan $readable)
modes=""
for n in $NODES; do
	[ "$(stat -c %a "$(node_state "$n")/private.key")" = 600 ] || modes="$modes $n:key"
	[ "$(stat -c %a "$(node_state "$n")/state.json")" = 600 ] || modes="$modes $n:state"
	[ "$(stat -c %a "$(node_state "$n")")" = 700 ] || modes="$modes $n:dir"
	for u in "$(node_units "$n")"/*; do
		[ "$(stat -c %a "$u")" = 640 ] || modes="$modes $n:$(basename "$u")"
	done
done
if [ -z "$leaks" ] && [ -z "$modes" ]; then
	ok "no world-readable file holds a secret ($(echo "$readable" | grep -c .) world-readable files scanned); key and state 0600, units 0640, state dir 0700"
else
	fail "files" "$leaks modes:$modes"
fi
# the units must hold the private key and PSKs (networkd needs them): prove the scan would see it
[ -n "$(scan "$(node_units l1)/90-clique-wg0.netdev")" ] && ok "the scanner finds the keys where they must be (the 0640 netdev)" ||
	fail "scanner self-check"

echo "# $fails failed checks"
[ $fails = 0 ]

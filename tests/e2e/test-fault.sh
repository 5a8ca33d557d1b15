#!/bin/bash
# e2e (issue 5): the failure table of shared/DESIGN.md 7 with real components -- fake metadata
# services that come up late or never, radosgw behind tests/fakes/s3-proxy.py (SlowDown bursts,
# resets, stalls, truncated and cut listings), a clock 20 minutes off (faketime), kill -9 at
# random points of 50 runs, and concurrent runs on the lock.
# Prints "ok <check>" / "FAIL <check>"; 77 = skipped (not root).
set -u
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (network namespaces)"; exit 77; }
P=cbft$$ # unique: other engineers run make check in this tree at the same time
. "$(dirname "$0")/faults.sh"
NODES="l1 l2 v1"
trap fleet_down EXIT
fleet_up >/dev/null || { echo "FAIL fleet_up"; exit 1; }
faults_up || { echo "FAIL s3-proxy"; exit 1; }
LIST='^GET /[^/ ]*[?]list-type' # no backslashes: the rules are JSON
OBJ_GET='^GET /[^?]*/nodes/[0-9a-f]*$'

# restart NODE's metadata service with extra fake options (--refuse-for, --503-for)
metadata_restart() {
	local n=$1
	shift
	kill "$(cat "$ST/pids/metadata-$n")" 2>/dev/null
	sleep 0.2
	on_bg "$n" "metadata-$n" "$PY" "$TOP/tests/fakes/metadata.py" --provider "$(cloud_of "$n")" \
		--data "$ST/nodes/$n/metadata.json" --log "$ST/logs/metadata-$n.req" "$@"
}

# --- metadata never up: exit 69 after metadata_timeout, URL and last error, nothing written
kill "$(cat "$ST/pids/metadata-v1")"
sed -i 's/^metadata_timeout = .*/metadata_timeout = 3/' "$ST/nodes/v1/clique.conf"
timed_run v1 md-never
written=$(find "$ST/nodes/v1/root" -type f ! -name lock | wc -l)
objs=$(s3cmd_fleet ls --recursive "s3://$BUCKET/" | wc -l)
if [ $RC = 69 ] && [ "$MS" -ge 2900 ] && [ "$MS" -lt 8000 ] &&
	grep -q 'metadata (vultr): http://169.254.169.254/v1.json: .*refused\|metadata (vultr): http://169.254.169.254/v1.json: .*connect' "$ST/logs/run-v1-md-never.log" &&
	[ "$written" = 0 ] && [ "$objs" = 0 ]; then
	ok "metadata never up: exit 69 after metadata_timeout ($MS ms) naming the URL and the error; no key, state, unit or record written"
else
	fail "metadata never up" "rc=$RC ms=$MS files=$written objects=$objs"
	show_log "$ST/logs/run-v1-md-never.log"
	find "$ST/nodes/v1/root" -type f
fi

# --- metadata refused for 1 s, then 503 for 3 s, then up: the boot succeeds
sed -i 's/^metadata_timeout = .*/metadata_timeout = 30/' "$ST/nodes/v1/clique.conf"
metadata_restart v1 --refuse-for 1 --503-for 3
timed_run v1 md-late
n503=$(grep -c 'status=503' "$ST/logs/metadata-v1.req")
if [ $RC = 0 ] && [ "$MS" -ge 3500 ] && [ "$n503" -ge 1 ]; then
	ok "metadata refused for 1 s then 503 for 3 s, then up: boot exits 0 after $MS ms ($n503 answers of 503 retried)"
else
	fail "metadata late" "rc=$RC ms=$MS 503s=$n503"
	show_log "$ST/logs/run-v1-md-late.log"
fi

# --- the rest of the fleet; then everyone sees everyone
for n in l1 l2; do run_node "$n" boot || { fail "boot $n"; show_log "$ST/logs/run-$n-boot.log"; }; done
for n in $NODES; do run_node "$n" r1 --refresh || fail "refresh $n"; done
all2=1
for n in $NODES; do [ "$(peers_of "$n")" = 2 ] || all2=0; done
[ $all2 = 1 ] && ok "three nodes through the proxy, 2 peers each" || fail "fleet through the proxy"

units_md5() { cat "$(node_units "$1")"/90-clique-wg0.* 2>/dev/null | md5sum; }
cached_peers() { $PY -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("peers",[])))' "$(node_state "$1")/state.json"; }

# --- 503 SlowDown burst on LIST: retried with growing, jittered gaps, then success
proxy_rules "[{\"match\":\"$LIST\",\"fault\":\"503\",\"count\":3}]"
timed_run l1 slowdown --refresh
gaps=$(awk '{ if (NR > 1) printf "%d ", ($1 - t) * 1000; t = $1 }' "$ST/logs/proxy.log")
# equal jitter: attempt k waits between half and all of 200 ms * 2^k (s3.c backoff)
gaps_ok=$(echo "$gaps" | awk '{ ok = NF == 3; for (i = 1; i <= NF; i++) { lo = 100 * 2^(i-1) - 20; hi = 200 * 2^(i-1) + 150; if ($i < lo || $i > hi) ok = 0 } print ok }')
if [ $RC = 0 ] && summary_of l1 slowdown | grep -q 'list=1 .*retries=3 .*bucket=ok' && [ "$gaps_ok" = 1 ]; then
	ok "3 x 503 SlowDown on LIST: retried after $gaps ms (backoff with jitter), exit 0"
else
	fail "SlowDown burst" "rc=$RC gaps=$gaps $(summary_of l1 slowdown)"
	cat "$ST/logs/proxy.log"
fi

# --- LIST connections reset, truncated or cut for good: exit 75, the cached mesh stays
for fault in reset truncate cut-xml; do
	before_units=$(units_md5 l1)
	proxy_rules "[{\"match\":\"$LIST\",\"fault\":\"$fault\",\"count\":-1}]"
	timed_run l1 "list-$fault" --refresh
	tries=$(grep -c 'list-type' "$ST/logs/proxy.log")
	if [ $RC = 75 ] && [ "$(peers_of l1)" = 2 ] && [ "$(cached_peers l1)" = 2 ] &&
		[ "$before_units" = "$(units_md5 l1)" ] && [ "$MS" -lt 15000 ] &&
		grep -q 'listing failed' "$ST/logs/run-l1-list-$fault.log"; then
		ok "LIST $fault every time: exit 75 after $tries attempts in $MS ms; 2 peers kept live, in the cache and in the units"
	else
		fail "LIST $fault" "rc=$RC peers=$(peers_of l1) cached=$(cached_peers l1) ms=$MS"
		show_log "$ST/logs/run-l1-list-$fault.log"
	fi
done

# --- a LIST answered 200 with its XML cut, twice: asked again, the third answer is the listing
proxy_rules "[{\"match\":\"$LIST\",\"fault\":\"cut-xml\",\"count\":2}]"
timed_run l1 list-cut-twice --refresh
if [ $RC = 0 ] && [ "$(grep -c 'list-type' "$ST/logs/proxy.log")" = 3 ] &&
	summary_of l1 list-cut-twice | grep -q 'list=1 .*retries=2 .*bucket=ok'; then
	ok "LIST cut twice (200, XML half sent): retried, exit 0 ($(summary_of l1 list-cut-twice | grep -o 'list=.*retries=[0-9]*'))"
else
	fail "LIST cut twice" "rc=$RC $(summary_of l1 list-cut-twice)"
	show_log "$ST/logs/run-l1-list-cut-twice.log"
fi

# --- a bucket that accepts connections and never answers: bucket_timeout ends the run's
# bucket work (no attempt outlives it, none starts after it), exit 75, the cached mesh stays
proxy_rules "[{\"match\":\"$LIST\",\"fault\":\"hang\",\"count\":-1}]"
CLIQUE_BUCKET_TIMEOUT=4 timed_run l1 list-hang --refresh
if [ $RC = 75 ] && [ "$MS" -ge 3500 ] && [ "$MS" -lt 9000 ] && [ "$(peers_of l1)" = 2 ] &&
	[ "$(cached_peers l1)" = 2 ]; then
	ok "hung bucket: bucket_timeout = 4 s ends the run after $MS ms, exit 75, 2 peers kept"
else
	fail "hung bucket" "rc=$RC ms=$MS peers=$(peers_of l1)"
	show_log "$ST/logs/run-l1-list-hang.log"
fi
proxy_rules '[]'

# --- GETs reset and stalled, the PUT's reply lost after it was applied: all retried, exit 0
rm "$(node_state l1)/state.json"
proxy_rules "[{\"match\":\"$OBJ_GET\",\"fault\":\"reset\",\"count\":2},
 {\"match\":\"$LIST\",\"fault\":\"stall\",\"delay\":1.5,\"count\":1},
 {\"match\":\"^PUT\",\"fault\":\"reset-after\",\"count\":1}]"
timed_run l1 get-faults --refresh
faults=$(awk '{print $4}' "$ST/logs/proxy.log" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
# the retried GETs wait for the backoff instead of coming back at once
retry_gap=$(awk '$4 == "reset" { r = $1 } $4 == "pass" && r && $2 == "GET" && $3 !~ /list-type/ && !g { g = ($1 - r) * 1000 } END { printf "%d", g }' "$ST/logs/proxy.log")
if [ $RC = 0 ] && [ "$(peers_of l1)" = 2 ] && [ "$MS" -ge 1400 ] && [ "$retry_gap" -ge 90 ] &&
	summary_of l1 get-faults | grep -q 'put=1 .*bucket=ok'; then
	ok "stalled LIST, 2 GETs reset, PUT reply lost: retried (GET retry after $retry_gap ms), exit 0 ($faults)"
else
	fail "GET/PUT faults" "rc=$RC ms=$MS gap=$retry_gap $faults $(summary_of l1 get-faults)"
	cat "$ST/logs/proxy.log"
fi
proxy_rules '[]'

# --- a clock 20 minutes behind: RGW says RequestTimeTooSkewed, the Date header corrects it
DYN=$TOP/build/clique-boot # faketime preloads into a dynamic, non-ASan binary
if command -v faketime >/dev/null && [ -x "$DYN" ]; then
	rm "$(node_state v1)/state.json"
	skew_rc=0
	on v1 faketime -f -20m "$DYN" --config "$ST/nodes/v1/clique.conf" --root "$ST/nodes/v1/root" \
		--refresh >"$ST/logs/run-v1-skew.log" 2>&1 || skew_rc=$?
	n403=$(grep -c ' 403$' "$ST/logs/proxy.log")
	nskew=$(grep -c 'clock differs from the bucket' "$ST/logs/run-v1-skew.log")
	if [ $skew_rc = 0 ] && [ "$n403" = 1 ] && [ "$nskew" = 1 ] &&
		grep -q 'by 1[12][0-9][0-9] s' "$ST/logs/run-v1-skew.log" &&
		summary_of v1 skew | grep -q 'put=1 .*bucket=ok'; then
		ok "clock 20 min behind: one 403 RequestTimeTooSkewed, corrected from Date, published, skew logged once"
	else
		fail "clock skew" "rc=$skew_rc 403s=$n403 skew-lines=$nskew"
		show_log "$ST/logs/run-v1-skew.log"
		cat "$ST/logs/proxy.log"
	fi
	# the next run starts from the offset the last one kept in state.json: no 403 at all
	: >"$ST/logs/proxy.log"
	skew_rc=0
	on v1 faketime -f -20m "$DYN" --config "$ST/nodes/v1/clique.conf" --root "$ST/nodes/v1/root" \
		--refresh >"$ST/logs/run-v1-skew2.log" 2>&1 || skew_rc=$?
	n403=$(grep -c ' 403$' "$ST/logs/proxy.log")
	kept=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["clock_offset"]["seconds"])' \
		"$(node_state v1)/state.json" 2>&1)
	if [ $skew_rc = 0 ] && [ "$n403" = 0 ] && [ "$kept" -ge 1190 ] 2>/dev/null && [ "$kept" -le 1210 ] &&
		! grep -q 'clock differs' "$ST/logs/run-v1-skew2.log" &&
		summary_of v1 skew2 | grep -q 'bucket=ok'; then
		ok "the next run with the same clock: offset $kept s kept in state.json, no 403, exit 0"
	else
		fail "clock offset kept" "rc=$skew_rc 403s=$n403 kept=$kept"
		show_log "$ST/logs/run-v1-skew2.log"
		cat "$ST/logs/proxy.log"
	fi
else
	echo "# faketime or $DYN missing: clock skew not tested"
fi

# --- an error the bucket returns is logged with its status, S3 code and radosgw's request id
rc=0
cp "$ST/nodes/l1/clique.conf" "$ST/nodes/l1/clique.conf.good"
sed -i 's|^secret_key_file = .*|secret_key = wrong-secret-key|' "$ST/nodes/l1/clique.conf"
run_node l1 badsecret --refresh || rc=$?
mv "$ST/nodes/l1/clique.conf.good" "$ST/nodes/l1/clique.conf"
if [ $rc = 75 ] && grep -qE 'listing failed \(HTTP 403 SignatureDoesNotMatch, request tx[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[a-z]+\)' \
	"$ST/logs/run-l1-badsecret.log"; then
	ok "a 403 from radosgw is logged with status, code and request id; exit 75"
else
	fail "bucket error logged" "rc=$rc"
	show_log "$ST/logs/run-l1-badsecret.log"
fi

# --- boot unit and timer racing: the lock serialises, both exit 0
on l2 flock "$(node_state l2)/lock" sleep 1.5 &
holder=$!
sleep 0.2
timed_run l2 locked --refresh
wait $holder
if [ $RC = 0 ] && [ "$MS" -ge 1100 ]; then
	ok "a run waits for the lock held by another ($MS ms), then exits 0"
else
	fail "lock wait" "rc=$RC ms=$MS"
fi
race_ok=1
for i in 1 2 3; do
	run_node l2 "race$i-boot" &
	a=$!
	run_node l2 "race$i-timer" --refresh &
	b=$!
	wait $a || race_ok=0
	wait $b || race_ok=0
done
[ $race_ok = 1 ] && [ "$(peers_of l2)" = 2 ] && ok "boot and timer started together 3 times: all 6 runs exit 0" ||
	fail "concurrent runs"

# --- kill -9 at random points of 50 runs: key, state and units are each old or new, never torn
# validate NODE KEY: the key file (when KEY is set it must still be KEY), state.json and units
validate() {
	$PY - "$(node_state "$1")" "$(node_units "$1")" "${2:-}" "${3:-}" "${4:-}" <<'EOF'
import json, os, re, sys
state, units, want_key, render_a, render_b = sys.argv[1:6]
bad = []
key = None
p = os.path.join(state, "private.key")
if os.path.exists(p):
    key = open(p).read()
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}=\n?", key):
        bad.append(f"private.key torn: {len(key)} bytes")
    elif want_key and key.strip() != want_key:
        bad.append("private.key changed")
p = os.path.join(state, "state.json")
if os.path.exists(p):
    try:
        if json.load(open(p)).get("version") != 1:
            bad.append("state.json: no version 1")
    except ValueError as e:
        bad.append(f"state.json torn: {e}")
for ext in ("netdev", "network"):
    p = os.path.join(units, "90-clique-wg0." + ext)
    if not os.path.exists(p):
        continue
    text = open(p).read()
    if render_a:
        # a unit is exactly one of the two complete renders (with or without the toggled peer)
        ra = open(f"{render_a}.{ext}").read()
        rb = open(f"{render_b}.{ext}").read()
        if text not in (ra, rb):
            bad.append(f"{ext} is neither old nor new")
    elif not text.endswith("\n") or (ext == "netdev" and (
            text.count("[WireGuardPeer]") != text.count("PublicKey=")
            or "PrivateKey=" not in text or (key and key.strip() not in text))):
        bad.append(f"{ext} torn")
print("; ".join(bad))
EOF
}
tmp_left() { find "$(node_state "$1")" "$(node_units "$1")" -name '*.tmp.*' 2>/dev/null | wc -l; }

V1_OBJ=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["self"]["object"])' "$(node_state v1)/state.json")
s3cmd_fleet get --force "s3://$BUCKET/$V1_OBJ" "$ST/v1-record"
R=$ST/renders
mkdir -p "$R"
run_node l1 render-a --refresh
cp "$(node_units l1)/90-clique-wg0.netdev" "$R/a.netdev"
cp "$(node_units l1)/90-clique-wg0.network" "$R/a.network"
s3cmd_fleet del "s3://$BUCKET/$V1_OBJ"
run_node l1 render-b --refresh
cp "$(node_units l1)/90-clique-wg0.netdev" "$R/b.netdev"
cp "$(node_units l1)/90-clique-wg0.network" "$R/b.network"
L1_KEY=$(cat "$(node_state l1)/private.key")
present=0 # v1's record is deleted now
torn=0 killed=0 finished=0 problems=""
for i in $(seq 50); do
	if [ $i -le 40 ]; then
		node=l1
		# the bucket changes between runs: v1's record comes and goes
		if [ $((RANDOM % 2)) = 1 ]; then
			if [ $present = 1 ]; then s3cmd_fleet del "s3://$BUCKET/$V1_OBJ"; present=0
			else s3cmd_fleet put "$ST/v1-record" "s3://$BUCKET/$V1_OBJ"; present=1; fi
		fi
	else
		# first boots: the key, state and units are created under the kill
		node=v1
		rm -rf "$(node_state v1)" "$(node_units v1)"
	fi
	if [ $i = 41 ]; then
		# l1 converges before v1 republishes (with a new key) below
		conv_ok=1
		run_node l1 converge --refresh || conv_ok=0
		want=$R/b
		[ $present = 1 ] && want=$R/a
		cmp -s "$want.netdev" "$(node_units l1)/90-clique-wg0.netdev" || conv_ok=0
		cmp -s "$want.network" "$(node_units l1)/90-clique-wg0.network" || conv_ok=0
		[ "$(peers_of l1)" = $((1 + present)) ] || conv_ok=0
		run_node l1 converge2 --refresh || conv_ok=0
		summary_of l1 converge2 | grep -q 'get=0 put=0 .*units_written=0 wg_set=0' || conv_ok=0
		l1_peers=$(peers_of l1)
	fi
	on "$node" "$BIN" --config "$ST/nodes/$node/clique.conf" --root "$ST/nodes/$node/root" \
		--refresh >"$ST/logs/kill-$i.log" 2>&1 &
	pid=$!
	sleep "$(printf '0.%03d' $((RANDOM % 160)))"
	if kill -9 $pid 2>/dev/null; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
	wait $pid 2>/dev/null
	if [ $node = v1 ]; then
		res=$(validate v1)
	else
		res=$(validate l1 "$L1_KEY" "$R/a" "$R/b")
	fi
	if [ -n "$res" ]; then
		torn=$((torn + 1))
		problems="$problems run $i ($node): $res;"
	fi
done
if [ $torn = 0 ]; then
	ok "kill -9 at random points of 50 runs ($killed killed, $finished finished first): key, state.json and units always old or new"
else
	fail "kill -9 runs" "$problems"
fi
echo "# temp files left by killed runs: l1 $(tmp_left l1), v1 $(tmp_left v1)"
# the next runs converge: exit 0, the units match the bucket, the live device too, then a no-op
run_node v1 converge || conv_ok=0
[ "$(validate v1)" = "" ] || conv_ok=0
[ -s "$(node_state v1)/private.key" ] || conv_ok=0
if [ $conv_ok = 1 ]; then
	ok "after the kills the next run converges (units = bucket, $l1_peers live peers) and the one after is a no-op; v1 boots with a whole key"
else
	fail "convergence after kill -9" "$(summary_of l1 converge) / $(summary_of l1 converge2) peers=$(peers_of l1)"
	show_log "$ST/logs/run-l1-converge.log"
fi

# --- temp files of killed runs (one may hold a private key) go at the next run; others' stay
st=$(node_state l1)
un=$(node_units l1)
head -c 45 /dev/urandom | base64 >"$st/private.key.tmp.99998"
echo x >"$st/state.json.tmp.99999"
echo x >"$un/90-clique-wg0.netdev.tmp.99997"
echo x >"$un/50-someone-else.network.tmp.99996"
run_node l1 tmp-cleanup --refresh || true
if [ ! -e "$st/private.key.tmp.99998" ] && [ ! -e "$st/state.json.tmp.99999" ] &&
	[ ! -e "$un/90-clique-wg0.netdev.tmp.99997" ] && [ -e "$un/50-someone-else.network.tmp.99996" ]; then
	ok "temp files left by killed runs are removed by the next run (another program's are kept)"
else
	fail "stale temp files" "$(ls "$st" "$un" | tr '\n' ' ')"
fi
rm -f "$un/50-someone-else.network.tmp.99996"

echo "# $fails failed checks"
[ $fails = 0 ]

#!/bin/bash
# e2e soak (issue 21): the fleet of fleet.sh (six nodes l1-l3 on the Linode LAN, v1-v3 on the
# internet only, plus the spares l4, l5 (same LAN) and v4) against radosgw and wireguard-go,
# ROUNDS rounds of
#   join     l4, l5 and v4 boot in the same second (a boot run as clique-boot.service starts
#            it, every state wiped: a new VM with a new key and the address of the last one)
#   rotate   one of the six runs --rotate-key
#   leave    the spares run --leave in the same second, then are destroyed
#   outage   the bucket becomes unreachable (a prohibit route on every node) until every node's
#            timer has failed once with exit 75, then recovers until every node's timer has
#            succeeded once
# while every running node's refresh timer fires as packaging/systemd/clique-refresh.timer
# schedules it (timer_loop below). After each step every ordered pair of running nodes pings
# over wg0 and every run must have exited as expected (0; 75 only for a run that overlapped the
# outage). Join latency: from the joiner's boot run start until every running node pings it;
# leave latency: from the --leave start until no running node lists its key; rotate latency
# likewise until every node pings the rotated node with its new key.
# Prints a line per round and at the end: rounds, runs, pings, failures, latency p50/p95/max,
# and for each failure the node, the step and the program's own log lines.
# Env: ROUNDS (default 1: the short form in make check), SOAK_P (namespace prefix), KEEP_LOGS.
set -u
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 77; }
P=${SOAK_P:-cbsk$$}
ROUNDS=${ROUNDS:-1}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$TOP/${BUILD:-build}/clique-boot
NODES="l1 l2 l3 v1 v2 v3"
SPARE_NODES="l4 l5 v4"
. "$(dirname "$0")/fleet.sh"
set +e
WAIT=${SOAK_WAIT:-90} # seconds a step may take before it counts as a failure

# wireguard-go with its own log (verbose) per node, for the failure reports
WGGO_LOGS=$ST/wggo
EXTRA_CONF="userspace_command = $ST/wireguard-go"

RUNS=$ST/runs      # node kind tag start end rc, one line per clique-boot run
FAILS=$ST/failures # one block per failure
now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a-b}'; }
msg() { fleet_log "$*"; }
failures=0 pings=0 rounds=0

# one clique-boot run on node n, recorded in $RUNS; output in logs/run-n-tag.log
srun() {
	local n=$1 kind=$2 tag=$3 t0 rc
	shift 3
	t0=$(now)
	run_node "$n" "$tag" "$@"
	rc=$?
	echo "$n $kind $tag $t0 $(now) $rc" >>"$RUNS"
	return $rc
}

# The packaged timer: OnBootSec=10s..120s (every 10 s), OnUnitActiveSec=20s from the last start
# of the refresh service, RandomizedDelaySec=5s added at every arming; elapse points that pass
# while a run is going are merged into it (a oneshot unit already activating), and the refresh
# is ordered after the boot run (After=clique-boot.service). AccuracySec=1s (systemd may delay
# an elapse by up to 1 s more to coalesce wakeups) is not emulated.
timer_loop() { # node boot-start
	local n=$1 boot=$2 last="" next t k=0
	while [ ! -e "$ST/stop-$n" ]; do
		t=$(now)
		next=$(awk -v b="$boot" -v l="$last" -v t="$t" 'BEGIN {
			n = -1
			for (k = 10; k <= 120; k += 10) if (b + k > t) { n = b + k; break }
			if (l != "") { u = l + 20; if (u < t) u = t; if (n < 0 || u < n) n = u }
			printf "%.3f", n - t }')
		sleep "$(awk -v d="$next" -v r=$((RANDOM % 5000)) 'BEGIN{printf "%.3f", d + r / 1000}')"
		while [ ! -e "$ST/booted-$n" ] && [ ! -e "$ST/stop-$n" ]; do sleep 0.2; done
		[ -e "$ST/stop-$n" ] && break
		last=$(now)
		k=$((k + 1))
		srun "$n" timer "timer-$k" --refresh
	done
}

# A node boots: the boot run (clique-boot.service) and its timer (clique-refresh.timer).
node_boot() { # node tag
	local n=$1 t0
	rm -f "$ST/stop-$n" "$ST/booted-$n"
	t0=$(now)
	echo "$t0" >"$ST/boot-$n"
	timer_loop "$n" "$t0" 2>/dev/null & # no "Terminated" when node_stop_timer ends a sleep
	echo $! >"$ST/pids/timer-$n"
	(
		srun "$n" boot "$2"
		touch "$ST/booted-$n"
	) &
}
node_stop_timer() {
	local n=$1 pid
	touch "$ST/stop-$n"
	pid=$(cat "$ST/pids/timer-$n" 2>/dev/null) || return 0
	# the loop may be asleep for up to 25 s: end the sleep, let a running refresh finish
	while kill -0 "$pid" 2>/dev/null; do
		pkill -P "$pid" -x sleep 2>/dev/null
		sleep 0.2
	done
	rm -f "$ST/pids/timer-$n"
}
# A destroyed VM: timer gone, no state, no interface, no daemon; next boot is a new VM.
node_destroy() {
	local n=$1
	node_stop_timer "$n"
	on "$n" ip link del wg0 2>/dev/null
	rm -rf "$ST/nodes/$n/root"
	mkdir -p "$ST/nodes/$n/root"
}

fail() { # node step text [log nodes...]
	local n=$1 step=$2 text=$3 m f
	shift 3
	failures=$((failures + 1))
	echo "FAIL soak round $ROUND $step: $n: $text"
	{
		echo "=== failure $failures: round $ROUND, step $step, node $n: $text"
		for m in "$@"; do
			if [ -f "$m" ]; then
				echo "--- $(basename "$m")"
				sed 's/^/    /' "$m"
				continue
			fi
			f=$(last_log "$m")
			[ -n "$f" ] && { echo "--- $m: $(basename "$f")"; sed 's/^/    /' "$f"; }
			echo "--- $m: wg show wg0 dump (private key and PSKs cut)"
			on "$m" wg show wg0 dump 2>&1 | awk -F'\t' 'NR == 1 { print $2, $3; next }
				{ print $1, $3, $4, $5, $6, $7, $8 }' | sed 's/^/    /'
			echo "--- $m: wireguard-go log, last lines"
			tail -n 15 "$WGGO_LOGS/$m.log" 2>/dev/null | sed 's/^/    /'
		done
	} >>"$FAILS"
}
last_log() { ls -t "$ST"/logs/run-"$1"-*.log 2>/dev/null | head -1; }

# wait until cond(a, b) holds for every a in $from, b in $to (a != b); records the time each b
# was reached by the last a in $ST/lat; returns the pairs left
wait_pairs() { # step from to t0 cond
	local step=$1 from=$2 to=$3 t0=$4 cond=$5 a b left t
	declare -A done
	while :; do
		left=""
		for b in $to; do
			[ -n "${done[$b]:-}" ] && continue
			for a in $from; do
				[ "$a" = "$b" ] && continue
				[ -n "${done[$a-$b]:-}" ] && continue
				if $cond "$a" "$b"; then done[$a-$b]=1; else left+=" $a>$b"; fi
			done
			if [ -z "$left" ] || ! [[ "$left" == *">$b"* ]]; then
				t=$(now)
				done[$b]=1
				echo "$step $(sub "$t" "$t0") $b" >>"$ST/lat"
			fi
		done
		[ -z "$left" ] && return 0
		if [ "$(sub "$(now)" "$t0" | cut -d. -f1)" -ge "$WAIT" ]; then
			echo "$left"
			return 1
		fi
		sleep 0.5
	done
}
# a has b on its device (wireguard-go drops packets for unknown addresses silently: no ping
# before that, it would only wait for its timeout) and b answers a ping
pings_to() {
	on "$1" wg show wg0 allowed-ips 2>/dev/null | grep -qF "	$(mesh_ip "$2")/32" &&
		on "$1" busybox ping -c1 -W1 -q "$(mesh_ip "$2")" >/dev/null 2>&1
}
lacks_key() { ! on "$1" wg show wg0 peers 2>/dev/null | grep -qxF "$(cat "$ST/key-$2")"; }
has_new_key() { on "$1" wg show wg0 peers 2>/dev/null | grep -qxF "$(cat "$ST/key-$2")" && pings_to "$1" "$2"; }

# every ordered pair of the running nodes: up to three pings, 2 s for an answer (the issue's
# check), the sources in parallel
check_pairs() { # step
	local a b r pids=""
	: >"$ST/pairs"
	for a in $RUNNING; do
		for b in $RUNNING; do
			[ "$a" = "$b" ] && continue
			r=ok
			on "$a" busybox ping -c3 -A -W2 -q "$(mesh_ip "$b")" >/dev/null 2>&1 || r=FAIL
			echo "$a $b $r" >>"$ST/pairs"
		done &
		pids+=" $!"
	done
	wait $pids
	pings=$((pings + $(wc -l <"$ST/pairs")))
	while read -r a b r; do
		[ "$r" = ok ] || fail "$a" "$1" "no ping to $b ($(mesh_ip "$b"))" "$a" "$b"
	done <"$ST/pairs"
}

# every run that ended since mark exited 0, or 75 if it overlapped an outage
check_runs() { # step
	local n kind tag t0 t1 rc
	while read -r n kind tag t0 t1 rc; do
		[ "$rc" = 0 ] && continue
		[ "$rc" = 75 ] && awk -v a="$t0" -v b="$t1" '
			{ if (a <= ($2 == "" ? 1e18 : $2) && b >= $1) f = 1 } END { exit !f }' "$ST/outages" &&
			continue
		fail "$n" "$1" "$kind run $tag exited $rc" "$ST/logs/run-$n-$tag.log"
	done < <(tail -n +$((RUNS_SEEN + 1)) "$RUNS")
	RUNS_SEEN=$(wc -l <"$RUNS")
}

pct() { # step: p50 p95 max of the latencies of step
	awk -v s="$1" '$1 == s { print $2 }' "$ST/lat" | sort -n | awk '
		{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
		i50 = int(NR * 0.50 + 0.999); i95 = int(NR * 0.95 + 0.999)
		printf "p50 %.1f s p95 %.1f s max %.1f s (n=%d)", v[i50], v[i95], v[NR], NR }'
}
totals() {
	echo "rounds=$rounds runs=$(wc -l <"$RUNS") pings=$pings failures=$failures"
	echo "  join:   $(pct join)"
	echo "  leave:  $(pct leave)"
	echo "  rotate: $(pct rotate)"
}

cleanup() {
	local n
	set +e
	for n in $NODES $SPARE_NODES; do [ -e "$ST/pids/timer-$n" ] && node_stop_timer "$n"; done
	fleet_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fleet_up || { echo "FAIL soak: fleet did not come up"; exit 1; }
set +e # fleet_up turns errexit back on: every check here is counted, none ends the run
rm -f "$ST"/stop-* "$ST"/boot-* "$ST"/booted-* "$ST"/key-* # a KEEP_LOGS run's leftovers
mkdir -p "$WGGO_LOGS"
cat >"$ST/wireguard-go" <<EOF
#!/bin/sh
LOG_LEVEL=verbose exec wireguard-go "\$@" >>"$WGGO_LOGS/\$(hostname).log" 2>&1
EOF
chmod 755 "$ST/wireguard-go"
: >"$RUNS"
: >"$FAILS"
: >"$ST/lat"
: >"$ST/outages"
RUNS_SEEN=0
T_START=$(now)

# --- the fleet forms: six nodes boot in the same second
ROUND=0
RUNNING=$NODES
for n in $NODES; do node_boot "$n" boot; done
T=$(cat "$ST/boot-l1")
left=$(wait_pairs form "$NODES" "$NODES" "$T" pings_to) || fail all form "pairs not pinging after $WAIT s:$left" $NODES
check_pairs form
check_runs form
msg "fleet formed: $(pct form)"

for ROUND in $(seq "$ROUNDS"); do
	# --- join: the spares boot in the same second, as new VMs
	for n in $SPARE_NODES; do node_destroy "$n"; done
	T=$(now)
	for n in $SPARE_NODES; do node_boot "$n" "boot-r$ROUND"; done
	OLD=$RUNNING
	RUNNING="$NODES $SPARE_NODES"
	left=$(wait_pairs join "$RUNNING" "$SPARE_NODES" "$T" pings_to) ||
		fail "$SPARE_NODES" join "not reached after $WAIT s:$left" $SPARE_NODES $OLD
	check_pairs join
	check_runs join

	# --- rotate: one old node gets a new key
	R=$(echo $NODES | cut -d' ' -f$(((ROUND - 1) % 6 + 1)))
	T=$(now)
	if srun "$R" rotate "rotate-r$ROUND" --rotate-key; then
		on "$R" wg show wg0 public-key >"$ST/key-$R"
		left=$(wait_pairs rotate "$RUNNING" "$R" "$T" has_new_key) ||
			fail "$R" rotate "new key not used after $WAIT s:$left" $RUNNING
	fi
	check_pairs rotate
	check_runs rotate

	# --- leave: the spares leave in the same second; then they are destroyed
	for n in $SPARE_NODES; do on "$n" wg show wg0 public-key >"$ST/key-$n"; done
	T=$(now)
	lpids=""
	for n in $SPARE_NODES; do
		srun "$n" leave "leave-r$ROUND" --leave &
		lpids+=" $!"
	done
	wait $lpids
	for n in $SPARE_NODES; do node_destroy "$n"; done
	RUNNING=$NODES
	left=$(wait_pairs leave "$RUNNING" "$SPARE_NODES" "$T" lacks_key) ||
		fail "$SPARE_NODES" leave "still listed after $WAIT s:$left" $RUNNING
	check_pairs leave
	check_runs leave

	# --- outage: the bucket unreachable until every timer failed once, then back
	mark=$(wc -l <"$RUNS")
	printf '%s ' "$(now)" >>"$ST/outages"
	for n in $RUNNING; do on "$n" ip route add prohibit "$S3_ADDR/32"; done
	T=$(now)
	until [ "$(tail -n +$((mark + 1)) "$RUNS" | awk '$2 == "timer" && $6 == 75 { print $1 }' | sort -u | wc -l)" = 6 ]; do
		sleep 0.5
		[ "$(sub "$(now)" "$T" | cut -d. -f1)" -ge "$WAIT" ] && { fail all outage "not every timer ran in $WAIT s"; break; }
	done
	check_pairs outage
	for n in $RUNNING; do on "$n" ip route del prohibit "$S3_ADDR/32"; done
	echo "$(now)" >>"$ST/outages"
	mark=$(wc -l <"$RUNS")
	T=$(now)
	until [ "$(tail -n +$((mark + 1)) "$RUNS" | awk '$2 == "timer" && $6 == 0 { print $1 }' | sort -u | wc -l)" = 6 ]; do
		sleep 0.5
		[ "$(sub "$(now)" "$T" | cut -d. -f1)" -ge "$WAIT" ] && { fail all recovery "not every timer succeeded in $WAIT s"; break; }
	done
	check_pairs recovery
	check_runs recovery
	rounds=$ROUND
	msg "round $ROUND: $(totals | head -1); join $(pct join | cut -d'(' -f1); leave $(pct leave | cut -d'(' -f1)"
done

for n in $NODES; do node_stop_timer "$n"; done
check_runs end
T_END=$(now)
echo "# soak: $(totals | head -1), wall $(sub "$T_END" "$T_START") s"
totals | tail -n +2 | sed 's/^/# /'
echo "#   form: $(pct form)"
if [ "$failures" -gt 0 ]; then
	sed 's/^/# /' "$FAILS"
	echo "FAIL soak: $ROUNDS rounds, $failures failures"
	exit 1
fi
echo "ok soak: $ROUNDS rounds, $(wc -l <"$RUNS") runs, $pings pings, 0 failures"

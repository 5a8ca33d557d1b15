#!/bin/bash
# Shared by test-fault.sh, test-hostile.sh and test-secrets.sh (issue 5): a small fleet from
# fleet.sh (sourced read-only) whose nodes reach radosgw through tests/fakes/s3-proxy.py, which
# runs in the bucket's namespace on $S3_ADDR:7481 and injects the faults of $ST/proxy-rules.json.
# Caller sets P and NODES before fleet_up, then calls faults_up.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${BIN:=$TOP/${BUILD:-build}/clique-boot}"
. "$TOP/tests/e2e/fleet.sh"
PROXY_PORT=7481
fails=0
ok() { echo "ok $1"; }
fail() {
	echo "FAIL $1${2:+: $2}"
	fails=$((fails + 1))
}
show_log() { echo "--- $1"; sed 's/^/    /' "$1" | tail -${2:-30}; }

# Nodes talk to the proxy; the proxy to radosgw on the bucket namespace's loopback.
faults_up() {
	local n
	set +e # fleet_up leaves errexit on (fleet_down ends with set -e); checks here count failures
	: >"$ST/proxy-rules.json"
	: >"$ST/logs/proxy.log"
	ip netns exec "$P-s3" "$PY" "$TOP/tests/fakes/s3-proxy.py" --listen "$S3_ADDR:$PROXY_PORT" \
		--upstream 127.0.0.1:7480 --rules "$ST/proxy-rules.json" --log "$ST/logs/proxy.log" \
		>"$ST/logs/proxy.out" 2>&1 &
	echo $! >"$ST/pids/proxy"
	for n in $NODES; do
		sed -i "s|^bucket_endpoint = .*|bucket_endpoint = http://$S3_ADDR:$PROXY_PORT|" \
			"$ST/nodes/$n/clique.conf"
	done
	for _ in $(seq 50); do grep -q listening "$ST/logs/proxy.out" && return 0; sleep 0.1; done
	echo "s3-proxy did not start" >&2
	cat "$ST/logs/proxy.out" >&2
	return 1
}

# rules JSON: the proxy re-reads it on change; a fresh file restarts the counters
proxy_rules() {
	printf '%s\n' "$1" >"$ST/proxy-rules.json.new"
	mv "$ST/proxy-rules.json.new" "$ST/proxy-rules.json"
	: >"$ST/logs/proxy.log"
}

# timed_run NODE TAG ARGS...: RC and MS (wall time) of one clique-boot run
timed_run() {
	local t0=$EPOCHREALTIME
	RC=0
	run_node "$@" || RC=$?
	MS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", (b-a)*1000}')
}

node_state() { echo "$ST/nodes/$1/root/var/lib/clique-boot"; }
node_units() { echo "$ST/nodes/$1/root/etc/systemd/network"; }
peers_of() { on "$1" wg show wg0 peers 2>/dev/null | wc -l; }
summary_of() { grep -o 'summary: .*' "$ST/logs/run-$1-$2.log" | tail -1; }

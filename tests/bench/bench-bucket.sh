#!/bin/bash
# Bench: the bucket side of DESIGN.md 9 against a real radosgw, as JSON lines for run.sh:
#  - no-change refresh with 1,000 and 10,000 records: requests, CPU, wall, peak RSS
#  - first boot with 1,000 records through a proxy adding latency to every GET: parallel GETs
#    (bucket_parallel = 16, the default) against the same binary with bucket_parallel = 1
# Everything runs in one network namespace (radosgw on its loopback) with a private mount
# namespace for wireguard-go's socket. Env: RUNS (3), DELAY (s per GET, 0.02), BUILD (build).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-3}
DELAY=${DELAY:-0.02}
B=$top/${BUILD:-build}
# the binary measured (the tools always come from $B): the static one when it is built
BIN=${BIN:-$B/clique-boot}
[ -x "$top/build-static/clique-boot" ] && [ -z "${DYNAMIC:-}" ] && BIN=$top/build-static/clique-boot
kind=$(file -b "$BIN" | grep -q 'statically linked' && echo static || echo dynamic)
NS=cbbench-bucket
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1

[ -n "${BENCH_TRACE:-}" ] && set -x
if [ "${1:-}" != inner ]; then
	work=$(mktemp -d)
	trap 'ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null; sleep 0.5; ip netns pids $NS 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf "$work"' EXIT
	ip netns del $NS 2>/dev/null || true
	ip netns add $NS
	ip -n $NS link set lo up
	ip netns exec $NS unshare --mount --propagation private bash ${BENCH_TRACE:+-x} "$0" inner "$work"
	exit
fi

work=$2
mount -t tmpfs -o mode=0755 bench /run/wireguard
MON_PORT=42789 MON_PORT2=42300 bash "$top/tests/e2e/rgw.sh" up "$work/rgw" 7480 >"$work/rgw.log" 2>&1 ||
	{ cat "$work/rgw.log" >&2; exit 1; }
. "$work/rgw/env"
export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET=bench S3_REGION=us-east-1
"$B/tools/s3tool" mb >/dev/null
head -c 32 /dev/urandom | base64 >"$work/mesh_key"
printf '%s\n' "$S3_SECRET_KEY" >"$work/secret"
chmod 600 "$work/mesh_key" "$work/secret"
export MESH_KEY_FILE=$work/mesh_key
# 999 + the measuring node's own = 1,000 records (and 9,999 + 1 = 10,000)
"$B/tools/mkrecords" b1k/ 999 10.100.0.1 >/dev/null
"$B/tools/mkrecords" b10k/ 9999 10.110.0.1 >/dev/null

conf() { # name prefix endpoint address
	cat >"$work/$1.conf" <<CONF
bucket_endpoint = $3
bucket = bench
access_key = $S3_ACCESS_KEY
secret_key_file = $work/secret
mesh_key_file = $work/mesh_key
prefix = $2
network = 10.0.0.0/8
address = $4
provider = static
instance_id = bench-$1
region = lab
wan_ipv4 = 198.51.100.10
backend = userspace
state_dir = $work/state-$1
networkd_dir = $work/units-$1
CONF
	chmod 600 "$work/$1.conf"
}
conf r1k b1k/ "$S3_ENDPOINT" 10.99.0.1
conf r10k b10k/ "$S3_ENDPOINT" 10.99.0.1
conf boot b1k/ http://127.0.0.1:7481 10.99.0.2
/usr/bin/python3 "$top/tests/bench/delay-proxy.py" 7481 7480 "$DELAY" >/dev/null 2>&1 &
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/7481) 2>/dev/null && break; sleep 0.1; done

m() { /usr/bin/python3 "$top/tests/bench/measure.py" -n "$RUNS" "$@"; }
cb() { echo "$BIN -q --config $work/$1.conf ${2:-}"; }
counters() { # config -> the request counters of one no-change refresh, as a note
	"$BIN" --config "$work/$1.conf" --refresh 2>&1 |
		sed -n 's/.*summary: .*\(list=[0-9]* get=[0-9]* put=[0-9]*\).*/\1/p'
}
down="ip link del wg0 2>/dev/null || true; while [ -e /run/wireguard/wg0.sock ]; do sleep 0.01; done"

for n in 1k 10k; do
	eval "$down"
	"$BIN" -q --config "$work/r$n.conf" # first boot: fills the cache
	note=$(counters "r$n")
	m --case "refresh, no change, $n records ($kind binary)" "$(cb "r$n" --refresh)" |
		sed "s/}\$/, \"note\": \"$note\"}/"
done
eval "$down"
fresh="$down; rm -rf $work/state-boot $work/units-boot"
m --setup "$down; rm -rf $work/state-r1k $work/units-r1k" \
	--case "first boot, 1k records, no added latency ($kind binary)" "$(cb r1k)"
m --setup "$fresh" \
	--case "first boot, 1k records, +${DELAY}s per GET, 1 GET at a time" \
	"env CLIQUE_BUCKET_PARALLEL=1 $(cb boot)" \
	--case "first boot, 1k records, +${DELAY}s per GET, 16 in flight" "$(cb boot)"
eval "$down"
bash "$top/tests/e2e/rgw.sh" down "$work/rgw" >/dev/null 2>&1

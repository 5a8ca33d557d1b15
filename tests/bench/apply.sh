#!/bin/bash
# Bench: applying 10,000 peers on wireguard-go -- clique-boot's apply path (tests/tools/wg-apply:
# wg_backend_open + wg_diff + the UAPI set, the code clique-boot runs) against `wg setconf`
# with the same peers, on a fresh device; then a diff apply of 1 changed peer in 10,000
# against `wg syncconf` and `wg setconf`. Runs inside its own netns + mount namespace.
# Prints JSON lines from measure.py. Env: PEERS (10000), RUNS (3), BUILD (build).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=${PEERS:-10000}
RUNS=${RUNS:-3}
APPLY=$top/${BUILD:-build}/tools/wg-apply
NS=cbbench-apply
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1

if [ "${1:-}" != inner ]; then
	work=$(mktemp -d)
	trap 'ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null; sleep 0.3; ip netns del $NS 2>/dev/null; rm -rf "$work"' EXIT
	/usr/bin/python3 "$top/tests/bench/gen-wgconf.py" "$PEERS" "$work/full.conf" "$work/changed.conf"
	ip netns del $NS 2>/dev/null || true
	ip netns add $NS
	ip -n $NS link set lo up
	ip netns exec $NS unshare --mount --propagation private bash "$0" inner "$work"
	exit
fi

work=$2
mount -t tmpfs -o mode=0755 bench /run/wireguard
m() { /usr/bin/python3 "$top/tests/bench/measure.py" -n "$RUNS" "$@"; }
# the old daemon must be gone (its socket removed) before a new one can take the name
fresh="ip link del wg0 2>/dev/null; while [ -e /run/wireguard/wg0.sock ]; do sleep 0.01; done;
	wireguard-go wg0 2>/dev/null && while [ ! -S /run/wireguard/wg0.sock ]; do sleep 0.01; done"
loaded="$fresh && wg setconf wg0 $work/full.conf"

m --setup "$fresh" \
	--case "wireguard-go: wg setconf, $PEERS peers, fresh device" "wg setconf wg0 $work/full.conf" \
	--case "wireguard-go: clique-boot apply, $PEERS peers, fresh device" \
	"$APPLY -b userspace wg0 $work/full.conf"
m --setup "$loaded" \
	--case "wireguard-go: wg setconf, 1 changed of $PEERS" "wg setconf wg0 $work/changed.conf" \
	--case "wireguard-go: wg syncconf, 1 changed of $PEERS" "wg syncconf wg0 $work/changed.conf" \
	--case "wireguard-go: clique-boot apply, 1 changed of $PEERS" \
	"$APPLY -b userspace wg0 $work/changed.conf"
ip link del wg0 2>/dev/null || true

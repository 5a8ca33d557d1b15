#!/bin/bash
# Focused loop for issue 21 fault 2 (not part of make check: it is statistical, ~9 s a trial):
# K times, two new Linode nodes on one LAN (l4, l5: new keys, state wiped) boot in the same
# second into a running fleet (l1, v1), then both refresh at once, which adds each to the other
# at the same moment; right after, each pings the other (3 pings, 2 s). Before the fix 5 of 40
# trials failed: both ends had sent an initiation at once, answered the other's, dropped the
# answer to their own ("Received invalid response message" in both wireguard-go logs) and
# waited ~5 s for a retransmission. Prints one line per trial, the devices and wireguard-go's
# log of a failed one, and "bad=N of K"; exits 1 if N > 0.
# Env: K (default 40), P (namespace prefix), BUILD.
set -u
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 77; }
P=${P:-cbjt$$}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$TOP/${BUILD:-build}/clique-boot
NODES="l1 v1"
SPARE_NODES="l4 l5"
K=${K:-40}
. "$(dirname "$0")/fleet.sh"
EXTRA_CONF="userspace_command = $ST/wireguard-go"
trap fleet_down EXIT
fleet_up >/dev/null
set +e
mkdir -p "$ST/wggo"
cat >"$ST/wireguard-go" <<EOT
#!/bin/sh
LOG_LEVEL=verbose exec wireguard-go "\$@" >>"$ST/wggo/\$(hostname).log" 2>&1
EOT
chmod 755 "$ST/wireguard-go"
for n in $NODES; do run_node "$n" boot; done
peers() { grep -o 'summary: peers=[0-9]*' "$ST/logs/run-$1-$2.log" | cut -d= -f2; }
bad=0
for k in $(seq "$K"); do
	for n in $SPARE_NODES; do
		on "$n" ip link del wg0 2>/dev/null
		rm -rf "$ST/nodes/$n/root"
		mkdir -p "$ST/nodes/$n/root"
		: >"$ST/wggo/$n.log"
	done
	run_node l4 "b$k" &
	a=$!
	run_node l5 "b$k" &
	b=$!
	wait $a $b
	run_node l4 "r$k" --refresh &
	a=$!
	run_node l5 "r$k" --refresh &
	b=$!
	wait $a $b
	r=""
	on l4 busybox ping -c3 -W2 -q "$(mesh_ip l5)" >/dev/null 2>&1 || r+=" l4>l5"
	on l5 busybox ping -c3 -W2 -q "$(mesh_ip l4)" >/dev/null 2>&1 || r+=" l5>l4"
	echo "trial $k: peers at boot l4 $(peers l4 "b$k") l5 $(peers l5 "b$k"): ${r:-ok}"
	if [ -n "$r" ]; then
		bad=$((bad + 1))
		for n in $SPARE_NODES; do
			echo "--- $n: wg show wg0 dump (no private key, no PSK)"
			on "$n" wg show wg0 dump | awk -F'\t' 'NR > 1 { print $1, $3, $4, $5, $6, $7, $8 }'
			echo "--- $n: wireguard-go"
			grep -v 'Routine:\|UAPI:' "$ST/wggo/$n.log" | tail -20
		done
	fi
	for n in $SPARE_NODES; do run_node "$n" "lv$k" --leave; done
done
echo "bad=$bad of $K"
[ "$bad" = 0 ]

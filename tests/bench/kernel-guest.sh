#!/bin/sh
# Runs inside the VM (busybox sh, Debian's kernel WireGuard) for tests/bench/bench-kernel.sh:
# the kernel half of the apply figures of tests/bench/apply.sh. Interleaved like measure.py:
# each round runs the setup (not timed) and then one case, for every case of the group in turn.
#   fresh device: `ip link add wg0 type wireguard` (so only configuration is timed), then
#                 `wg setconf` | `wg-apply -b kernel` with full.conf; the device is destroyed
#                 before the next case
#   1 changed:    a fresh device loaded with `wg setconf full.conf`, then `wg setconf` |
#                 `wg syncconf` | `wg-apply -b kernel` with changed.conf (one endpoint moved)
# Each timed command goes through /opt/bench/kernel-time (wall, the child's cpu and max RSS),
# appended to $OUT/times as "TAG wall_s cpu_s maxrss_kb". Checks after the first round of each
# case (peer count, the moved endpoint) go to $OUT/checks; exit 0 only when none failed.
IN=/host/in
OUT=${OUT:-/tmp/out}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# Debian's busybox ash runs its own applets before PATH: iproute2 by absolute path.
ip() { /usr/sbin/ip "$@"; }
WGA=/opt/clique/wg-apply
KT=/opt/bench/kernel-time
. $IN/params
fails=0
say() { echo "guest: [$(cut -d' ' -f1 /proc/uptime)s] $*"; }
fail() {
	echo "FAIL $*" >>$OUT/checks
	say "FAIL $*"
	fails=$((fails + 1))
}
: >$OUT/checks
: >$OUT/times
say "start, kernel $(uname -r), $(nproc) cpus, clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
for m in $(cat /lib/modules/order.wg); do
	insmod /lib/modules/$m.ko || fail "insmod $m"
done
# off the 9p share: the commands read their config from memory, as on a real node
cp $IN/full.conf $IN/changed.conf /tmp/ || fail "copying the configs"
say "wireguard loaded, configs copied"

fresh() {
	if ip link show wg0 >/dev/null 2>&1; then
		ip link del wg0 || fail "ip link del wg0"
		i=0
		while ip link show wg0 >/dev/null 2>&1 && [ $i -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
	fi
	# let the old device's deferred frees settle before the next timed command
	sleep 0.3
	ip link add wg0 type wireguard || fail "ip link add wg0 type wireguard"
}
loaded() {
	fresh
	wg setconf wg0 /tmp/full.conf || fail "setup: wg setconf full.conf"
}
# check TAG WANT_ENDPOINT: the device holds $PEERS peers, the moved one where it should be
check() {
	n=$(wg show wg0 peers | wc -l)
	[ "$n" = "$PEERS" ] || fail "$1: $n peers on wg0, want $PEERS"
	n=$(wg show wg0 endpoints | grep -c '203\.0\.113\.77:51871')
	[ "$n" = "$2" ] || fail "$1: $n peers at the moved endpoint, want $2"
}
# t TAG CMD...: one timed run
t() {
	tag=$1
	shift
	$KT $OUT/times "$tag" "$@" || fail "$tag: $* exited $?"
}

r=1
while [ $r -le "$RUNS" ]; do
	fresh
	t fresh-setconf wg setconf wg0 /tmp/full.conf
	[ $r = 1 ] && check fresh-setconf 0
	fresh
	t fresh-apply $WGA -b kernel wg0 /tmp/full.conf
	[ $r = 1 ] && check fresh-apply 0
	say "fresh device: round $r done"
	r=$((r + 1))
done
r=1
while [ $r -le "$RUNS" ]; do
	loaded
	t diff-setconf wg setconf wg0 /tmp/changed.conf
	[ $r = 1 ] && check diff-setconf 1
	loaded
	t diff-syncconf wg syncconf wg0 /tmp/changed.conf
	[ $r = 1 ] && check diff-syncconf 1
	loaded
	t diff-apply $WGA -b kernel wg0 /tmp/changed.conf
	[ $r = 1 ] && check diff-apply 1
	say "1 changed: round $r done"
	r=$((r + 1))
done
ip link del wg0 2>/dev/null
say "done, $fails failure(s)"
[ $fails = 0 ]

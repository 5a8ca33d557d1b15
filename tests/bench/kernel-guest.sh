#!/bin/sh
# Runs inside the VM (busybox sh, Debian's kernel WireGuard) for tests/bench/bench-kernel.sh:
# the kernel half of the apply figures of tests/bench/apply.sh. Interleaved like measure.py:
# each round runs the setup (not timed) and then one case, for every case of the group in turn.
#   fresh device: `ip link add wgN type wireguard` (so only configuration is timed), then
#                 `wg setconf` | `wg-apply -b kernel` with full.conf
#   1 changed:    a fresh device loaded with `wg setconf full.conf` (link down, as apply.sh's
#                 wireguard-go device), then `wg setconf` | `wg syncconf` | `wg-apply -b kernel`
#                 with changed.conf (one endpoint moved)
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
# shellcheck disable=SC1091
. $IN/params
fails=0
say() { echo "guest: [$(cut -d' ' -f1 /proc/uptime)s] $*"; }
fail() {
	echo "FAIL $*" >>"$OUT/checks"
	say "FAIL $*"
	fails=$((fails + 1))
}
: >"$OUT/checks"
: >"$OUT/times"
say "start, kernel $(uname -r), $(nproc) cpus, clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
for m in $(cat /lib/modules/order.wg); do
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
# Unbound kernel work (the handshake workers wg-apply's link-up sets off: one initiation per peer,
# to endpoints this VM cannot reach) on CPU 1, the timed commands on CPU 0: a real node's link
# goes up too, but here the flood would land in the tail of wg-apply's wall and cpu time (2-30 s
# under TCG) and nowhere in `wg setconf`'s, which leaves the link down.
echo 2 >/sys/devices/virtual/workqueue/cpumask || fail "unbound workqueues on CPU 1"
# off the 9p share: the commands read their config from memory, as on a real node
cp $IN/full.conf $IN/changed.conf /tmp/ || fail "copying the configs"
say "wireguard loaded, configs copied"

# Each case gets a device of its own (wg1, wg2, ...), never destroyed: the kernel removes the
# peers of a dying device one by one, each after an RCU grace period of its own (about 180 s
# for 10,000 under TCG); ~25 MB each, so RUNS=3's 15 devices fit the VM's 1 GB.
dev=0
fresh() {
	dev=$((dev + 1))
	ip link add wg$dev type wireguard || fail "ip link add wg$dev type wireguard"
}
loaded() {
	fresh
	wg setconf wg$dev /tmp/full.conf || fail "setup: wg setconf wg$dev full.conf"
}
# settle: wait (at most 10 s) for a 0.5 s window with the CPUs >= 90% idle, so no deferred work
# of the setup or of the case before (RCU callbacks, handshake workers) lands in a timed run
settle() {
	i=0
	while [ $i -lt 20 ]; do
		# shellcheck disable=SC2046 # the fields of the cpu line
		set -- $(head -1 /proc/stat)
		a=$(($2 + $3 + $4 + $5 + $6 + $7 + $8))
		ai=$5
		sleep 0.5
		# shellcheck disable=SC2046 # the fields of the cpu line
		set -- $(head -1 /proc/stat)
		b=$(($2 + $3 + $4 + $5 + $6 + $7 + $8))
		[ $((($5 - ai) * 100)) -ge $(((b - a) * 90)) ] && return 0
		i=$((i + 1))
	done
	say "settle: still busy after 10 s"
}
# check TAG WANT_ENDPOINT: the device holds $PEERS peers, the moved one where it should be
check() {
	n=$(wg show wg$dev peers | wc -l)
	[ "$n" = "$PEERS" ] || fail "$1: $n peers on wg$dev, want $PEERS"
	n=$(wg show wg$dev endpoints | grep -c '203\.0\.113\.77:51871')
	[ "$n" = "$2" ] || fail "$1: $n peers at the moved endpoint, want $2"
}
# t TAG CMD...: one timed run on a settled machine; afterwards the device goes down (wg-apply
# brings the link up, and the kernel then queues a handshake for every peer: not for the next)
t() {
	tag=$1
	shift
	settle
	taskset 1 $KT "$OUT/times" "$tag" "$@" || fail "$tag: $* exited $?"
	ip link set wg$dev down
}

r=1
while [ $r -le "$RUNS" ]; do
	fresh
	t fresh-setconf wg setconf wg$dev /tmp/full.conf
	[ $r = 1 ] && check fresh-setconf 0
	fresh
	t fresh-apply $WGA -b kernel wg$dev /tmp/full.conf
	[ $r = 1 ] && check fresh-apply 0
	say "fresh device: round $r done"
	r=$((r + 1))
done
r=1
while [ $r -le "$RUNS" ]; do
	loaded
	t diff-setconf wg setconf wg$dev /tmp/changed.conf
	[ $r = 1 ] && check diff-setconf 1
	loaded
	t diff-syncconf wg syncconf wg$dev /tmp/changed.conf
	[ $r = 1 ] && check diff-syncconf 1
	loaded
	t diff-apply $WGA -b kernel wg$dev /tmp/changed.conf
	[ $r = 1 ] && check diff-apply 1
	say "1 changed: round $r done"
	r=$((r + 1))
done
say "memory: $(grep -E '^(MemFree|Slab):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
say "done, $fails failure(s)"
[ $fails = 0 ]

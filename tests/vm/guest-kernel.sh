#!/bin/sh
# Runs inside the VM (busybox sh, Debian's kernel) for tests/vm/test-kernel.sh. It drives and
# collects; the host judges most of it from what lands in $OUT. In-guest checks are "ok <name>"
# / "FAIL <name>" lines in $OUT/checks; the exit status is 0 only when none failed.
#
# Input (/host/in, written by the host): params, eq1.conf, eq2.conf (one desired device and a
# changed one, for wg-apply), nodes/<n>/{clique.conf,secret_key,mesh_key}, and "ready" once the
# bucket exists. Topology as tests/e2e/fleet.sh: l1-l3 on a LAN bridge and the internet bridge,
# v1-v3 on the internet bridge only, the bucket at 198.51.100.250:7480 -- a socat in the VM's
# root namespace that forwards to the host's radosgw at 10.0.2.2 (slirp).
IN=/host/in
OUT=${OUT:-/tmp/out}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# Debian's busybox ash runs its own applets before PATH: iproute2 by absolute path.
ip() { /usr/sbin/ip "$@"; }
CB=/opt/clique/clique-boot
# util-linux's: busybox's setpriv cannot change uids
SETPRIV="/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups"
WGA=/opt/clique/wg-apply
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
. $IN/params
NODES_A="l1 l2 l3 v1 v2"
NODES="$NODES_A v3"
fails=0
t() { cut -d' ' -f1 /proc/uptime; }
say() { echo "guest: [$(t)s] $*"; }
ok() { echo "ok $1" >>$OUT/checks; }
fail() {
	echo "FAIL $1${2:+: $2}" >>$OUT/checks
	echo "FAIL $1${2:+: $2}"
	fails=$((fails + 1))
}
mesh_ip() { case $1 in l*) echo "10.15.0.${1#?}" ;; *) echo "10.15.1.${1#?}" ;; esac; }
lan_ip() { case $1 in l*) echo "192.168.131.1${1#?}" ;; esac; }
wan_ip() { case $1 in l*) echo "198.51.100.1${1#?}" ;; *) echo "198.51.100.2${1#?}" ;; esac; }
nx() {
	n=$1
	shift
	ip netns exec "cb-$n" "$@"
}
: >$OUT/checks
mkdir -p $OUT/eq $OUT/A $OUT/B $OUT/C $OUT/D $OUT/logs $OUT/units
say "start, kernel $(uname -r)"

# --- 1. a kernel without WireGuard: the errors clique-boot maps to messages
cp $IN/eq1.conf /tmp/eq-nobody.conf
chmod 0644 /tmp/eq-nobody.conf
$WGA -b kernel wgx0 $IN/eq1.conf >$OUT/eq/nomod.out 2>&1
echo "rc=$?" >>$OUT/eq/nomod.out
wg show wgx0 >>$OUT/eq/nomod.out 2>&1
for m in $(cat /lib/modules/order.wg); do
	insmod /lib/modules/$m.ko || fail "insmod $m"
done
say "wireguard loaded"
$SETPRIV $WGA -b kernel wgp0 /tmp/eq-nobody.conf \
	>$OUT/eq/eperm-create.out 2>&1
echo "rc=$?" >>$OUT/eq/eperm-create.out

# a name taken by another kind of link is an error, not something to reconfigure
ip link add wgv0 type veth peer name wgv1
$WGA -b kernel wgv0 $IN/eq1.conf >$OUT/eq/eexist.out 2>&1
echo "rc=$?" >>$OUT/eq/eexist.out
ip link del wgv0

# --- 2. one desired device through the kernel and through wireguard-go (the host compares)
# apply NS BACKEND IF CONF TAG [ADDR]: wg-apply's report, then the device as wg(8) dumps it
apply() {
	ip netns exec "$1" $WGA -b "$2" -u /usr/bin/wireguard-go -a "${6:-10.99.0.1/24}" -m 1400 \
		"$3" "$4" >$OUT/eq/$5.out 2>&1
	echo "rc=$?" >>$OUT/eq/$5.out
	ip netns exec "$1" wg show "$3" dump >$OUT/eq/$5.dump 2>&1
}
# A dump that the device changes under (NLM_F_DUMP_INTR) must be restarted, not merged: strace
# stalls wg-apply's reads in the middle of its GET while "wg set" bumps the device's generation.
dump_intr() {
	ip netns exec eq-kernel sh -c 'while :; do wg set wgk0 fwmark 0; sleep 0.05; done' &
	wpid=$!
	ip netns exec eq-kernel env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o $OUT/eq/intr.strace \
		-e trace=socket,sendto,sendmsg,recvmsg -e inject=recvmsg:delay_exit=400000:when=5..6 \
		$WGA -b kernel -a 10.99.0.1/24 -m 1400 wgk0 $IN/eq1.conf >$OUT/eq/kernel-intr.out 2>&1
	echo "rc=$?" >>$OUT/eq/kernel-intr.out
	kill $wpid
	wait $wpid 2>/dev/null
}
for b in kernel userspace; do
	ns=eq-$b
	if=wg${b%"${b#?}"}0
	ip netns add $ns
	ip -n $ns link set lo up
	apply $ns $b $if $IN/eq1.conf $b-1
	apply $ns $b $if $IN/eq1.conf $b-1again
	[ $b = kernel ] && dump_intr
	apply $ns $b $if $IN/eq2.conf $b-2
	apply $ns $b $if $IN/eq2.conf $b-2again
	apply $ns $b $if $IN/eq2.conf $b-v6 fd99::1/64
	apply $ns $b $if $IN/eq2.conf $b-v6again fd99::1/64
	ip -n $ns -d link show $if >$OUT/eq/$b.link 2>&1
	ip -n $ns addr show dev $if >$OUT/eq/$b.addr 2>&1
	say "eq: $b applied"
done
# a device that exists, as nobody: the dump is refused too
ip netns exec eq-kernel $SETPRIV \
	$WGA -b kernel wgk0 /tmp/eq-nobody.conf >$OUT/eq/eperm-get.out 2>&1
echo "rc=$?" >>$OUT/eq/eperm-get.out
for b in kernel userspace; do
	if=wg${b%"${b#?}"}0
	ip netns exec eq-$b $WGA -D $if >$OUT/eq/$b-destroy.out 2>&1
	echo "rc=$?" >>$OUT/eq/$b-destroy.out
	i=0
	while ip -n eq-$b link show $if >/dev/null 2>&1 && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	ip -n eq-$b link show $if >>$OUT/eq/$b-destroy.out 2>&1
done
say "eq: done"

# --- 3. the fleet's fabric, nodes, and the way to the bucket
ip netns add fab
ip -n fab link set lo up
for br in br-lan br-inet; do
	ip -n fab link add $br type bridge
	ip -n fab link set $br up
done
ip link add s3gw type veth peer name s3 netns fab
ip -n fab link set s3 master br-inet up
ip addr add 198.51.100.250/24 dev s3gw
ip link set s3gw up
socat TCP-LISTEN:7480,bind=198.51.100.250,fork,reuseaddr TCP:10.0.2.2:$S3_PORT \
	>$OUT/logs/socat.log 2>&1 &
for n in $NODES; do
	ip netns add cb-$n
	ip -n cb-$n link set lo up
	if [ -n "$(lan_ip $n)" ]; then
		ip -n fab link add $n-lan type veth peer name eth1 netns cb-$n
		ip -n fab link set $n-lan master br-lan up
		ip -n cb-$n addr add "$(lan_ip $n)/24" dev eth1
		ip -n cb-$n link set eth1 up
	fi
	ip -n fab link add $n-wan type veth peer name eth0 netns cb-$n
	ip -n fab link set $n-wan master br-inet up
	ip -n cb-$n addr add "$(wan_ip $n)/24" dev eth0
	ip -n cb-$n link set eth0 up
	mkdir -p /etc/clique /nodes/$n
	cp -a $IN/nodes/$n /etc/clique/$n
done
say "fabric up"
i=0
while [ ! -e $IN/ready ] && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -e $IN/ready ] || fail "bucket ready" "the host never said so"
say "bucket ready"

# run N TAG [ARGS]: clique-boot on node N; log and exit status in $OUT/logs
run() {
	n=$1
	tag=$2
	shift 2
	nx $n $CB --config /etc/clique/$n/clique.conf --root /nodes/$n "$@" \
		>$OUT/logs/run-$n-$tag.log 2>&1
	rc=$?
	echo $rc >$OUT/logs/rc-$n-$tag
	[ $rc = 0 ] || fail "clique-boot $n $tag" "exit $rc"
}
dumps() { for n in $2; do nx $n wg show wg0 dump >$OUT/$1/$n.dump 2>&1; done; }
# pings FILE NODES: every ordered pair over wg0, a few tries for the first handshake
pings() {
	: >$OUT/$1
	for a in $2; do
		for b in $2; do
			[ $a = $b ] && continue
			r=FAIL
			for _ in 1 2 3; do
				if nx $a ping -c1 -W2 -q "$(mesh_ip $b)" >/dev/null 2>&1; then
					r=ok
					break
				fi
			done
			echo "$a $b $r" >>$OUT/$1
		done
	done
	nf=$(grep -c FAIL $OUT/$1)
	np=$(grep -c ' ok$' $OUT/$1)
	if [ "$nf" = 0 ]; then ok "$3: $np/$np ordered pairs ping over kernel wg0"; else fail "$3" "$nf pairs"; fi
}

# --- 4. first boot of five nodes, then each refreshes once (learns the later ones)
for n in $NODES_A; do run $n boot; done
for n in $NODES_A; do run $n refresh1 --refresh; done
say "five nodes booted and refreshed"
pings ping-A.txt "$NODES_A" "five-node mesh"
dumps A "$NODES_A"
say "five-node ping matrix done"

# --- 5. v3 joins; a refresh on the others adds it without touching their sessions
run v3 boot
for n in $NODES_A; do run $n join --refresh; done
dumps B "$NODES_A"
say "v3 joined"
pings ping-C.txt "$NODES" "six-node mesh after the join"
dumps C "$NODES"

# --- 6. a refresh with nothing new changes nothing
for n in $NODES; do run $n noop --refresh; done
dumps D "$NODES"
say "no-op refresh done"

# --- 7. what clique-boot says it configured, for the host to hold against wg(8)
for n in $NODES; do
	nx $n $CB --config /etc/clique/$n/clique.conf --root /nodes/$n --dry-run --json \
		>$OUT/logs/dry-$n.json 2>$OUT/logs/dry-$n.err || fail "dry-run $n"
	mkdir -p $OUT/units/$n
	cp /nodes/$n/etc/systemd/network/* $OUT/units/$n/
	ls -ln /nodes/$n/etc/systemd/network/ >$OUT/units/$n/ls.txt
	wg pubkey </nodes/$n/var/lib/clique-boot/private.key >$OUT/units/$n/pub
	ip -n cb-$n -d link show wg0 >$OUT/units/$n/link 2>&1
	ip -n cb-$n addr show dev wg0 >$OUT/units/$n/addr 2>&1
done
lsmod >$OUT/lsmod.txt
dmesg >$OUT/dmesg.txt
say "done, $fails in-guest failure(s)"
[ $fails = 0 ]

#!/bin/bash
# e2e: the userspace (UAPI) backend against a real wireguard-go, through tests/tools/wg-apply.
# Two nodes a and b = network namespaces joined by a veth, each with a private mount namespace
# holding its own tmpfs /run/wireguard (shared/reference/test-tiers.md tier 1, MODE=mountns):
# the UAPI socket path is global to the mount namespace, not the network namespace.
# Checks: first apply creates the device and configures exactly the desired peers; an identical
# apply is "noop" and sends no set=1; adding/removing a peer and changing an endpoint leave the
# other peers' sessions alone; MTU, address and up; a real handshake (ping across); the daemon
# does not inherit CLIQUE_* variables; destroy makes the daemon exit.
# Needs root, wireguard-go, wg, iproute2, util-linux, busybox (ping), strace; else exit 77.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WG_APPLY=${WG_APPLY:-$BUILD/tools/wg-apply}
WG_APPLY=$(realpath "$WG_APPLY" 2>/dev/null || echo "$WG_APPLY")
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root"
for c in wireguard-go wg ip nsenter unshare busybox strace; do
	command -v "$c" >/dev/null || skip "$c not installed"
done
[ -x "$WG_APPLY" ] || skip "$WG_APPLY not built"

P=cbu$$
ST=$(mktemp -d /run/cbu.XXXXXX)
failed=0
ok() { echo "ok $1"; }
fail() {
	echo "FAIL $1${2:+: $2}"
	failed=$((failed + 1))
}
check() { # name cmd...
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

cleanup() {
	set +e
	local n pid
	for n in a b; do
		for pid in $(ip netns pids "$P-$n" 2>/dev/null); do kill "$pid" 2>/dev/null; done
	done
	sleep 0.2
	for n in a b; do
		for pid in $(ip netns pids "$P-$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	done
	for n in a b; do umount "$ST/ns/mnt-$n" 2>/dev/null; done
	mountpoint -q "$ST/ns" && umount "$ST/ns"
	for n in a b; do ip netns del "$P-$n" 2>/dev/null; done
	rm -rf "$ST"
}
trap cleanup EXIT

nx() { # node cmd...: run "on" a node
	local n=$1
	shift
	nsenter --net="/run/netns/$P-$n" --mount="$ST/ns/mnt-$n" -- "$@"
}

setup() {
	mkdir -p "$ST/ns" || return 1
	# ns files must live on a private mount to be bind-mounted (test-tiers.md tier 1)
	mount --bind "$ST/ns" "$ST/ns" && mount --make-private "$ST/ns" || return 1
	for n in a b; do
		ip netns add "$P-$n" || return 1
		ip -n "$P-$n" link set lo up
		touch "$ST/ns/mnt-$n"
		nsenter --net="/run/netns/$P-$n" unshare --mount="$ST/ns/mnt-$n" \
			--propagation private sh -ec \
			"mkdir -p /run/wireguard; mount -t tmpfs -o mode=0755 cbu-$n /run/wireguard" ||
			return 1
	done
	ip -n "$P-a" link add veth0 type veth peer name veth0 netns "$P-b" || return 1
	ip -n "$P-a" addr add 10.77.0.1/24 dev veth0
	ip -n "$P-b" addr add 10.77.0.2/24 dev veth0
	ip -n "$P-a" link set veth0 up
	ip -n "$P-b" link set veth0 up
	umask 077
	for k in a b p1 p2 p3; do
		wg genkey >"$ST/$k.key" && wg pubkey <"$ST/$k.key" >"$ST/$k.pub" || return 1
	done
	wg genpsk >"$ST/psk"
	umask 022
}

pub() { cat "$ST/$1.pub"; }
peer() { # key endpoint allowed-ip [keepalive]
	printf '[Peer]\nPublicKey = %s\nEndpoint = %s\nAllowedIPs = %s\n' "$(pub "$1")" "$2" "$3"
	[ -n "${4:-}" ] && printf 'PersistentKeepalive = %s\n' "$4"
	return 0
}
conf_a() { # extra peers as "name=endpoint" arguments
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat "$ST/a.key")"
	peer b 10.77.0.2:51820 10.15.0.2/32 25
	printf 'PresharedKey = %s\n' "$(cat "$ST/psk")"
	local arg name
	for arg in "$@"; do
		name=${arg%%=*}
		peer "$name" "${arg#*=}" "10.15.9.${name#p}/32"
	done
}
conf_b() {
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat "$ST/b.key")"
	peer a 10.77.0.1:51820 10.15.0.1/32
	printf 'PresharedKey = %s\n' "$(cat "$ST/psk")"
}

apply() { # node conf-file -> output in $ST/out
	nx "$1" env CLIQUE_TEST_SECRET=s3cret "$WG_APPLY" -a "10.15.0.$2/16" -m 1380 wg0 "$3" \
		>"$ST/out" 2>&1
}
out_has() { grep -qx "$1" "$ST/out" || { sed 's/^/# /' "$ST/out"; return 1; }; }
# "pubkey endpoint allowed-ips keepalive" of every peer, sorted
peers_of() { nx "$1" wg show wg0 dump | tail -n +2 | awk '{print $1, $3, $4, $8}' | sort; }
peer_field() { # node peer-name column
	nx "$1" wg show wg0 dump | awk -v k="$(pub "$2")" -v c="$3" '$1 == k {print $c}'
}

expect_peers() { # node, then "name endpoint allowed keepalive" lines
	local node=$1 want
	shift
	want=$(for l in "$@"; do
		set -- $l
		echo "$(pub "$1") $2 $3 $4"
	done | sort)
	[ "$(peers_of "$node")" = "$want" ] || {
		echo "# got:"; peers_of "$node" | sed 's/^/# /'
		echo "# want:"; echo "$want" | sed 's/^/# /'
		return 1
	}
}

setup || { fail setup; exit 1; }
ok setup

# 1. first apply: creates the device (wireguard-go), exactly the desired peers
conf_a p1=192.0.2.11:51820 p2=192.0.2.12:51820 >"$ST/a1.conf"
apply a 1 "$ST/a1.conf"
check first-apply-created out_has "backend=userspace created=1"
check first-apply-added out_has "added=3 removed=0 changed=0 device=1"
check first-apply-peers expect_peers a "b 10.77.0.2:51820 10.15.0.2/32 25" \
	"p1 192.0.2.11:51820 10.15.9.1/32 off" "p2 192.0.2.12:51820 10.15.9.2/32 off"
check first-apply-psk test "$(peer_field a b 2)" = "$(cat "$ST/psk")"
check first-apply-port test "$(nx a wg show wg0 listen-port)" = 51820
check link-mtu-up sh -c "nsenter --net=/run/netns/$P-a --mount=$ST/ns/mnt-a ip -d link show wg0 |
	grep -q 'mtu 1380' && nsenter --net=/run/netns/$P-a ip link show wg0 | grep -q ',UP'"
check link-address sh -c "ip -n $P-a addr show wg0 | grep -q 'inet 10.15.0.1/16 '"
check link-created-changed out_has "link=changed"

# the daemon must not see our CLIQUE_* variables (secrets may be in them)
env_ok() {
	local pid
	for pid in $(ip netns pids "$P-a"); do
		tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^CLIQUE_' && return 1
		tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^WG_I_PREFER' || return 1
	done
	[ -n "$(ip netns pids "$P-a")" ]
}
check daemon-env-filtered env_ok

# 2. node b, and a real handshake across
conf_b >"$ST/b1.conf"
apply b 2 "$ST/b1.conf"
check b-apply out_has "added=1 removed=0 changed=0 device=1"
# the first packet waits for the handshake: retry a few times
ping_b() {
	local i
	for i in 1 2 3 4 5; do
		nx a busybox ping -c1 -W2 -q 10.15.0.2 >/dev/null 2>&1 && return 0
	done
	return 1
}
check ping-across ping_b
check handshake test "$(peer_field a b 5)" -gt 0

# 3. identical apply: noop and no set=1 on the socket
hs_before=$(peer_field a b 5)
# LeakSanitizer cannot run under ptrace
nx a env CLIQUE_TEST_SECRET=s3cret ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=sendto,write,sendmsg -s 64 \
	-o "$ST/strace.log" "$WG_APPLY" -a 10.15.0.1/16 -m 1380 wg0 "$ST/a1.conf" >"$ST/out" 2>&1
check second-apply-noop out_has noop
check second-apply-sends-no-set sh -c "grep -q 'get=1' $ST/strace.log && ! grep -q 'set=1' $ST/strace.log"
check second-apply-link-unchanged out_has "link=unchanged"

# 4. add one peer: the others keep their state
conf_a p1=192.0.2.11:51820 p2=192.0.2.12:51820 p3=192.0.2.13:51820 >"$ST/a2.conf"
apply a 1 "$ST/a2.conf"
check add-peer out_has "added=1 removed=0 changed=0 device=0"
check add-peer-peers expect_peers a "b 10.77.0.2:51820 10.15.0.2/32 25" \
	"p1 192.0.2.11:51820 10.15.9.1/32 off" "p2 192.0.2.12:51820 10.15.9.2/32 off" \
	"p3 192.0.2.13:51820 10.15.9.3/32 off"
check add-peer-session-kept test "$(peer_field a b 5)" = "$hs_before"

# 5. remove one peer
conf_a p2=192.0.2.12:51820 p3=192.0.2.13:51820 >"$ST/a3.conf"
apply a 1 "$ST/a3.conf"
check remove-peer out_has "added=0 removed=1 changed=0 device=0"
check remove-peer-gone test -z "$(peer_field a p1 1)"

# 6. change an endpoint only (and an IPv6 one written in a non-canonical form)
conf_a p2=192.0.2.99:51821 p3=192.0.2.13:51820 >"$ST/a4.conf"
apply a 1 "$ST/a4.conf"
check endpoint-change out_has "added=0 removed=0 changed=1 device=0"
check endpoint-change-live test "$(peer_field a p2 3)" = 192.0.2.99:51821
conf_a p2='[fd00:0:0::99]:51821' p3=192.0.2.13:51820 >"$ST/a5.conf"
apply a 1 "$ST/a5.conf"
check endpoint-v6 test "$(peer_field a p2 3)" = "[fd00::99]:51821"
apply a 1 "$ST/a5.conf"
check endpoint-v6-noop out_has noop
check session-kept-throughout test "$(peer_field a b 5)" = "$hs_before"
check ping-after-changes ping_b

# 6b. a new mesh address replaces the old one on the link (no stale address stays routed)
apply a 9 "$ST/a5.conf"
check address-change-link out_has "link=changed"
check address-change-only-new sh -c "[ \"\$(ip -n $P-a -4 -o addr show wg0 | awk '{print \$4}')\" = 10.15.0.9/16 ]"
apply a 1 "$ST/a5.conf"
check address-change-back sh -c "[ \"\$(ip -n $P-a -4 -o addr show wg0 | awk '{print \$4}')\" = 10.15.0.1/16 ]"
check ping-after-address-change ping_b

# 7. destroy: deleting the link makes wireguard-go exit and remove its socket
nx b "$WG_APPLY" -D wg0 >"$ST/out" 2>&1
gone() {
	local i
	for i in $(seq 50); do
		[ -z "$(ip netns pids "$P-b")" ] && ! nx b test -e /run/wireguard/wg0.sock && return 0
		sleep 0.1
	done
	return 1
}
check destroy gone
check destroy-link-gone sh -c "! ip -n $P-b link show wg0 >/dev/null 2>&1"

[ "$failed" = 0 ]

#!/bin/bash
# vm (issue 3): the kernel backend (genetlink + rtnetlink through libmnl) against a real Debian
# kernel's WireGuard, in a qemu TCG VM (shared/reference/test-tiers.md tier 2).
#
# The VM boots Debian's linux-image (unpacked once into /var/cache/clique-vm, see vm-lib.sh) with
# a busybox initramfs holding clique-boot, tests/tools/wg-apply, wg, ip, wireguard-go and socat.
# Inside it (tests/vm/guest-kernel.sh):
#   - before the module is loaded: "kernel has no WireGuard"; without CAP_NET_ADMIN: EPERM;
#   - one desired device (245 peers, one with 700 allowed IPs, so SETs and dumps span many
#     messages) applied by wg-apply through the kernel and through wireguard-go, then a changed
#     one: both dumps must equal the config and each other, re-applying must be a no-op;
#   - the e2e fleet (tests/e2e/fleet.sh's topology, provider = static, backend = kernel): five
#     nodes boot and refresh, the ping matrix, v3 joins (the others' sessions must survive their
#     refresh), the six-node matrix, a no-op refresh, wg show held against the units and --dry-run.
# The bucket is a real radosgw on the host: qemu and radosgw share a private network namespace,
# so slirp's 10.0.2.2 is radosgw's loopback; in the VM a socat on the root namespace's leg of
# the internet bridge (198.51.100.250:7480, the e2e bucket address) forwards to it.
# Verdict: qemu's isa-debug-exit code, the guest's checks and the host's (vmcheck.py judge).
# Env: KEEP=1 keeps the work dir; VM_CACHE, VM_TIMEOUT; CLIQUE_BIN, WG_APPLY override binaries.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
VM_T0=$EPOCHREALTIME
. tests/vm/vm-lib.sh
PY=/usr/bin/python3

skip() { echo "SKIPPED: $*"; exit 77; }
die() {
	echo "FAIL vm setup: $*"
	exit 1
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, qemu's 9p share)"
for c in qemu-system-x86_64 cpio gzip socat wg wireguard-go busybox s3cmd radosgw ip dpkg-deb; do
	command -v "$c" >/dev/null || die "$c not installed (tests/install-deps.sh installs it)"
done

# clique-boot: the static build when there is one (what ships), else the dynamic one with its
# libraries; wg-apply from $BUILD (the sanitizer build under make check)
# (a static build older than the sources is not what ships: skip it)
if [ -z "${CLIQUE_BIN:-}" ]; then
	for CLIQUE_BIN in build-static/clique-boot build/clique-boot "$BUILD/clique-boot"; do
		[ -x "$CLIQUE_BIN" ] || continue
		[ -n "$(find bootstrap metadata -name '*.[ch]' -newer "$CLIQUE_BIN" | head -1)" ] &&
			[ "$CLIQUE_BIN" = build-static/clique-boot ] && continue
		break
	done
fi
if [ -z "${WG_APPLY:-}" ]; then
	for WG_APPLY in "$BUILD/tools/wg-apply" build/tools/wg-apply; do
		[ -x "$WG_APPLY" ] && break
	done
fi
[ -x "$CLIQUE_BIN" ] || die "no clique-boot binary (make)"
[ -x "$WG_APPLY" ] || die "no wg-apply (make unit-bins)"

P=cbvm$$
WORK=$(mktemp -d /tmp/clique-vm.XXXXXX)
SHARE=$WORK/share
BUCKET=clique-vm
ACCESS_KEY=VMTESTACCESSKEY00001
SECRET_KEY=vmtestsecretkey0000000000000000000000001
mkdir -p "$SHARE/in" "$SHARE/out"

cleanup() {
	set +e
	local pid
	[ -n "${HELPER:-}" ] && kill "$HELPER" 2>/dev/null
	[ -f "$WORK/rgw/env" ] && ip netns exec "$P" bash tests/e2e/rgw.sh down "$WORK/rgw" >/dev/null 2>&1
	# whatever still lives in our namespace (qemu after a timeout, a half-started ceph), by pid
	for pid in $(ip netns pids "$P" 2>/dev/null); do kill "$pid" 2>/dev/null; done
	sleep 0.2
	for pid in $(ip netns pids "$P" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	ip netns del "$P" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

vm_kernel || die "no Debian kernel"
vm_log "kernel $VM_KVER ($(basename "$(dirname "$VM_KERNEL")"))"

# --- the bucket, in the background while the initramfs is built and the VM boots
ip netns add "$P" || die "ip netns add"
ip -n "$P" link set lo up
bucket_up() {
	ip netns exec "$P" env MON_PORT=41789 MON_PORT2=41300 ACCESS_KEY=$ACCESS_KEY \
		SECRET_KEY=$SECRET_KEY bash tests/e2e/rgw.sh up "$WORK/rgw" 7480 >"$WORK/rgw.log" 2>&1 ||
		return 1
	ip netns exec "$P" s3cmd --no-ssl --host=127.0.0.1:7480 --host-bucket=127.0.0.1:7480 \
		--access_key=$ACCESS_KEY --secret_key=$SECRET_KEY -q mb "s3://$BUCKET" \
		>>"$WORK/rgw.log" 2>&1 || return 1
	vm_log "radosgw up, bucket made" >>"$WORK/rgw.log"
	touch "$SHARE/in/ready"
}
bucket_up &
HELPER=$!

# --- the guest's input: node configs (as user_data would write them), the eq devices
mesh_ip() { case $1 in l*) echo "10.15.0.${1#?}" ;; *) echo "10.15.1.${1#?}" ;; esac; }
echo "S3_PORT=7480" >"$SHARE/in/params"
MESH_KEY=$(head -c 32 /dev/urandom | base64)
umask 077
for n in l1 l2 l3 v1 v2 v3; do
	d=$SHARE/in/nodes/$n
	mkdir -p "$d"
	printf '%s\n' "$SECRET_KEY" >"$d/secret_key"
	printf '%s\n' "$MESH_KEY" >"$d/mesh_key"
	i=${n#?}
	case $n in
	l*) cloud=linode region=ap-south wan=198.51.100.1$i lan="lan_ipv4 = 192.168.131.1$i" ;;
	v*) cloud=vultr region=sgp wan=198.51.100.2$i lan="" ;;
	esac
	# the vultr nodes take the default backend (auto must find the kernel's); l2 sets an MTU
	backend="backend = kernel"
	[ "$cloud" = vultr ] && backend="# backend = auto"
	mtu=""
	[ "$n" = l2 ] && mtu="mtu = 1380"
	cat >"$d/clique.conf" <<EOF
# tests/vm/test-kernel.sh, node $n
bucket_endpoint = http://198.51.100.250:7480
bucket = $BUCKET
access_key = $ACCESS_KEY
secret_key_file = /etc/clique/$n/secret_key
mesh_key_file = /etc/clique/$n/mesh_key
network = 10.15.0.0/16
address = $(mesh_ip "$n")
listen_port = 51871
provider = static
$backend
$mtu
instance_id = vm-$n
name = $cloud-$i
region = $region
zone = $cloud/$region
wan_ipv4 = $wan
$lan
EOF
done
umask 022
$PY tests/vm/vmcheck.py gen "$SHARE/in" || die "vmcheck.py gen"

# --- the initramfs: clique-boot and wg-apply go to /opt/clique
vm_initramfs "$WORK/root" tests/vm/guest-kernel.sh \
	/usr/sbin/ip /usr/bin/wg /usr/bin/wireguard-go /usr/bin/socat /usr/bin/setpriv /usr/bin/strace || die "initramfs"
vm_copy_bin "$WORK/root" "$CLIQUE_BIN" /opt/clique/clique-boot || die "copying clique-boot"
vm_copy_bin "$WORK/root" "$WG_APPLY" /opt/clique/wg-apply || die "copying wg-apply"
vm_pack "$WORK/root" "$WORK/initramfs.gz" || die "cpio"
vm_log "initramfs $(du -h "$WORK/initramfs.gz" | cut -f1) ($(basename "$CLIQUE_BIN") from $(dirname "$CLIQUE_BIN"), wg-apply from $(dirname "$WG_APPLY"))"

# --- boot; a watcher notes when /init starts (the boot time, firmware included)
T_QEMU=$EPOCHREALTIME
(
	for _ in $(seq 1200); do
		if grep -q 'init: up' "$WORK/console.log" 2>/dev/null; then
			awk -v a="$T_QEMU" -v b="$EPOCHREALTIME" \
				'BEGIN{printf "# boot: qemu start to /init %.1f s\n", b-a}' >"$WORK/boot.txt"
			exit
		fi
		sleep 0.1
	done
) &
WATCHER=$!
VM_NETNS=$P vm_boot "$WORK/initramfs.gz" "$SHARE" "$WORK/console.log"
qrc=$?
kill "$WATCHER" 2>/dev/null
vm_log "qemu exited with $qrc after $(awk -v a="$T_QEMU" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f s", b-a}')"
cat "$WORK/boot.txt" 2>/dev/null
grep -aoE 'init: (up|guest script) .*' "$WORK/console.log" | sed 's/^/# /'
wait "$HELPER"
hrc=$?
HELPER=""
[ $hrc = 0 ] || { echo "FAIL radosgw on the host"; tail -30 "$WORK/rgw.log"; }

verdict=0
case $qrc in
1) echo "ok VM booted Debian $VM_KVER and the guest script passed" ;;
3) echo "FAIL guest script (isa-debug-exit 3)"; verdict=1 ;;
124) echo "FAIL VM timed out after ${VM_TIMEOUT}s"; verdict=1 ;;
*) echo "FAIL VM did not boot or exited without a verdict (qemu $qrc)"; verdict=1 ;;
esac
[ -f "$SHARE/out/guest.log" ] || verdict=1
$PY tests/vm/vmcheck.py judge "$SHARE" || verdict=1
if [ -f "$SHARE/in/ready" ]; then
	nobj=$(ip netns exec "$P" s3cmd --no-ssl --host=127.0.0.1:7480 --host-bucket=127.0.0.1:7480 \
		--access_key=$ACCESS_KEY --secret_key=$SECRET_KEY ls "s3://$BUCKET/clique/nodes/" 2>/dev/null |
		grep -cE "s3://$BUCKET/clique/nodes/[0-9a-f]{32}$")
	[ "$nobj" = 6 ] && echo "ok the host's radosgw holds the 6 records the VM published" ||
		{ echo "FAIL bucket holds $nobj opaque records, want 6"; verdict=1; }
fi
if [ $verdict != 0 ]; then
	echo "# ---- console (last 150 lines)"
	tail -150 "$WORK/console.log" | sed 's/^/# /'
	for f in "$SHARE"/out/logs/run-*.log; do
		[ -f "$f" ] && grep -qiE 'error|fail|warn|summary' "$f" &&
			{ echo "# ---- $(basename "$f")"; tail -5 "$f" | sed 's/^/# /'; }
	done
fi
vm_log "tier done"
exit $verdict

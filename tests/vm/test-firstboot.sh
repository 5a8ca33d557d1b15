#!/bin/bash
# vm (issue 7): a real first boot. Two Debian 12 VMs (qemu TCG, systemd as PID 1, Debian's
# kernel with its WireGuard module, real systemd-networkd and cloud-init) boot with the
# project's own user_data: cloud-config/linode.yaml for one, cloud-config/vultr.yaml for the
# other, rendered as Terraform's templatefile() would with test values, on a cloud-init NoCloud
# seed (a "cidata" ISO). The user_data installs the project's .deb, which the operator's part of
# this test put in a bucket as a public object (README's quick start), and writes the config;
# clique-boot.service forms the mesh at first boot. Then one VM reboots: wg0 must come back
# from the networkd units alone with the same key, the mesh must ping again and the refresh
# timer's next run must change nothing. The linode VM boots an image configured like Linode's
# (ifupdown, networkd disabled: FB_VARIANT=ifupdown) and reboots last, with its metadata
# service and the bucket unreachable: wg0 must come back from the units with the same peer,
# ifupdown keep its NICs, and boot not wait for systemd-networkd-wait-online.
#
# The network (all of it in namespaces this test makes; nothing leaves the machine):
#
#   netns <P>-hub: bridge 192.0.2.1/24 "the internet side of the cloud": radosgw (the bucket
#        and the .deb, :7480) and the Debian mirror (:8080: the packages the user_data's
#        `packages:` and the .deb's Depends pull in, cached with the image)
#   netns <P>-linode, <P>-vultr: one qemu each, a veth into the hub (192.0.2.11/.12) and, on
#        its lo, 169.254.169.254 with the cloud's fake metadata service (tests/fakes/metadata.py:
#        Linode's token flow, Vultr's /v1.json). The VM's first NIC is slirp (-netdev user):
#        slirp's connect()s happen in qemu's netns, so the VM reaches "its" metadata service at
#        169.254.169.254 and the hub at 192.0.2.1 with no route, tap or bridge on the host.
#   The VMs' second NIC, the "public" one: a point-to-point Ethernet between the two qemus
#        (-netdev dgram over two unix sockets: no host interface, nothing for the host's
#        firewall, survives a guest reboot), 203.0.113.11/24 (linode) and .12 (vultr), plus a
#        private 192.168.130.x and a 2001:db8:113::x. The metadata describes exactly these
#        addresses, so the WireGuard endpoints clique-boot derives from it are the real ones.
#
# The image (tests/vm/firstboot-image.sh, cached in /var/cache/clique-vm/firstboot) is booted
# with snapshot=on: every run is a first boot, and the in-guest reboot keeps the VM's writes
# (the overlay lives as long as qemu). The checks run inside the VMs (tests/vm/firstboot-guest.sh,
# from a 9p share); the host compares what both report (PSK, keys) and orders the reboot.
# A failure prints the guest's report, the journal's interesting lines and the console.
# Env: KEEP=1 keeps the work dir; VM_CACHE; FB_TIMEOUT (s, default 1500) for the whole run.
# shellcheck disable=SC2015 # `check && ok ... || fail ...`: ok only prints
# shellcheck disable=SC2086 # $VMS is a list of words
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
VM_T0=$EPOCHREALTIME
# shellcheck source=tests/vm/firstboot-image.sh
. tests/vm/firstboot-image.sh
PY=/usr/bin/python3
FB_TIMEOUT=${FB_TIMEOUT:-1500}
log() { fb_log "$@"; }
skip() {
	echo "SKIPPED: $*"
	exit 77
}
die() {
	echo "FAIL firstboot setup: $*"
	exit 1
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, debootstrap, qemu's 9p share)"
for c in qemu-system-x86_64 debootstrap genisoimage mkfs.ext4 dpkg-scanpackages dpkg-deb radosgw \
	s3cmd ip unshare flock; do
	command -v "$c" >/dev/null || die "$c not installed (tests/install-deps.sh installs it)"
done

# -- the .deb (make deb; rebuilt here when missing or older than the sources)
ver=$(sed -n 's/^VERSION := //p' Makefile)
DEB=build-deb/clique-boot_${ver}_amd64.deb
if [ ! -f "$DEB" ] || [ -n "$(find bootstrap metadata packaging -type f -newer "$DEB" | head -1)" ]; then
	log "building the .deb"
	bash packaging/deb/build.sh >/tmp/firstboot-deb.$$.log 2>&1 ||
		{ tail -20 /tmp/firstboot-deb.$$.log; rm -f /tmp/firstboot-deb.$$.log; die "make deb failed"; }
	rm -f /tmp/firstboot-deb.$$.log
fi
DEB=$TOP/$DEB

P=cbfb$$
WORK=$(mktemp -d /tmp/clique-firstboot.XXXXXX)
HUB=$P-hub
BUCKET=clique-mesh
DIST=clique-dist
ACCESS_KEY=FBTESTACCESSKEY00001
SECRET_KEY=fbtestsecretkey0000000000000000000000001
VMS="linode vultr"
QPIDS=""
cleanup() {
	set +e
	local pid ns
	for pid in $QPIDS; do kill "$pid" 2>/dev/null; done
	[ -f "$WORK/rgw/env" ] && ip netns exec "$HUB" bash tests/e2e/rgw.sh down "$WORK/rgw" >/dev/null 2>&1
	for ns in "$HUB" "$P-linode" "$P-vultr"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
	done
	sleep 0.3
	for ns in "$HUB" "$P-linode" "$P-vultr"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "${KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# -- per-VM facts: index, provider, the public NIC's MAC and addresses, mesh address
idx() { case $1 in linode) echo 1 ;; vultr) echo 2 ;; esac; }
peer_of() { case $1 in linode) echo vultr ;; vultr) echo linode ;; esac; }
mac_pub() { echo "52:54:00:cb:00:0$(idx "$1")"; } # firstboot-image.sh's 10-vm-pub<i>.network
wan() { echo "203.0.113.1$(idx "$1")"; }
wan6() { echo "2001:db8:113::1$(idx "$1")"; }
lan() { echo "192.168.130.1$(idx "$1")"; }
mesh() { case $1 in linode) echo 10.15.0.1 ;; vultr) echo 10.15.1.1 ;; esac; }
name() { echo "$1-1"; }

# Metadata documents as the clouds serve them (tests/e2e/fleet.sh), with this VM's addresses
metadata_json() {
	case $1 in
	linode)
		cat <<EOF
{"instance": {"id": 41000001, "label": "$(name linode)", "region": "ap-south",
  "type": "g6-nanode-1", "specs": {"vcpus": 1, "memory": 1024, "gpus": 0, "transfer": 1000,
  "disk": 25600}, "backups": {"enabled": false, "status": null},
  "host_uuid": "a631b16d14534d84e2830da16d1b28e1d08d24d1", "tags": ["clique"],
  "image": {"id": "linode/debian12", "label": "Debian 12"}},
 "network": {"interfaces": [],
  "ipv4": {"public": ["$(wan linode)/24"], "private": ["$(lan linode)/17"], "shared": []},
  "ipv6": {"slaac": "$(wan6 linode)/64", "ranges": [], "link_local": "fe80::1/64",
   "shared_ranges": []}}}
EOF
		;;
	vultr)
		cat <<EOF
{"bgp": {"ipv4": {"my-address": "", "my-asn": "", "peer-address": "", "peer-asn": ""},
  "ipv6": {"my-address": "", "my-asn": "", "peer-address": "", "peer-asn": ""}},
 "hostname": "$(name vultr)", "instanceid": "42872221",
 "instance-v2-id": "29bea708-2e6e-480a-90ad-0e6b5d5ad611",
 "interfaces": [{"ipv4": {"additional": [], "address": "$(wan vultr)",
   "gateway": "203.0.113.1", "netmask": "255.255.255.0"},
   "ipv6": {"additional": [], "address": "$(wan6 vultr)", "network": "2001:db8:113::",
   "prefix": "64"}, "mac": "$(mac_pub vultr)", "network-type": "public"}],
 "public-keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test@clique"],
 "region": {"regioncode": "SGP", "countrycode": "SG"},
 "user-defined": [], "startup-script": "echo No configured startup script",
 "user-data": "", "vendor-data": ""}
EOF
		;;
	esac
}

# Terraform templatefile() for what the templates use (tests/fakes/templatefile.py)
render() { "$PY" "$TOP/tests/fakes/templatefile.py" "$@"; }

# ------------------------------------------------------------------ image
FB_VARIANT=ifupdown fb_image "$DEB" || die "could not build the ifupdown VM image"
LIN_IMG=$FB_IMG LIN_KERNEL=$FB_KERNEL LIN_INITRD=$FB_INITRD
FB_VARIANT=networkd fb_image "$DEB" || die "could not build the VM image"
log "images ready: $FB_IMG, $LIN_IMG (linode)"

# ------------------------------------------------------------------ network + services
ip netns add "$HUB" || die "ip netns add"
ip -n "$HUB" link set lo up
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" addr add "$FB_HUB/24" dev br0
ip -n "$HUB" link set br0 up
for v in $VMS; do
	ns=$P-$v
	ip netns add "$ns" || die "ip netns add $ns"
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add 169.254.169.254/32 dev lo
	# slirp answers a guest's ping of its gateway (10.0.2.2) with an ICMP datagram socket here
	ip netns exec "$ns" sysctl -qw net.ipv4.ping_group_range="0 0"
	ip link add "$P$v" netns "$HUB" type veth peer name eth0 netns "$ns" || die "veth"
	ip -n "$HUB" link set "$P$v" master br0 up
	ip -n "$ns" addr add "192.0.2.1$(idx "$v")/24" dev eth0
	ip -n "$ns" link set eth0 up
done

s3() { ip netns exec "$HUB" s3cmd --no-ssl --host=127.0.0.1:7480 --host-bucket=127.0.0.1:7480 \
	--access_key=$ACCESS_KEY --secret_key=$SECRET_KEY "$@"; }
ip netns exec "$HUB" env MON_PORT=42789 MON_PORT2=42300 ACCESS_KEY=$ACCESS_KEY SECRET_KEY=$SECRET_KEY \
	bash tests/e2e/rgw.sh up "$WORK/rgw" 7480 "$FB_HUB" >"$WORK/rgw.log" 2>&1 ||
	{ cat "$WORK/rgw.log"; die "radosgw did not start"; }
# the operator's part (README quick start): the mesh bucket, and the .deb as a public object
s3 -q mb "s3://$BUCKET" >>"$WORK/rgw.log" 2>&1 || die "s3cmd mb $BUCKET"
s3 -q mb "s3://$DIST" >>"$WORK/rgw.log" 2>&1 || die "s3cmd mb $DIST"
s3 -q put --acl-public "$DEB" "s3://$DIST/" >>"$WORK/rgw.log" 2>&1 || die "s3cmd put the .deb"
DEB_URL=http://$FB_HUB:7480/$DIST/$(basename "$DEB")
ip netns exec "$HUB" curl -fsS -o /dev/null "$DEB_URL" || die "the .deb is not publicly readable at $DEB_URL"
DEB_SHA256=$(sha256sum "$DEB" | cut -d' ' -f1) # the user_data installs only this .deb
# the Debian mirror the image's sources.list names
ip netns exec "$HUB" "$PY" -m http.server "$FB_MIRROR_PORT" --bind "$FB_HUB" --directory "$FB_MIRROR" \
	>"$WORK/mirror.log" 2>&1 &
log "radosgw, bucket, .deb and mirror up"

MESH_KEY=$(head -c 32 /dev/urandom | base64)
for v in $VMS; do
	d=$WORK/$v
	mkdir -p "$d/share/in" "$d/share/out" "$d/seed"
	metadata_json "$v" >"$d/metadata.json"
	ip netns exec "$P-$v" "$PY" tests/fakes/metadata.py --provider "$v" --data "$d/metadata.json" \
		--bind 169.254.169.254 --port 80 --log "$d/metadata.log" >"$d/metadata.out" 2>&1 &
	echo $! >"$d/metadata.pid"
	render "cloud-config/$v.yaml" "$d/seed/user-data" "deb_url=$DEB_URL" "deb_sha256=$DEB_SHA256" \
		"bucket_endpoint=http://$FB_HUB:7480" "bucket=$BUCKET" bucket_region=us-east-1 \
		"access_key=$ACCESS_KEY" "secret_key=$SECRET_KEY" "mesh_key=$MESH_KEY" \
		"address=$(mesh "$v")" listen_port=51871 || die "rendering cloud-config/$v.yaml"
	printf 'instance-id: iid-%s\nlocal-hostname: %s\n' "$v-$$" "$(name "$v")" >"$d/seed/meta-data"
	genisoimage -quiet -output "$d/seed.iso" -volid cidata -joliet -rock \
		"$d/seed/user-data" "$d/seed/meta-data" || die "genisoimage"
	pv=$(peer_of "$v")
	cat >"$d/share/env" <<EOF
NAME=$(name "$v")
PEER=$(name "$pv")
SELF_ADDR=$(mesh "$v")
PEER_ADDR=$(mesh "$pv")
PEER_WAN=$(wan "$pv")
PEER_WAN6=$(wan6 "$pv")
VARIANT=$(case $v in linode) echo ifupdown ;; *) echo networkd ;; esac)
EOF
	cp tests/vm/firstboot-guest.sh "$d/share/guest.sh"
done
for v in $VMS; do
	for i in $(seq 50); do
		ip netns exec "$P-$v" curl -s -o /dev/null --max-time 1 http://169.254.169.254/ && break
		sleep 0.1
	done
done

# ------------------------------------------------------------------ boot
# both reboot (a reset keeps the snapshot overlay): no -no-reboot
boot() {
	local v=$1 i pv smbios img=$FB_IMG kernel=$FB_KERNEL initrd=$FB_INITRD
	i=$(idx "$v")
	pv=$(peer_of "$v")
	case $v in
	linode) smbios=Linode img=$LIN_IMG kernel=$LIN_KERNEL initrd=$LIN_INITRD ;;
	vultr) smbios=Vultr ;;
	esac
	# shellcheck disable=SC2086
	ip netns exec "$P-$v" timeout "$FB_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
		-nodefaults -nographic -monitor none \
		-smbios "type=1,manufacturer=$smbios" \
		-kernel "$kernel" -initrd "$initrd" \
		-append "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1" \
		-drive "file=$img,format=raw,if=virtio,snapshot=on" \
		-drive "file=$WORK/$v/seed.iso,format=raw,if=virtio,readonly=on" \
		-netdev user,id=n0 -device "virtio-net-pci,netdev=n0,mac=52:54:00:cb:01:0$i,romfile=" \
		-netdev "dgram,id=n1,local.type=unix,local.path=$WORK/pub-$v.sock,remote.type=unix,remote.path=$WORK/pub-$pv.sock" \
		-device "virtio-net-pci,netdev=n1,mac=$(mac_pub "$v"),romfile=" \
		-virtfs "local,path=$WORK/$v/share,mount_tag=hostshare,security_model=none,id=hs" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -device virtio-rng-pci \
		-serial "file:$WORK/$v/console.log" >"$WORK/$v/qemu.out" 2>&1
	echo $? >"$WORK/$v/qemu.rc"
}
TB=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b-a}'; }
for v in $VMS; do
	boot "$v" &
	QPIDS="$QPIDS $!"
done
log "booting $VMS"

fails=0
ok() { echo "ok firstboot: $*"; }
fail() {
	echo "FAIL firstboot: $*"
	fails=$((fails + 1))
}
# the guests' logs, for a failure
dump() {
	local v f
	for v in $VMS; do
		echo "---- $v: guest report"
		for f in "$WORK/$v/share/out"/boot*.log; do [ -f "$f" ] && sed "s/^/$v| /" "$f"; done
		for f in "$WORK/$v/share/out"/journal-boot*.txt; do
			[ -f "$f" ] || continue
			echo "---- $v: $(basename "$f"): clique-boot, networkd, cloud-init, failures"
			grep -E 'clique-boot|clique-refresh|systemd-networkd\[|wg0|Failed|failed|rror' "$f" |
				grep -v 'clique-vm-agent' | tail -80 | sed "s/^/$v| /"
		done
		if [ -f "$WORK/$v/share/out/cloud-init-output.log" ]; then
			echo "---- $v: cloud-init-output.log (tail)"
			tail -30 "$WORK/$v/share/out/cloud-init-output.log" | sed "s/^/$v| /"
		fi
		echo "---- $v: console (tail)"
		tail -40 "$WORK/$v/console.log" 2>/dev/null | sed "s/^/$v| /"
		echo "---- $v: metadata requests"
		tail -10 "$WORK/$v/metadata.log" 2>/dev/null | sed "s/^/$v| /"
	done
}
finish() {
	[ $fails = 0 ] || dump
	echo "# firstboot: $fails failures, $(since "$VM_T0") s in all"
	exit $((fails > 0))
}
# waits until every VM named has written out/FILE; false when a VM exited or SECONDS passed
await() { # file seconds vm...
	local f=$1 end=$((SECONDS + $2)) v all
	shift 2
	while :; do
		if [ $SECONDS -ge "$end" ]; then
			fail "no $f from$(for v in "$@"; do [ -s "$WORK/$v/share/out/$f" ] || printf ' %s' "$v"; done) within $2 s"
			return 1
		fi
		all=1
		for v in "$@"; do
			# a phase that failed in one VM ends the wait for the others
			if grep -qx FAIL "$WORK/$v/share/out/$f" 2>/dev/null; then
				fail "$v: $f failed"
				return 1
			fi
			[ -s "$WORK/$v/share/out/$f" ] && continue
			all=0
			if [ -f "$WORK/$v/qemu.rc" ]; then
				fail "$v stopped (qemu exit $(cat "$WORK/$v/qemu.rc")) before $f"
				return 1
			fi
		done
		[ $all = 1 ] && return 0
		sleep 2
	done
}
fact() { sed -n "s/^$2=//p" "$WORK/$1/share/out/facts" 2>/dev/null | tail -1; }
# the guest's ok/FAIL lines become this suite's
relay() { # vm file (in out/, or - for stdin)
	local f=-
	[ "$2" = - ] || f=$WORK/$1/share/out/$2
	grep -E '^\[[0-9.]+s\] (ok|FAIL) ' "$f" 2>/dev/null |
		sed -E "s/^\[([0-9.]+)s\] (ok|FAIL) (.*)/\2 firstboot: $1 \3 (at \1 s)/"
}
order() { # vm seq word
	echo "$2 $3" >"$WORK/$1/share/in/cmd.tmp" && mv "$WORK/$1/share/in/cmd.tmp" "$WORK/$1/share/in/cmd"
}

# -- phase 1: the first boot of both
# the agent starts with multi-user.target (~60 s of uptime); cloud-init's apt work ~90 s
if ! await boot1.log 480 $VMS || ! await phase1 900 $VMS; then
	for v in $VMS; do relay "$v" boot1.log; done
	finish
fi
for v in $VMS; do
	relay "$v" boot1.log
	[ "$(cat "$WORK/$v/share/out/phase1")" = PASS ] || fails=$((fails + 1))
	echo "# $v: first boot checked at $(awk '/phase 1:/{print $1}' "$WORK/$v/share/out/boot1.log" | tr -d '[]') uptime; $(fact "$v" startup_boot1)"
done
log "first boot of both VMs checked"
[ $fails = 0 ] || finish
# metadata: each VM asked its own service, the way its cloud serves it
grep -q '^PUT /v1/token' "$WORK/linode/metadata.log" && grep -q 'GET /v1/network' "$WORK/linode/metadata.log" &&
	ok "linode VM read its metadata with the token flow" || fail "linode VM: no token flow in metadata.log"
grep -q 'GET /v1.json' "$WORK/vultr/metadata.log" &&
	ok "vultr VM read its metadata from /v1.json" || fail "vultr VM: no GET /v1.json in metadata.log"
# both ends hold the same PSK, and each holds the other's real public key
[ -n "$(fact linode psk_boot1)" ] && [ "$(fact linode psk_boot1)" = "$(fact vultr psk_boot1)" ] &&
	ok "the same pre-shared key on both ends (sha256 $(fact linode psk_boot1))" ||
	fail "PSKs differ: linode $(fact linode psk_boot1) vultr $(fact vultr psk_boot1)"
[ "$(fact linode peer_pub_boot1)" = "$(fact vultr pub_boot1)" ] && [ "$(fact vultr peer_pub_boot1)" = "$(fact linode pub_boot1)" ] &&
	ok "each VM's peer is the other's public key" || fail "public keys do not match across the VMs"
[ $fails = 0 ] || finish

# -- phase 2: vultr reboots; linode rechecks once it is back
TR=$EPOCHREALTIME
order vultr 1 reboot
await phase2 600 vultr || finish
relay vultr boot2.log
[ "$(cat "$WORK/vultr/share/out/phase2")" = PASS ] || fails=$((fails + 1))
log "vultr rebooted and checked ($(since "$TR") s from the order; at $(awk '/phase 2:/{print $1}' "$WORK/vultr/share/out/boot2.log" | tr -d '[]') uptime)"
[ "$(fact vultr pub_networkd_boot2)" = "$(fact vultr pub_boot1)" ] &&
	ok "vultr's wg0 from networkd after the reboot has the same public key" ||
	fail "vultr's key changed across the reboot"
order linode 1 recheck
await recheck 300 linode || finish
sed -n '/recheck after/,$p' "$WORK/linode/share/out/boot1.log" | relay linode -
[ "$(cat "$WORK/linode/share/out/recheck")" = PASS ] || fails=$((fails + 1))
[ "$(fact linode psk_recheck)" = "$(fact vultr psk_boot2)" ] && [ "$(fact linode psk_recheck)" = "$(fact linode psk_boot1)" ] &&
	ok "after the reboot: the same PSK on both ends as before" || fail "PSK changed across the reboot"
[ "$(fact linode peer_pub_recheck)" = "$(fact vultr pub_boot2)" ] &&
	ok "after the reboot: linode's peer is still vultr's public key" || fail "linode's peer key differs after the reboot"

# -- phase 3: linode (the ifupdown image) reboots with its metadata service and the bucket
# unreachable: its metadata server stopped, its netns' link to the hub (bucket, mirror) down
kill "$(cat "$WORK/linode/metadata.pid")"
ip -n "$P-linode" link set eth0 down
TR=$EPOCHREALTIME
order linode 2 reboot
await phase2 600 linode || finish
relay linode boot2.log
[ "$(cat "$WORK/linode/share/out/phase2")" = PASS ] || fails=$((fails + 1))
log "linode rebooted offline and checked ($(since "$TR") s from the order)"
for v in $VMS; do
	for f in startup_boot1 chain_boot1 times_boot1 startup_boot2 chain_boot2 times_boot2 reload_before reload_after \
		restart_without_dropin restart_with_dropin; do
		[ -n "$(fact "$v" $f)" ] && echo "# $v $f: $(fact "$v" $f)"
	done
done

# -- the end: both power off with their verdict
order vultr 2 finish
order linode 3 finish
await_exit() { # seconds: both qemus gone
	local end=$((SECONDS + $1)) v
	for v in $VMS; do
		while [ ! -f "$WORK/$v/qemu.rc" ] && [ $SECONDS -lt "$end" ]; do sleep 1; done
	done
}
await_exit 120
for v in $VMS; do
	rc=$(cat "$WORK/$v/qemu.rc" 2>/dev/null)
	[ "$rc" = 1 ] && ok "$v VM powered off with PASS" || fail "$v VM's verdict: qemu exit ${rc:-none} (1 = PASS, 3 = FAIL, 124 = timeout)"
done
log "both VMs done ($(since "$TB") s from the first boot)"
finish

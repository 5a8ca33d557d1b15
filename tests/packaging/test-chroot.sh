#!/bin/bash
# One .deb for every supported release (issue 14): the package built on this Debian 12 machine
# installs with apt in minimal chroots of Debian 11 "bullseye" (glibc 2.31, Ubuntu 20.04's) and
# Debian 13 "trixie", its Depends resolved from that release's own archive, and the packaged
# /usr/sbin/clique-boot runs there for real against a radosgw bucket holding sealed records.
#
# Per release (CHROOT_SUITES, default "bullseye trixie"):
#   - a minimal root (debootstrap --variant=minbase from the Debian mirror this machine's apt
#     uses, plus that release's -updates and -security suites and their apt lists), built once and
#     cached as a tarball in CHROOT_CACHE (default /var/cache/clique-chroot; a tarball per release,
#     rebuilt when the mirror or the recipe below changes); each run unpacks a fresh copy;
#   - `apt-get install ./clique-boot_*.deb` (no Recommends: the Depends alone must do), in the
#     chroot, on this machine's network; the .debs it downloads stay cached per release;
#   - files, modes, conffile and the units' enable links as the package's maintainer scripts made
#     them there;
#   - clique-boot --version, and --dry-run with `provider = static` in a network namespace of this
#     test's own (P, default cbch<pid>) holding a radosgw on its loopback (tests/e2e/rgw.sh) and a
#     bucket with records from tests/tools/mkrecords: every peer is listed, with its address; over
#     http, then over https with a test CA added to the release's store (update-ca-certificates);
#   - systemd added (every cloud image has it): the units pass that release's
#     `systemd-analyze verify`; a boot run (userspace backend) brings wg0 up and writes the
#     networkd units 0640 root:systemd-network; --status lists the peers.
# Another endpoint or CA case is one more `dry_run SUITE ROOT ENDPOINT` call in check_suite, e.g.
# https://127.0.0.1:7443 (the test certificate names IP 127.0.0.1 too) where the TLS library
# checks IP-address SANs.
# Needs root, debootstrap, radosgw and $BUILD/tools/{mkrecords,s3tool} (make unit-bins).
# Prints "ok <check>" / "FAIL <check>"; 77 = skipped.
set -u
[ "$(id -u)" = 0 ] || { echo "SKIPPED: needs root (debootstrap, chroot, network namespaces)"; exit 77; }
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
BUILD=${BUILD:-build}
CACHE=${CHROOT_CACHE:-/var/cache/clique-chroot}
P=${P:-cbch$$}
fails=0
ok() { echo "ok chroot: $1"; }
fail() {
	echo "FAIL chroot: $1"
	fails=$((fails + 1))
}
die() {
	fail "$*"
	exit 1
}
secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
for c in debootstrap radosgw unshare chroot ip flock; do
	command -v "$c" >/dev/null || die "$c not installed (tests/install-deps.sh installs it)"
done
for t in mkrecords s3tool; do
	[ -x "$BUILD/tools/$t" ] || die "$BUILD/tools/$t missing (make BUILD=$BUILD unit-bins)"
done

# --- the .deb (make deb), rebuilt when missing or older than the sources
ver=$(sed -n 's/^VERSION := //p' Makefile)
DEB=$top/build-deb/clique-boot_${ver}_amd64.deb
if [ ! -f "$DEB" ] || [ -n "$(find Makefile bootstrap metadata packaging -newer "$DEB" | head -1)" ]; then
	log=$(mktemp)
	bash packaging/deb/build.sh >"$log" 2>&1 || { tail -20 "$log"; rm -f "$log"; die "make deb"; }
	rm -f "$log"
fi
echo "# $(basename "$DEB"): $(stat -c %s "$DEB") bytes; Depends: $(dpkg-deb -f "$DEB" Depends)"

# --- the Debian mirror this machine's apt uses (MIRROR, SECURITY_MIRROR override)
uris=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null | sort -u)
MIRROR=${MIRROR:-$(echo "$uris" | grep -m1 '/debian/$')}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(echo "$uris" | grep -m1 '/debian-security/$')}
[ -n "$MIRROR" ] || die "no Debian archive in this machine's apt sources (set MIRROR)"
[ -n "$SECURITY_MIRROR" ] || SECURITY_MIRROR=$MIRROR-security

# ROOT CMD...: CMD chrooted in ROOT, in a private mount namespace with /proc, /dev, /sys, a fresh
# /run and /tmp (nothing is mounted on the host; no systemd runs there, as in an image build).
# CHROOT_BIND="SRC DST" also binds SRC on ROOT/DST.
in_chroot() {
	unshare -m --propagation private sh -c '
		r=$1
		shift
		mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" &&
			mount -t tmpfs tmpfs "$r/run" && mount -t tmpfs tmpfs "$r/tmp" || exit 1
		if [ -n "${CHROOT_BIND:-}" ]; then
			mount --bind "${CHROOT_BIND% *}" "$r${CHROOT_BIND#* }" || exit 1
		fi
		exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"' sh "$@"
}

# SUITE ROOT CMD...: in_chroot with the release's cache of downloaded .debs as apt's archive
# directory, one run at a time (apt locks that directory; concurrent tests wait here instead)
apt_chroot() {
	local suite=$1 rc
	shift
	mkdir -p "$CACHE/$suite-debs/partial"
	exec 7>"$CACHE/.lock-$suite-debs"
	flock 7
	CHROOT_BIND="$CACHE/$suite-debs /var/cache/apt/archives" in_chroot "$@"
	rc=$?
	exec 7>&-
	return $rc
}

# The recipe of a cached root; its text is part of the cache key.
RECIPE='minbase; sources: SUITE, SUITE-updates, SUITE-security (main); apt lists included'
sources_list() { # suite
	echo "deb $MIRROR $1 main"
	echo "deb $MIRROR $1-updates main"
	echo "deb $SECURITY_MIRROR $1-security main"
}

# suite -> prints the cached tarball's path, building it first when missing
chroot_tarball() {
	local suite=$1 key tar tmp t0
	key=$( (echo "$RECIPE"; sources_list "$suite") | md5sum | cut -c1-12)
	tar=$CACHE/$suite-$key.tar
	mkdir -p "$CACHE"
	exec 8>"$CACHE/.lock-$suite"
	flock 8
	if [ ! -f "$tar" ]; then
		t0=$EPOCHREALTIME
		tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
		if ! debootstrap --variant=minbase "$suite" "$tmp/root" "$MIRROR" >"$tmp/log" 2>&1; then
			tail -20 "$tmp/log" "$tmp/root/debootstrap/debootstrap.log" 2>/dev/null >&2
			rm -rf --one-file-system "$tmp"
			exec 8>&-
			return 1
		fi
		sources_list "$suite" >"$tmp/root/etc/apt/sources.list"
		if ! in_chroot "$tmp/root" sh -c 'apt-get -qq update && apt-get clean' >"$tmp/log" 2>&1; then
			cat "$tmp/log" >&2
			rm -rf --one-file-system "$tmp"
			exec 8>&-
			return 1
		fi
		tar -C "$tmp/root" -cf "$tar.new" . && mv "$tar.new" "$tar"
		rm -rf --one-file-system "$tmp"
		find "$CACHE" -maxdepth 1 -name "$suite-*.tar" ! -name "$(basename "$tar")" -delete
		echo "# $suite: built the cached root in $(secs "$t0") s ($(du -m "$tar" | cut -f1) MB tarball)" >&2
	fi
	exec 8>&-
	echo "$tar"
}

WORK=$(mktemp -d /var/tmp/clique-chroot.XXXXXX)
cleanup() {
	set +e
	[ -f "$WORK/rgw/env" ] && ip netns exec "$P" bash tests/e2e/rgw.sh down "$WORK/rgw" >/dev/null 2>&1
	local pid
	for pid in $(ip netns pids "$P" 2>/dev/null); do kill -9 "$pid"; done
	ip netns del "$P" 2>/dev/null
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# --- the bucket: a radosgw on the loopback of this test's namespace, 3 sealed records in it
ip netns add "$P" || die "ip netns add $P"
ip -n "$P" link set lo up
ip netns exec "$P" bash tests/e2e/rgw.sh up "$WORK/rgw" 7480 >"$WORK/rgw.log" 2>&1 ||
	{ cat "$WORK/rgw.log"; die "radosgw (tests/e2e/rgw.sh up)"; }
# shellcheck disable=SC1091 # written by rgw.sh: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY
. "$WORK/rgw/env"
MESH_KEY=$(head -c 32 /dev/urandom | base64)
echo "$MESH_KEY" >"$WORK/mesh_key"
s3() {
	ip netns exec "$P" env S3_ENDPOINT="$S3_ENDPOINT" S3_BUCKET=clique-chroot \
		S3_ACCESS_KEY="$S3_ACCESS_KEY" S3_SECRET_KEY="$S3_SECRET_KEY" MESH_KEY_FILE="$WORK/mesh_key" "$@"
}
s3 "$BUILD/tools/s3tool" mb >"$WORK/mb.log" 2>&1 || { cat "$WORK/mb.log"; die "s3tool mb"; }
s3 "$BUILD/tools/mkrecords" clique/ 3 10.15.9.1 peer >"$WORK/mk.log" 2>&1 ||
	{ cat "$WORK/mk.log"; die "mkrecords"; }
ok "bucket: radosgw in netns $P, 3 sealed records (peer-0..2, 10.15.9.1-3)"

# HTTPS: a test CA, a certificate from it for "localhost" (the host name radosgw serves
# path-style requests for: tests/e2e/rgw.sh's rgw_dns_name) and IP 127.0.0.1, and a TLS front end
# to the same radosgw on 127.0.0.1:7443 of the namespace (socat); trust_ca puts the CA in a
# chroot's system store the way an operator would (update-ca-certificates)
T=$WORK/tls
mkdir -p "$T"
ec() { echo "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"; }
# shellcheck disable=SC2046 # ec's words
if openssl req -x509 $(ec) -days 2 -subj "/CN=clique-boot test CA" -keyout "$T/ca.key" \
	-out "$T/ca.pem" 2>"$T/log" &&
	openssl req $(ec) -subj /CN=localhost -keyout "$T/srv.key" -out "$T/srv.csr" 2>>"$T/log" &&
	openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
		-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
		-out "$T/srv.pem" 2>>"$T/log"; then
	cat "$T/srv.pem" "$T/srv.key" >"$T/srv.bundle"
	# not a job of this shell: cleanup's kill of the namespace's processes ends it
	(ip netns exec "$P" socat OPENSSL-LISTEN:7443,bind=127.0.0.1,reuseaddr,fork,cert="$T/srv.bundle",verify=0 \
		TCP:127.0.0.1:7480 2>"$T/socat.log" &)
	for _ in $(seq 50); do
		ip netns exec "$P" curl -s -o /dev/null --cacert "$T/ca.pem" https://localhost:7443/ && break
		sleep 0.1
	done
fi
ip netns exec "$P" curl -s -o /dev/null --cacert "$T/ca.pem" https://localhost:7443/ || { cat "$T/log" "$T/socat.log"; die "TLS front end (socat) on :7443"; }
trust_ca() { # root
	cp "$T/ca.pem" "$1/usr/local/share/ca-certificates/clique-boot-test.crt"
	in_chroot "$1" update-ca-certificates >/dev/null 2>&1
}

# config ENDPOINT -> the clique.conf of a static node of this mesh
config() {
	cat <<EOF
bucket_endpoint = $1
bucket = clique-chroot
access_key = $S3_ACCESS_KEY
secret_key = $S3_SECRET_KEY
mesh_key = $MESH_KEY
address = 10.15.0.100
provider = static
instance_id = chroot-1
name = chroot-node
region = test
wan_ipv4 = 192.0.2.100
EOF
}

# dry_run SUITE ROOT ENDPOINT: clique-boot --dry-run in the chroot, in the bucket's namespace,
# against ENDPOINT; every record of the bucket must be listed as a peer.
dry_run() {
	local suite=$1 r=$2 endpoint=$3 out=$WORK/$1-dry-run.out rc i
	config "$endpoint" >"$r/etc/clique/clique.conf"
	ip netns exec "$P" bash -c "$(declare -f in_chroot); in_chroot \"\$@\"" sh "$r" \
		/usr/sbin/clique-boot --dry-run >"$out" 2>&1
	rc=$?
	sed "s/^/# $suite: /" "$out"
	for i in 0 1 2; do
		grep -Eq "^peer peer-$i 10\.15\.9\.$((i + 1))/32 " "$out" || rc=1
	done
	grep -q '^self chroot-node 10.15.0.100/16 ' "$out" || rc=1
	grep -q 'listing failed\|skipping' "$out" && rc=1
	if [ "$rc" = 0 ]; then
		ok "$suite: --dry-run against $endpoint lists the 3 peers of the bucket"
	else
		fail "$suite: --dry-run against $endpoint"
	fi
}

# suite root: what every cloud image of the release has and minbase lacks: systemd (the
# systemd-network group, networkd, the manager of the package's units); the units must pass
# that release's `systemd-analyze verify`
image_layer() {
	local suite=$1 r=$2 v t0=$EPOCHREALTIME
	apt_chroot "$suite" "$r" apt-get install -y --no-install-recommends systemd \
		>"$WORK/$suite-systemd.log" 2>&1 ||
		{ cat "$WORK/$suite-systemd.log"; fail "$suite: apt-get install systemd"; return 1; }
	v=$(in_chroot "$r" dpkg-query -W -f='${Version}' systemd)
	echo "# $suite: systemd $v installed in $(secs "$t0") s"
	in_chroot "$r" systemd-analyze verify --man=no /lib/systemd/system/clique-boot.service \
		/lib/systemd/system/clique-refresh.service /lib/systemd/system/clique-refresh.timer \
		>"$WORK/$suite-verify" 2>&1
	if [ -s "$WORK/$suite-verify" ]; then
		cat "$WORK/$suite-verify"
		fail "$suite: systemd-analyze verify (systemd $v) of the packaged units"
	else
		ok "$suite: systemd-analyze verify (systemd $v) of the packaged units: clean"
	fi
}

# suite root: a real boot run of the packaged binary in the bucket's namespace, userspace
# backend: the mesh device is made by wireguard-go (this machine's, run by its own loader: not
# every release has a wireguard-go package), configured over UAPI and netlink, the networkd units
# are written; then --status.
boot_run() {
	local suite=$1 r=$2 out=$WORK/$1-boot.out w=/opt/host-wireguard-go
	mkdir -p "$r$w"
	cp /usr/bin/wireguard-go "$r$w/"
	cp -L /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/libc.so.6 "$r$w/"
	# foreground, put in the background here: wireguard-go's own daemonizing re-executes
	# /proc/self/exe, which would be the loader
	cat >"$r/usr/local/sbin/wireguard-go" <<-EOF
		#!/bin/sh
		WG_PROCESS_FOREGROUND=1 $w/ld-linux-x86-64.so.2 --library-path $w $w/wireguard-go "\$@" \
			</dev/null >/dev/null 2>&1 &
	EOF
	chmod 755 "$r/usr/local/sbin/wireguard-go"
	{
		config "$S3_ENDPOINT"
		echo "backend = userspace"
		echo "userspace_command = /usr/local/sbin/wireguard-go"
	} >"$r/etc/clique/clique.conf"
	cat >"$r/root/boot.sh" <<-'EOF'
		/usr/sbin/clique-boot
		echo "boot exit $?"
		/usr/sbin/clique-boot --status
		echo "status exit $?"
		stat -c 'unit %a %U:%G %n' /etc/systemd/network/90-clique-wg0.netdev \
			/etc/systemd/network/90-clique-wg0.network
	EOF
	ip netns exec "$P" bash -c "$(declare -f in_chroot); in_chroot \"\$@\"" sh "$r" \
		sh /root/boot.sh >"$out" 2>&1
	sed "s/^/# $suite: /" "$out"
	ip -n "$P" -br addr show dev wg0 >"$WORK/$suite-wg0" 2>&1
	if grep -qx 'boot exit 0' "$out" && grep -q ' 10\.15\.0\.100/16' "$WORK/$suite-wg0"; then
		ok "$suite: boot run: exit 0, wg0 up with 10.15.0.100/16 ($(awk '{print $2}' "$WORK/$suite-wg0"))"
	else
		cat "$WORK/$suite-wg0"
		fail "$suite: boot run with the userspace backend"
	fi
	[ "$(grep -c '^ *peer-[012] ' "$out")" = 3 ] && grep -qx 'status exit 0' "$out" &&
		ok "$suite: --status lists the 3 peers" || fail "$suite: --status"
	[ "$(grep -c '^unit 640 root:systemd-network ' "$out")" = 2 ] &&
		ok "$suite: networkd units written 640 root:systemd-network" ||
		fail "$suite: networkd units (mode, group systemd-network)"
	# wireguard-go exits when its TUN goes away; the next release's run makes its own wg0
	ip -n "$P" link del wg0 2>/dev/null
	for pid in $(ip netns pids "$P"); do
		[ "$(readlink "/proc/$pid/root")" = "$r" ] && kill "$pid" 2>/dev/null
	done
}

# suite: the whole check in one release
check_suite() {
	local suite=$1 tar r t0 t1 rc
	t0=$EPOCHREALTIME
	tar=$(chroot_tarball "$suite") || { fail "$suite: debootstrap of a minimal root"; return; }
	r=$WORK/$suite
	mkdir -p "$r"
	t1=$EPOCHREALTIME
	tar -C "$r" -xf "$tar" || { fail "$suite: unpack $tar"; return; }
	echo "# $suite: fresh root unpacked in $(secs "$t1") s"
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	cp "$DEB" "$r/root/"
	# debootstrap writes no /etc/hosts; every image has Debian's (netbase's) one
	[ -f "$r/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
		>"$r/etc/hosts"
	t1=$EPOCHREALTIME
	apt_chroot "$suite" "$r" sh -c \
		'apt-get -qq update && apt-get install -y --no-install-recommends ./root/"$1"' sh \
		"$(basename "$DEB")" >"$WORK/$suite-install.log" 2>&1
	rc=$?
	sed -n '/NEW packages/,/^[0-9]* upgraded/p' "$WORK/$suite-install.log" | sed "s/^/# $suite: /"
	if [ $rc != 0 ] || ! grep -q "^ii *clique-boot *$ver " <(in_chroot "$r" dpkg -l clique-boot); then
		cat "$WORK/$suite-install.log"
		fail "$suite: apt-get install ./$(basename "$DEB")"
		return
	fi
	ok "$suite: apt-get install ./$(basename "$DEB") resolves its Depends from $suite ($(secs "$t1") s)"

	stat -c '%a %U:%G %n' "$r/usr/sbin/clique-boot" "$r/etc/clique" "$r/etc/clique/clique.conf" \
		"$r"/lib/systemd/system/clique-*.* | sed "s|$r||" >"$WORK/$suite-modes"
	if diff -u - "$WORK/$suite-modes" <<-EOF; then
		755 root:root /usr/sbin/clique-boot
		700 root:root /etc/clique
		600 root:root /etc/clique/clique.conf
		644 root:root /lib/systemd/system/clique-boot.service
		644 root:root /lib/systemd/system/clique-refresh.service
		644 root:root /lib/systemd/system/clique-refresh.timer
	EOF
		ok "$suite: files and modes (binary 755, /etc/clique 700, clique.conf 600, units 644)"
	else
		fail "$suite: files and modes"
	fi
	in_chroot "$r" dpkg-query -W -f='${Conffiles}\n' clique-boot | grep -q '^ /etc/clique/clique.conf ' &&
		ok "$suite: /etc/clique/clique.conf is a conffile" || fail "$suite: conffile"
	if [ "$(readlink "$r/etc/systemd/system/multi-user.target.wants/clique-boot.service")" = \
		/lib/systemd/system/clique-boot.service ] &&
		[ -L "$r/etc/systemd/system/timers.target.wants/clique-refresh.timer" ]; then
		ok "$suite: postinst enabled clique-boot.service and clique-refresh.timer"
	else
		ls -lR "$r/etc/systemd/system" 2>&1 | head -20
		fail "$suite: units enabled by postinst"
	fi

	v=$(in_chroot "$r" /usr/sbin/clique-boot --version 2>&1)
	[ "$v" = "clique-boot $ver" ] && ok "$suite: /usr/sbin/clique-boot --version: $v" ||
		fail "$suite: --version printed '$v'"
	dry_run "$suite" "$r" "$S3_ENDPOINT"
	trust_ca "$r" && dry_run "$suite" "$r" https://localhost:7443 &&
		dry_run "$suite" "$r" https://127.0.0.1:7443
	image_layer "$suite" "$r" && boot_run "$suite" "$r"
	echo "# $suite: $(secs "$t0") s in all"
	rm -rf --one-file-system "$r"
}

for suite in ${CHROOT_SUITES:-bullseye trixie}; do
	check_suite "$suite"
done
exit $((fails > 0))

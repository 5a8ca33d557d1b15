#!/bin/sh
# Installs what the build, the tests and the demo need, from Debian 12's packages, once.
# Runs as root on a fresh machine; a no-op when everything is already there.
set -eu
PKGS="build-essential pkg-config libcurl4-openssl-dev libjansson-dev libsodium-dev libmnl-dev
wireguard-go wireguard-tools iproute2 busybox python3 python3-yaml util-linux curl s3cmd faketime strace time
ceph-mon ceph-osd radosgw ceph-common clang valgrind
libc-ares-dev libssl-dev dpkg-dev debhelper lintian systemd groff-base man-db openssl
cloud-init
qemu-system-x86 cpio socat debootstrap genisoimage e2fsprogs"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null

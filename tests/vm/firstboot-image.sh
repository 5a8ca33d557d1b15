#!/bin/bash
# Sourced by tests/vm/test-firstboot.sh: the pristine Debian 12 cloud image its VMs boot, built
# once and cached outside the repo (VM_CACHE, default /var/cache/clique-vm, under firstboot/):
#
#   fb_image DEB    sets FB_IMG (ext4 disk image, never written: the VMs boot it snapshot=on),
#                   FB_KERNEL + FB_INITRD (Debian's linux-image-amd64 and its initramfs, taken out
#                   of the image for qemu -kernel/-initrd) and FB_MIRROR (a flat apt repository:
#                   the packages the user-data's `packages:` and the .deb's Depends need, which
#                   the image lacks; the test serves it as the VMs' Debian mirror)
#
# The image: debootstrap --variant=minbase + systemd, udev, cloud-init, wireguard-tools, the
# kernel (shared/reference/test-tiers.md tier 3 and its pitfalls), then what a cloud vendor's
# image has: networkd enabled, an empty machine-id (first boot), DHCP on the first NIC, cloud-init
# restricted to NoCloud with the vendor's mirror kept, plus the test's agent unit, which runs
# whatever /guest.sh the 9p share holds (so changing the checks does not rebuild the image).
# FB_VARIANT=ifupdown (test-firstboot.sh's linode VM) is configured like Linode's Debian 12
# image instead: the NICs by ifupdown (/etc/network/interfaces: DHCP on the first, the
# public addresses static on the second, plus a policy rule and a route of their own) and
# systemd-networkd disabled, as Linode ships it; cached beside the other (firstboot-ifupdown/).
# The cache key is this file's content + the .deb's Depends: editing either rebuilds (~4 min).
# No loop device and no mount of the image: mkfs.ext4 -d copies the tree in.
set -u

FB_PKGS=systemd,systemd-sysv,udev,kmod,iproute2,dbus,cloud-init,python3-cffi-backend,wireguard-tools,iputils-ping,linux-image-amd64
# ^ python3-cffi-backend: debootstrap cannot resolve the virtual python3-cffi-backend-api-min/max
#   python3-cryptography (cloud-init) needs. iputils-ping: the guest's checks ping.
# the address of the test's mirror and bucket as the VMs see them (test-firstboot.sh's hub)
FB_HUB=${FB_HUB:-192.0.2.1}
FB_MIRROR_PORT=${FB_MIRROR_PORT:-8080}
FB_VARIANT=${FB_VARIANT:-networkd}

fb_log() { awk -v a="$VM_T0" -v b="$EPOCHREALTIME" -v m="$*" 'BEGIN{printf "# [%5.1fs] %s\n", b-a, m}'; }

# The .deb's Depends as package names (first of each alternative, versions dropped).
fb_deb_deps() {
	dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | sed '/^$/d'
}

fb_image() {
	local deb=$1 deps stamp top dir
	VM_CACHE=${VM_CACHE:-/var/cache/clique-vm}
	top=$VM_CACHE/firstboot
	[ "$FB_VARIANT" = networkd ] || top=$VM_CACHE/firstboot-$FB_VARIANT
	deps=$(fb_deb_deps "$deb" | tr '\n' ' ')
	stamp=$( (cat "${BASH_SOURCE[0]}"; echo "$deps $FB_HUB $FB_MIRROR_PORT $FB_VARIANT") | md5sum | cut -c1-12)
	dir=$top/$stamp
	# shellcheck disable=SC2034 # for the caller
	FB_IMG=$dir/disk.img FB_KERNEL=$dir/vmlinuz FB_INITRD=$dir/initrd.img FB_MIRROR=$dir/mirror
	mkdir -p "$top"
	exec 8>"$top/.lock"
	flock 8
	if [ ! -f "$dir/ready" ]; then
		fb_build "$dir" "$deps" || { exec 8>&-; return 1; }
		echo "$stamp" >"$dir/ready"
		local old
		for old in "$top"/*/; do
			[ "${old%/}" = "$dir" ] || rm -rf "$old"
		done
	fi
	exec 8>&-
	return 0
}

fb_build() {
	local dir=$1 deps=$2 mirror r tmp pkgs
	mirror=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	[ -n "$mirror" ] || { echo "firstboot: set MIRROR to a Debian mirror URL" >&2; return 1; }
	rm -rf "$dir"
	mkdir -p "$dir" "$VM_CACHE/firstboot-debcache"
	tmp=$(mktemp -d "$(dirname "$dir")/tmp.XXXXXX")
	r=$tmp/rootfs
	pkgs=$FB_PKGS
	[ "$FB_VARIANT" = ifupdown ] && pkgs=$pkgs,ifupdown,isc-dhcp-client
	fb_log "debootstrap bookworm (minbase + systemd, cloud-init, kernel; $FB_VARIANT) from $mirror"
	if ! debootstrap --variant=minbase --cache-dir="$VM_CACHE/firstboot-debcache" \
		--include="$pkgs" bookworm "$r" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		tail -30 "$tmp/debootstrap.log"
		[ -f "$r/debootstrap/debootstrap.log" ] && tail -30 "$r/debootstrap/debootstrap.log"
		rm -rf "$tmp"
		return 1
	fi
	fb_log "debootstrap done ($(du -sh "$r" | cut -f1))"

	# -- the mirror: what `packages:` (curl, ca-certificates) and the .deb's Depends pull in that
	# the image lacks, resolved by the image's own apt against the Debian mirror, once
	# (a private mount namespace for /proc: nothing is mounted on the host)
	# shellcheck disable=SC2086
	if ! unshare -m sh -c "mount -t proc proc '$r/proc' && chroot '$r' sh -ec '
		export DEBIAN_FRONTEND=noninteractive
		apt-get clean
		apt-get -qq update
		apt-get -qq install --download-only -y --no-install-recommends curl ca-certificates $deps
		'" >"$tmp/mirror.log" 2>&1; then
		cat "$tmp/mirror.log"
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$dir/mirror"
	mv "$r"/var/cache/apt/archives/*.deb "$dir/mirror/"
	fb_repo "$dir/mirror" || { rm -rf "$tmp"; return 1; }
	chroot "$r" apt-get clean
	rm -rf "$r"/var/lib/apt/lists/*
	fb_log "mirror: $(find "$dir/mirror" -name '*.deb' | wc -l) packages"

	# -- the kernel: small initramfs (virtio disk + ext4 are all it needs to find the root)
	cp "$r"/boot/vmlinuz-* "$dir/vmlinuz"
	printf 'MODULES=list\nCOMPRESS=gzip\n' >"$r/etc/initramfs-tools/conf.d/clique-vm.conf"
	printf 'virtio_pci\nvirtio_blk\ncrc32c_generic\next4\n' >>"$r/etc/initramfs-tools/modules"
	if ! unshare -m sh -c "mount -t proc proc '$r/proc' && chroot '$r' update-initramfs -u -k all" \
		>"$tmp/initramfs.log" 2>&1; then
		cat "$tmp/initramfs.log"
		rm -rf "$tmp"
		return 1
	fi
	cp "$r"/boot/initrd.img-* "$dir/initrd.img"
	fb_customise "$r"

	truncate -s 4G "$dir/disk.img"
	if ! mkfs.ext4 -q -F -L root -d "$r" "$dir/disk.img" >"$tmp/mkfs.log" 2>&1; then
		cat "$tmp/mkfs.log"
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$tmp"
	fb_log "image built: $(du -h "$dir/disk.img" | cut -f1) used of 4G"
}

# A flat apt repository (Packages + Release; served with [trusted=yes]: a test mirror, unsigned)
fb_repo() {
	local d=$1
	(cd "$d" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null && gzip -9kf Packages) || return 1
	{
		echo "Origin: clique-boot-test"
		echo "Label: clique-boot-test"
		echo "Suite: bookworm"
		echo "Codename: bookworm"
		echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
		echo "Architectures: amd64 all"
		echo "SHA256:"
		local f
		for f in Packages Packages.gz; do
			printf ' %s %s %s\n' "$(sha256sum "$d/$f" | cut -d' ' -f1)" "$(stat -c %s "$d/$f")" "$f"
		done
	} >"$d/Release"
}

fb_customise() {
	local r=$1
	: >"$r/etc/machine-id" # empty: systemd treats the boot as the first boot
	rm -f "$r/var/lib/dbus/machine-id"
	echo debian >"$r/etc/hostname"
	echo 'LABEL=root / ext4 defaults 0 1' >"$r/etc/fstab"
	chroot "$r" passwd -d root >/dev/null # a root console for debugging (serial-getty is masked)
	# serial-getty hangs up ttyS0 under the agent's writes (tier 3 pitfall 4)
	chroot "$r" systemctl mask serial-getty@ttyS0.service >/dev/null 2>&1
	mkdir -p "$r/etc/systemd/system/systemd-networkd-wait-online.service.d"
	cat >"$r/etc/systemd/system/systemd-networkd-wait-online.service.d/timeout.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
EOF
	case $FB_VARIANT in
	ifupdown) fb_net_ifupdown "$r" ;;
	*) fb_net_networkd "$r" ;;
	esac
	# the cloud vendor's cloud-init settings: NoCloud only, no network rendering (the units
	# above rule), its mirror kept (cloud-init would otherwise render deb.debian.org into
	# sources.list), no locale module (minbase has no locales: tier 3 pitfall 2)
	cat >"$r/etc/cloud/cloud.cfg.d/90-clique-vm.cfg" <<'EOF'
datasource_list: [ NoCloud, None ]
network: {config: disabled}
locale: false
apt:
  preserve_sources_list: true
EOF
	echo "deb [trusted=yes] http://$FB_HUB:$FB_MIRROR_PORT/ ./" >"$r/etc/apt/sources.list"
	# the test's agent: whatever /guest.sh the 9p share holds, at every boot. Type=simple and
	# no After=cloud-final.service (tier 3 pitfall 1: an ordering cycle, the unit is skipped)
	cat >"$r/usr/local/sbin/clique-vm-agent" <<'EOF'
#!/bin/sh
mkdir -p /mnt/host
modprobe 9pnet_virtio
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none hostshare /mnt/host || exit 1
exec /bin/bash /mnt/host/guest.sh
EOF
	chmod 0755 "$r/usr/local/sbin/clique-vm-agent"
	cat >"$r/etc/systemd/system/clique-vm-agent.service" <<'EOF'
[Unit]
Description=clique-boot VM test agent (9p share)
After=systemd-networkd.service networking.service
[Service]
Type=simple
ExecStart=/usr/local/sbin/clique-vm-agent
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
EOF
	chroot "$r" systemctl enable clique-vm-agent.service >/dev/null 2>&1
}

# The provider's network by networkd: the first NIC by DHCP (qemu's slirp, the way to the
# metadata service, the mirror and the bucket); the public NIC's address is the VM's own,
# given by MAC as a cloud's network helper does (test-firstboot.sh's mac_pub/wan/lan).
fb_net_networkd() {
	local r=$1 i
	chroot "$r" systemctl enable systemd-networkd.service >/dev/null 2>&1
	cat >"$r/etc/systemd/network/10-vm-eth0.network" <<'EOF'
[Match]
Name=eth0
[Network]
DHCP=ipv4
EOF
	for i in 1 2; do
		cat >"$r/etc/systemd/network/10-vm-pub$i.network" <<EOF
[Match]
MACAddress=52:54:00:cb:00:0$i
[Network]
Address=203.0.113.1$i/24
Address=192.168.130.1$i/17
Address=2001:db8:113::1$i/64
IPv6AcceptRA=no
LinkLocalAddressing=ipv6
EOF
	done
}

# As Linode's Debian 12 image: ifupdown (networking.service) and systemd-networkd installed
# but disabled; the addresses of test-firstboot.sh's linode VM (index 1) written statically as
# Linode's Network Helper does, plus what an operator's own ifupdown config may hold and
# networkd must leave alone: a policy rule and a route in a table of their own.
fb_net_ifupdown() {
	local r=$1
	chroot "$r" systemctl disable systemd-networkd.service systemd-networkd.socket \
		systemd-networkd-wait-online.service >/dev/null 2>&1
	chroot "$r" systemctl enable networking.service >/dev/null 2>&1
	cat >"$r/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp

auto eth1
iface eth1 inet static
	address 203.0.113.11/24
	up ip addr add 192.168.130.11/17 dev eth1
	up ip rule add from 192.168.130.11 table 130 priority 1300
	up ip route add 192.168.0.0/17 dev eth1 table 130

iface eth1 inet6 static
	address 2001:db8:113::11/64
	accept_ra 0
EOF
}

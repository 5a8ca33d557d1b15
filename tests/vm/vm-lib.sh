#!/bin/bash
# The VM tier's plumbing, sourced by tests/vm/test-*.sh (shared/reference/test-tiers.md tier 2):
#   vm_kernel              Debian's own kernel + the modules we need, unpacked once into a cache
#                          outside the repo (VM_CACHE, default /var/cache/clique-vm)
#   vm_initramfs ROOT GUEST BIN...   busybox root: tests/vm/init, the guest script, binaries
#                          with their ldd libraries at the same paths, the modules (plain .ko:
#                          busybox insmod reads no .ko.xz); vm_copy_bin adds more; vm_pack packs
#   vm_boot INITRD SHARE CONSOLE     qemu -accel tcg -cpu max, slirp NIC, 9p share, isa-debug-exit
# Nothing is installed on the host: the linux-image package is fetched with `apt-get download`
# and unpacked with dpkg-deb (installing it would also pull a newer udev/systemd here).
set -u

VM_CACHE=${VM_CACHE:-/var/cache/clique-vm}
VM_TIMEOUT=${VM_TIMEOUT:-300}
# Loaded by /init: virtio transport, slirp NIC, 9p share, the test topology, tun (wireguard-go).
VM_MODS_BASE="virtio_pci virtio_net 9pnet_virtio 9p veth bridge tun"
# Loaded by the guest script itself, after it has checked the errors of a kernel without them.
# wireguard's depends= covers most; the x86 ciphers are optional accelerations it picks up.
VM_MODS_WG="libchacha chacha-x86_64 poly1305-x86_64 libchacha20poly1305 libcurve25519-generic
curve25519-x86_64 udp_tunnel ip6_udp_tunnel wireguard"

vm_log() { awk -v a="$VM_T0" -v b="$EPOCHREALTIME" -v m="$*" 'BEGIN{printf "# [%5.1fs] %s\n", b-a, m}'; }
VM_T0=${VM_T0:-$EPOCHREALTIME}

# The package linux-image-amd64 points at (linux-image-6.1.0-N-amd64 on Debian 12).
vm_kernel_pkg() {
	[ -n "${VM_KERNEL_PKG:-}" ] && { echo "$VM_KERNEL_PKG"; return 0; }
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}'
}

# Path of module $1 (dashes and underscores are the same to the kernel) under dir $2.
vm_mod_path() {
	local alt
	alt=$(echo "$1" | tr '_-' '-_')
	find "$2" \( -name "$1.ko" -o -name "$alt.ko" \) -print -quit
}

# depends= of the .modinfo section, without kmod (not installed on a fresh machine).
vm_mod_deps() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | tr ',' ' '; }

# Appends module $1 and, first, its dependencies to $ORDER_LIST (copied into $3) from tree $2.
vm_mod_add() {
	local m=$1 tree=$2 dst=$3 f d
	f=$(vm_mod_path "$m" "$tree")
	[ -n "$f" ] || { echo "vm: module $m not in the kernel package" >&2; return 1; }
	m=$(basename "$f" .ko)
	case " $ORDER_LIST " in *" $m "*) return 0 ;; esac
	for d in $(vm_mod_deps "$f"); do vm_mod_add "$d" "$tree" "$dst" || return 1; done
	case " $ORDER_LIST " in *" $m "*) return 0 ;; esac
	cp "$f" "$dst/$m.ko"
	ORDER_LIST="$ORDER_LIST $m"
}

# Sets VM_KERNEL (vmlinuz) and VM_MODDIR (*.ko, order.base, order.wg, version).
vm_kernel() {
	local pkg dir stamp tmp deb
	pkg=$(vm_kernel_pkg)
	if [ -z "$pkg" ]; then
		apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
		pkg=$(vm_kernel_pkg)
	fi
	stamp=$(printf '%s\n' "$pkg" "$VM_MODS_BASE" "$VM_MODS_WG" | md5sum | cut -c1-12)
	dir=$VM_CACHE/$pkg
	if [ -z "$pkg" ]; then
		# offline: the newest kernel cached before
		dir=$(ls -d "$VM_CACHE"/linux-image-*/ready 2>/dev/null | sort -V | tail -1)
		dir=${dir%/ready}
		[ -n "$dir" ] || { echo "vm: no linux-image package known to apt, none cached" >&2; return 1; }
		stamp=$(cat "$dir/ready")
	fi
	mkdir -p "$VM_CACHE"
	# one unpacker at a time; the others wait and find it ready
	exec 9>"$VM_CACHE/.lock"
	flock 9
	if [ "$(cat "$dir/ready" 2>/dev/null)" != "$stamp" ]; then
		vm_log "unpacking $pkg into $dir (once)"
		rm -rf "$VM_CACHE"/tmp.*
		tmp=$(mktemp -d "$VM_CACHE/tmp.XXXXXX")
		(cd "$tmp" && apt-get download -qq "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed') || true
		deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1)
		[ -n "$deb" ] && dpkg-deb -x "$deb" "$tmp/x" || {
			rm -rf "$tmp"
			echo "vm: apt-get download $pkg failed" >&2
			return 1
		}
		rm -rf "$dir"
		mkdir -p "$dir/modules"
		cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
		basename "$tmp"/x/lib/modules/* >"$dir/modules/version"
		local m
		ORDER_LIST=""
		for m in $VM_MODS_BASE; do vm_mod_add "$m" "$tmp/x/lib/modules" "$dir/modules" || break; done
		echo $ORDER_LIST | tr ' ' '\n' >"$dir/modules/order.base"
		local base=$ORDER_LIST
		for m in $VM_MODS_WG; do vm_mod_add "$m" "$tmp/x/lib/modules" "$dir/modules" || break; done
		echo "${ORDER_LIST#"$base"}" | tr ' ' '\n' | sed '/^$/d' >"$dir/modules/order.wg"
		rm -rf "$tmp"
		grep -qx wireguard "$dir/modules/order.wg" && grep -qx 9p "$dir/modules/order.base" || {
			echo "vm: modules missing from $pkg" >&2
			return 1
		}
		echo "$stamp" >"$dir/ready"
		# older kernels' caches are dead weight once the new one is ready
		for old in "$VM_CACHE"/linux-image-*; do
			[ "$old" = "$dir" ] || rm -rf "$old"
		done
	fi
	exec 9>&-
	VM_KERNEL=$dir/vmlinuz
	VM_MODDIR=$dir/modules
	# shellcheck disable=SC2034 # for the caller
	VM_KVER=$(cat "$dir/modules/version")
}

# vm_copy_bin ROOT SRC [DEST]: binary SRC into ROOT at DEST (default: the same path), with
# every library ldd names at its own path.
vm_copy_bin() {
	local root=$1 b=$2 dst=${3:-$2} l
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$b" "$root$dst"
	for l in $(ldd "$b" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$root$l" ] && continue
		mkdir -p "$root$(dirname "$l")"
		cp -L "$l" "$root$l"
	done
}

# vm_initramfs ROOT GUEST_SCRIPT BIN...: fills ROOT from scratch (vm_pack makes the cpio).
vm_initramfs() {
	local r=$1 guest=$2 b
	shift 2
	rm -rf "$r"
	mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,run,tmp,host,lib/modules,usr/bin,usr/sbin,var}
	ln -s ../run "$r/var/run"
	vm_copy_bin "$r" /bin/busybox
	for b in "$@"; do vm_copy_bin "$r" "$b" || return 1; done
	cp "$VM_MODDIR"/*.ko "$VM_MODDIR"/order.* "$r/lib/modules/"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nsystemd-network:x:102:\nnogroup:x:65534:\n' >"$r/etc/group"
	cp "$(dirname "${BASH_SOURCE[0]}")/init" "$r/init"
	cp "$guest" "$r/guest.sh"
	chmod 0755 "$r/init" "$r/guest.sh"
}

# vm_pack ROOT OUT: the initramfs (newc cpio, gzip -1: the kernel unpacks it in a blink)
vm_pack() { (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 >"$2"); }

# vm_boot INITRAMFS SHARE CONSOLE: returns qemu's exit status, the verdict (isa-debug-exit:
# 1 = the guest said PASS, 3 = FAIL; 124 = timeout; 0 = it powered off without one). Runs in
# network namespace VM_NETNS when set: slirp's 10.0.2.2 is then that namespace's loopback.
vm_boot() {
	local initrd=$1 share=$2 console=$3
	${VM_NETNS:+ip netns exec "$VM_NETNS"} timeout "$VM_TIMEOUT" qemu-system-x86_64 \
		-accel tcg -cpu max -smp 2 -m 1024 -nodefaults -nographic -no-reboot -monitor none \
		-kernel "$VM_KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init" \
		-serial "file:$console" \
		-virtfs "local,path=$share,mount_tag=hostshare,security_model=none,id=hs" \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04
}

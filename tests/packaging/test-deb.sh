#!/bin/bash
# make deb (issue 6): the package builds lintian-clean, carries the static binary with Depends
# only on ca-certificates and a Built-Using that matches this machine (issue 14), and installs
# into a throwaway root: an overlay of this machine's / (its dpkg database and its Depends already
# there) in a private mount namespace, with a fresh /run, i.e. a chroot without a running
# systemd, like an image build. Checks files, modes, the conffile, unit syntax (systemd-analyze verify), that the
# maintainer scripts enable the units and start nothing, and that purge cleans up.
# Prints "ok <check>" / "FAIL <check>".
set -u
[ "$(id -u)" = 0 ] || { echo "needs root (mount namespace, dpkg)"; exit 77; }
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
fails=0
ok() { echo "ok deb: $1"; }
fail() {
	echo "FAIL deb: $1"
	fails=$((fails + 1))
}
check() { # name cmd...
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

log=$(mktemp)
if bash packaging/deb/build.sh >"$log" 2>&1; then
	sed -n 's/^deb: /# /p' "$log"
	ok "dpkg-buildpackage + lintian --fail-on error,warning"
else
	cat "$log"
	fail "make deb"
	exit 1
fi
deb=$(ls "$top"/build-deb/clique-boot_*_*.deb)

# One package for every release (issue 14): the static binary, and no Depends on this machine's
# library versions (tests/packaging/test-chroot.sh installs it in Debian 11 and 13)
depends=$(dpkg-deb -f "$deb" Depends)
check "Depends: $depends (nothing versioned by this machine's libraries)" \
	test "$depends" = ca-certificates
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/sbin/clique-boot >"$log.bin"
if ! readelf -h "$log.bin" >/dev/null 2>&1; then
	fail "no ELF /usr/sbin/clique-boot in the .deb"
elif readelf -l "$log.bin" | grep -q INTERP; then
	fail "packaged /usr/sbin/clique-boot is dynamic: $(readelf -d "$log.bin" | grep NEEDED | xargs)"
else
	ok "packaged /usr/sbin/clique-boot is static (no PT_INTERP), $(stat -c %s "$log.bin") bytes"
fi
rm -f "$log.bin"
# hardening of our own code in the package build (packaging/static/build.sh's flags)
undef=$(find "$top/build-deb" -path '*/build-static/bootstrap/*.o' -exec nm -u {} + 2>/dev/null)
if grep -q ' __stack_chk_fail$' <<<"$undef" && grep -q ' __snprintf_chk$' <<<"$undef"; then
	ok "package build hardened: stack protector and _FORTIFY_SOURCE calls in bootstrap/*.o"
else
	fail "package build not hardened (no __stack_chk_fail / __snprintf_chk in bootstrap/*.o)"
fi
# Built-Using (Debian policy 7.8): each "source (= version)" is the source of a package installed
# here at that version, and glibc is one of them
built_using=$(dpkg-deb -f "$deb" Built-Using)
echo "# Built-Using: $built_using"
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${source:Package} ${source:Version}\n' |
	awk '$1 == "ii" { print $2 " (= " $3 ")" }' | sort -u)
bu_ok=1
while read -r s; do
	grep -qxF "$s" <<<"$installed" || { echo "# not installed here: '$s'"; bu_ok=0; }
done < <(tr ',' '\n' <<<"$built_using" | sed 's/^ *//; /^$/d')
case ", $built_using" in *", glibc (= "*) ;; *) bu_ok=0 ;; esac
check "Built-Using names installed sources at their versions, glibc among them" test $bu_ok = 1

d=$(mktemp -d)
trap 'umount -R "$d/root" 2>/dev/null; umount "$d/t" 2>/dev/null; rm -rf "$d" "$log"' EXIT
# everything below runs in one private mount namespace; results come back as files
cat >"$d/inside.sh" <<'EOF'
set -eu
d=$1 deb=$2
mount -t tmpfs tmpfs "$d/t"
mkdir -p "$d/t/up" "$d/t/work" "$d/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/t/up,workdir=$d/t/work" "$d/root"
mount -t proc proc "$d/root/proc"
mount -t tmpfs tmpfs "$d/root/run" # no /run/systemd/system: not booted with systemd
mount -t tmpfs tmpfs "$d/root/tmp"
mount --rbind /dev "$d/root/dev"
# every systemctl and deb-systemd-invoke call of the maintainer scripts is logged, then run
mkdir -p "$d/root/usr/local/sbin"
for c in systemctl deb-systemd-invoke; do
	real=$(command -v $c)
	printf '#!/bin/sh\necho "%s $*" >>/tmp/calls\nexec %s "$@"\n' "$c" "$real" \
		>"$d/root/usr/local/sbin/$c"
	chmod 755 "$d/root/usr/local/sbin/$c"
done
cp "$deb" "$d/root/tmp/clique-boot.deb"
run() { chroot "$d/root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive "$@"; }
run dpkg --purge clique-boot >/dev/null 2>&1 || true
run dpkg -i /tmp/clique-boot.deb >"$d/install.log" 2>&1
cp "$d/root/tmp/calls" "$d/calls.install" 2>/dev/null || : >"$d/calls.install"
stat -c '%a %U:%G %n' "$d/root/usr/sbin/clique-boot" "$d/root/etc/clique" \
	"$d/root/etc/clique/clique.conf" "$d/root"/lib/systemd/system/clique-*.* \
	"$d/root/usr/share/man/man8/clique-boot.8.gz" \
	"$d/root/usr/lib/systemd/networkd.conf.d/clique-boot-networkd.conf" | sed "s|$d/root||" >"$d/modes"
(cd "$d/root/etc/systemd/system" && find . -name 'clique-*' -printf '%p -> %l\n' | sort) >"$d/links"
run dpkg-query -W -f='${Conffiles}\n' clique-boot >"$d/conffiles"
run clique-boot --version >"$d/version" 2>&1 || true
run clique-boot --dry-run >"$d/unconfigured" 2>&1 && echo 0 >"$d/unconfigured.rc" ||
	echo $? >"$d/unconfigured.rc"
SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no --root="$d/root" \
	clique-boot.service clique-refresh.service clique-refresh.timer >"$d/verify" 2>&1 || true
run man -w clique-boot >"$d/manpath" 2>&1 || true
# the package leaves networkd's own enablement alone (the boot unit pulls it in): nothing of
# it changed in the overlay's upper layer
find "$d/t/up/etc/systemd/system" -name 'systemd-networkd*' 2>/dev/null >"$d/networkd-links"
# what clique-boot itself writes (key, cache, the networkd units), and a unit that is not ours
mkdir -p "$d/root/var/lib/clique-boot" "$d/root/etc/systemd/network"
touch "$d/root/var/lib/clique-boot/private.key" "$d/root/etc/systemd/network/90-clique-wg0.netdev" \
	"$d/root/etc/systemd/network/90-clique-wg0.network" "$d/root/etc/systemd/network/10-other.network"
run dpkg --purge clique-boot >"$d/purge.log" 2>&1
ls -d "$d/root/etc/clique" "$d/root"/etc/systemd/system/*/clique-* "$d/root/var/lib/clique-boot" \
	"$d/root"/etc/systemd/network/90-clique-* 2>/dev/null | sed "s|$d/root||" >"$d/after-purge" || true
[ -f "$d/root/etc/systemd/network/10-other.network" ] && echo kept >"$d/other-unit"
# cloud-init's order (cloud-config/*.yaml): write_files puts clique.conf in place first, then
# the package is installed with --force-confold, without a terminal
mkdir -p "$d/root/etc/clique"
echo "bucket_endpoint = http://192.0.2.1:7480" >"$d/root/etc/clique/clique.conf"
chmod 600 "$d/root/etc/clique/clique.conf"
run dpkg -i --force-confold /tmp/clique-boot.deb </dev/null >"$d/confold.log" 2>&1 &&
	cat "$d/root/etc/clique/clique.conf" >"$d/confold" || echo "dpkg failed" >"$d/confold"
EOF
mkdir -p "$d/t"
if ! unshare -m --propagation private bash "$d/inside.sh" "$d" "$deb" >"$log" 2>&1; then
	cat "$log" "$d/install.log" 2>/dev/null
	fail "install into the throwaway root"
	exit 1
fi
ok "dpkg -i into a throwaway root (overlay of /, no running systemd)"

want_mode() { grep -qx "$1 $2" "$d/modes" || { grep " $2\$" "$d/modes"; return 1; }; }
check "/usr/sbin/clique-boot 755 root:root" want_mode "755 root:root" /usr/sbin/clique-boot
check "/etc/clique 700, clique.conf 600 (secrets)" \
	eval 'want_mode "700 root:root" /etc/clique && want_mode "600 root:root" /etc/clique/clique.conf'
for u in clique-boot.service clique-refresh.service clique-refresh.timer; do
	check "/lib/systemd/system/$u 644" want_mode "644 root:root" "/lib/systemd/system/$u"
done
check "networkd.conf.d drop-in 644 (foreign routing policy rules kept)" \
	want_mode "644 root:root" /usr/lib/systemd/networkd.conf.d/clique-boot-networkd.conf
check "man page installed" grep -q 'clique-boot.8.gz' "$d/manpath"
check "installed binary runs: $(cat "$d/version")" grep -q '^clique-boot ' "$d/version"
check "/etc/clique/clique.conf is a conffile" grep -q '^ */etc/clique/clique.conf [0-9a-f]\{32\}' \
	"$d/conffiles"
check "unconfigured example: exit 78 naming bucket_endpoint" \
	eval 'grep -qx 78 "$d/unconfigured.rc" && grep -q bucket_endpoint "$d/unconfigured"'
if [ -s "$d/verify" ]; then
	cat "$d/verify"
	fail "systemd-analyze verify --root of the installed units"
else
	ok "systemd-analyze verify --root of the installed units: clean"
fi
check "postinst enables clique-boot.service (multi-user.target.wants)" \
	grep -q '^./multi-user.target.wants/clique-boot.service -> /lib/systemd/system/clique-boot.service' "$d/links"
check "postinst enables clique-refresh.timer (timers.target.wants)" \
	grep -q '^./timers.target.wants/clique-refresh.timer -> ' "$d/links"
check "clique-refresh.service itself not enabled (the timer starts it)" \
	eval '! grep -q "clique-refresh.service" "$d/links"'
if grep -Eq '(start|restart|reload-or-restart) ' "$d/calls.install"; then
	cat "$d/calls.install"
	fail "maintainer scripts started a unit in a chroot"
else
	ok "nothing started in the chroot (systemctl/deb-systemd-invoke calls: $(wc -l <"$d/calls.install"))"
fi
if [ -s "$d/after-purge" ]; then
	cat "$d/after-purge"
	fail "purge leaves files behind"
else
	ok "dpkg --purge removes /etc/clique, the enable symlinks, /var/lib/clique-boot and 90-clique-wg0.netdev/.network"
fi
check "dpkg --purge keeps networkd units that are not clique-boot's" grep -qx kept "$d/other-unit"
if [ -s "$d/networkd-links" ]; then
	cat "$d/networkd-links"
	fail "the maintainer scripts changed systemd-networkd's enablement"
else
	ok "systemd-networkd's enablement untouched (clique-boot.service pulls it in: Wants=)"
fi

if grep -qx 'bucket_endpoint = http://192.0.2.1:7480' "$d/confold"; then
	ok "a clique.conf written before install (cloud-init) is kept by dpkg --force-confold"
else
	cat "$d/confold" "$d/confold.log"
	fail "install over an existing clique.conf"
fi

# the example config lists every key clique-boot knows (bootstrap/config.c), and only those
keys_c=$(sed -n 's/^\tKEY("\([a-z0-9_]*\)".*/\1/p' bootstrap/config.c | sort)
keys_ex=$(sed -n 's/^#\([a-z0-9_]*\) =.*/\1/p' packaging/clique.conf | sort -u)
if [ -n "$keys_c" ] && [ "$keys_c" = "$keys_ex" ]; then
	ok "example clique.conf lists all $(echo "$keys_c" | wc -l) config keys"
else
	diff <(echo "$keys_c") <(echo "$keys_ex")
	fail "example clique.conf keys differ from bootstrap/config.c (< code, > example)"
fi
exit $((fails > 0))

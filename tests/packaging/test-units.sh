#!/bin/bash
# The shipped systemd units parse cleanly (systemd-analyze verify), and the check itself
# catches a broken unit. Prints "ok <check>" / "FAIL <check>".
set -u
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing"; exit 77; }
top=$(cd "$(dirname "$0")/../.." && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/usr/sbin"
cp /bin/true "$d/usr/sbin/clique-boot"
fails=0
verify() { # dir units... -> prints diagnostics, returns non-zero when there are any
	local dir=$1 out
	shift
	out=$(cd "$dir" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$@" 2>&1)
	[ -z "$out" ] || { echo "$out"; return 1; }
}
for u in "$top"/packaging/systemd/*; do
	sed "s|/usr/sbin/clique-boot|$d/usr/sbin/clique-boot|" "$u" >"$d/$(basename "$u")"
done
if verify "$d" ./clique-boot.service ./clique-refresh.service ./clique-refresh.timer; then
	echo "ok systemd-analyze verify: shipped units clean"
else
	echo "FAIL systemd-analyze verify"
	fails=1
fi
mkdir "$d/bad"
sed 's/^Type=oneshot/Type=onesh0t/' "$d/clique-boot.service" >"$d/bad/clique-boot.service"
if verify "$d/bad" ./clique-boot.service >/dev/null; then
	echo "FAIL the unit check does not notice a bad value"
	fails=1
else
	echo "ok the unit check notices a bad value"
fi
grep -q '^ReadWritePaths=/etc/systemd/network' "$top/packaging/systemd/clique-boot.service" &&
	grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN' "$top/packaging/systemd/clique-boot.service" &&
	echo "ok boot unit is sandboxed (ProtectSystem=strict, capability bounding set)" ||
	{ echo "FAIL boot unit sandboxing"; fails=1; }
exit $fails

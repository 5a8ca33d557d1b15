#!/bin/bash
# make deb: build-deb/clique-boot_<version>_<arch>.deb with dpkg-buildpackage + debhelper.
#
# Why debhelper and not dpkg-deb: dh_installsystemd writes the maintainer scripts that enable
# the units through deb-systemd-helper and start them through deb-systemd-invoke (which
# starts nothing in a chroot or under policy-rc.d), dh_shlibdeps computes Depends from the
# binary, dh_installdeb marks /etc/clique/clique.conf as a conffile, dh_strip/dh_compress do
# the rest policy asks for; by hand each is a place to be wrong.
#
# dpkg-buildpackage writes its results next to the source tree, so the build runs in a copy of
# the tree under build-deb/ whose ./debian is a symlink to packaging/debian (shared/STYLE.md).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
OUT=${BUILD_DEB:-build-deb}
say() { echo "deb: $*" >&2; }
for p in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian; do
	command -v "${p%%:*}" >/dev/null || { say "missing ${p%%:*} (Debian package ${p#*:}; make deps)"; exit 1; }
done

version=$(sed -n 's/^VERSION := //p' Makefile)
changelog=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
[ "$version" = "$changelog" ] ||
	{ say "Makefile VERSION $version != packaging/debian/changelog $changelog"; exit 1; }

src=$OUT/clique-boot-$version
rm -rf "$OUT"
mkdir -p "$src"
# the tracked and new files of the tree, without build output
git ls-files --cached --others --exclude-standard -z |
	grep -zv '^\(build\|debian\)' | xargs -0 cp --parents -t "$src" 2>/dev/null ||
	{ say "copying the tree failed"; exit 1; }
ln -s packaging/debian "$src/debian"

(cd "$src" && dpkg-buildpackage -b -us -uc --no-sign >../dpkg-buildpackage.log 2>&1) ||
	{ tail -40 "$OUT/dpkg-buildpackage.log" >&2; say "dpkg-buildpackage failed ($OUT/dpkg-buildpackage.log)"; exit 1; }
deb=$(ls "$OUT"/clique-boot_"$version"_*.deb)
# lintian: every tag but the pedantic/experimental ones; overrides in
# packaging/debian/clique-boot.lintian-overrides say why
rc=0
lintian --fail-on error,warning --display-info \
	"$OUT"/clique-boot_"$version"_*.changes >"$OUT/lintian.txt" 2>"$OUT/lintian.err" || rc=$?
grep -v 'running with root privileges' "$OUT/lintian.err" >>"$OUT/lintian.txt" || true
[ $rc = 0 ] || { cat "$OUT/lintian.txt" >&2; say "lintian failed"; exit 1; }
[ -s "$OUT/lintian.txt" ] && sed 's/^/deb: lintian: /' "$OUT/lintian.txt" >&2
say "$deb: $(stat -c %s "$deb") bytes; lintian: $(grep -c . "$OUT/lintian.txt") tags;" \
	"overridden: $(grep -v '^#' packaging/debian/clique-boot.lintian-overrides | cut -d' ' -f1 | xargs)"

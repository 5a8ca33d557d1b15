#!/bin/bash
# built-using.sh DIR: the Built-Using value (Debian policy 7.8) of the static binary that
# packaging/static/build.sh linked in DIR, e.g. "c-ares (= 1.18.1-3), glibc (= 2.36-9+deb12u4)".
#
# Derived from the link itself: every archive the linker took a member from (the "Archive member
# included" lines of DIR/clique-boot.map) is mapped to its Debian source package and version:
#   - an archive under a prefix that build.sh built from a Debian source package (DIR/built-from:
#     "prefix source version" lines) -> that source and version;
#   - an archive of an installed package (dpkg -S) -> that package's source and version;
#   - an archive of this tree (libclique.a, packaging/static/mnl.c) -> ours, not listed.
# GCC's libgcc.a/libgcc_eh.a are not listed: they fall under the GCC Runtime Library Exception,
# and Debian's own static packages (busybox-static, sash, zsh-static) name glibc but not gcc.
# Any other archive that cannot be mapped is an error: the field would be incomplete.
set -euo pipefail
dir=${1:?usage: built-using.sh BUILD-DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
map=$dir/clique-boot.map
die() {
	echo "built-using: $*" >&2
	exit 1
}
[ -s "$map" ] || die "no link map $map (packaging/static/build.sh writes it)"
[ -f "$dir/built-from" ] || die "no $dir/built-from (packaging/static/build.sh writes it)"

source_of() { # archive -> "source version", or nothing for ours
	local a=$1 prefix src ver pkg
	case $a in "$top"/* | "$(realpath -m "$dir")"/*) return 0 ;; esac
	while read -r prefix src ver; do
		case $a in "$(realpath -m "$prefix")"/*)
			echo "$src $ver"
			return 0
			;;
		esac
	done <"$dir/built-from"
	pkg=$(dpkg -S "$a" 2>/dev/null | head -1 | cut -d: -f1) || true
	# merged /usr: dpkg may know the file under /lib
	[ -n "$pkg" ] || pkg=$(dpkg -S "${a#/usr}" 2>/dev/null | head -1 | cut -d: -f1) || true
	[ -n "$pkg" ] || die "$a: not from this tree, not built here, not in any installed package"
	dpkg-query -W -f='${source:Package} ${source:Version}\n' "$pkg"
}

# archive paths as the map spells them (relative ones are this build's own), de-duplicated
sed -n 's/^\([^ ]*\.a\)(.*/\1/p' "$map" | sort -u | while read -r a; do
	source_of "$(realpath -m "$a")"
done | sort -u | grep -v '^gcc-[0-9]* ' | awk '{ printf "%s%s (= %s)", (NR > 1 ? ", " : ""), $1, $2 }'

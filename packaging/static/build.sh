#!/bin/bash
# make static: build-static/clique-boot without dynamic dependencies (shared/STYLE.md 17).
# Arguments are more make targets to build the same way (tests link build-static/tests/test-*).
#
# Debian 12 ships libjansson.a, libsodium.a, libssl.a/libcrypto.a and libcares.a, but its libcurl.a
# needs static krb5/gssapi/sasl/ldap/nghttp2/... that Debian does not ship, and there is no
# libmnl.a at all. So this script builds, from the Debian source packages of the versions
# installed here (apt-get source; headers and library then match):
#   - libcurl: HTTP/HTTPS only, with Debian's OpenSSL 3 (libssl-dev's libssl.a/libcrypto.a, as
#     Debian builds and patches them: security fixes arrive with Debian's openssl updates and a
#     rebuild) and c-ares for DNS (no NSS, see below); no compression, cookies, auth schemes,
#     netrc, alt-svc, HSTS, ... TLS 1.2 and 1.3, host names and IP-address SANs verified.
#     libcrypto.a alone adds about 3 MB: see BUDGET below;
#   - libmnl: as Debian builds it, static.
# OpenSSL and other systems: the binary runs where /usr/lib/ssl/openssl.cnf belongs to another
# OpenSSL (1.1 on Debian 11 and Ubuntu 20.04). So curl is built with
# --disable-openssl-auto-load-config (curl calls OPENSSL_init_ssl() with
# OPENSSL_INIT_NO_LOAD_CONFIG first: no openssl.cnf or $OPENSSL_CONF is ever read), without
# build-time CA paths (clique-boot always names its ca_file), and dlopen() is wrapped to fail
# (packaging/static/nodlopen.c): no engine or provider module of the system is ever loaded.
# Security level and protocol floor are then the compiled-in ones of Debian's build
# (OPENSSL_TLS_SECURITY_LEVEL=2) plus bootstrap/http.c's TLS 1.2 minimum.
# Both are cached outside the tree in $CLIQUE_STATIC_CACHE (default /var/cache/clique-static),
# keyed by source version and configure flags, so a rerun only relinks clique-boot.
#
# DNS: with c-ares, libcurl resolves names itself from /etc/hosts and /etc/resolv.conf; glibc's
# NSS (and its dlopen of libnss_*.so, which a static binary cannot rely on) is never used for
# the bucket endpoint. The only other NSS lookup is getgrnam("systemd-network") for the unit
# files, which glibc answers from /etc/group with its built-in "files" backend.
#
# deb-src: the machine's apt may list only binary archives, so a private apt configuration in the
# cache (deb-src lines derived from this machine's Debian archives; nothing under /etc is
# changed) fetches the sources. When a source is unreachable the script says exactly which file
# from where; for libmnl it then builds packaging/static/mnl.c (our own implementation of the
# libmnl 1.0.4 functions clique-boot uses, compiled against Debian's <libmnl/libmnl.h>) unless
# CLIQUE_STATIC_MNL=source, which makes a missing libmnl source fatal.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
CACHE=${CLIQUE_STATIC_CACHE:-/var/cache/clique-static}
OUT=${BUILD_STATIC:-build-static}
JOBS=$(nproc)
# 4 MiB (shared/DESIGN.md 9) plus what Debian's OpenSSL 3 costs over mbed TLS 2.28: its objects
# have one .text section each (no -ffunction-sections), so --gc-sections keeps every algorithm
# that the built-in default provider's tables reference (README, Packages)
BUDGET=$((6 * 1024 * 1024))
say() { echo "static: $*" >&2; }
die() {
	say "$*"
	exit 1
}
mkdir -p "$CACHE/src" "$OUT"

srcver() { # binary package -> version of its source package, as installed
	dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null ||
		die "$1 is not installed (run make deps)"
}

# --- private apt configuration with deb-src for this machine's Debian archives
APTDIR=$CACHE/apt
APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/nonexistent
	-o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
	-o APT::Sandbox::User=root -o Debug::NoLocking=1 -qq)
apt_src_setup() {
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' \
		2>/dev/null | awk '$1 ~ /\/debian(-security)?\/$/' | sort -u |
		while read -r uri suite comp; do
			echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite $comp"
		done >"$APTDIR/sources.list.new"
	[ -s "$APTDIR/sources.list.new" ] ||
		die "no Debian archive in this machine's apt sources (apt-get indextargets): cannot derive deb-src"
	if ! cmp -s "$APTDIR/sources.list.new" "$APTDIR/sources.list" ||
		[ -z "$(find "$APTDIR/lists" -name '*Sources*' -mmin -1440 2>/dev/null | head -1)" ]; then
		mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
		apt-get "${APT_OPTS[@]}" update ||
			die "apt-get update of the deb-src lists failed: $(tr '\n' ';' <"$APTDIR/sources.list")"
	fi
	rm -f "$APTDIR/sources.list.new"
}

# fetch NAME VERSION -> extracts the patched Debian source to $CACHE/src/NAME-VERSION
fetch() {
	local name=$1 ver=$2 dir=$CACHE/src/$1-$2 log
	[ -f "$dir/.extracted" ] && return 0
	[ -f "$APTDIR/sources.list" ] || apt_src_setup
	log=$(mktemp)
	rm -rf "$dir" "$CACHE/src/dl-$name"
	mkdir -p "$CACHE/src/dl-$name"
	if ! (cd "$CACHE/src/dl-$name" && apt-get "${APT_OPTS[@]}" source --download-only \
		"$name=$ver") >"$log" 2>&1; then
		# lists may be stale: refresh once, then give the precise answer
		apt_src_setup
		if ! (cd "$CACHE/src/dl-$name" && apt-get "${APT_OPTS[@]}" source --download-only \
			"$name=$ver") >"$log" 2>&1; then
			say "cannot fetch the Debian source package $name $ver:"
			grep -E '^(E|W):' "$log" | sed 's/^/static:   /' >&2 || cat "$log" >&2
			rm -f "$log"
			return 1
		fi
	fi
	rm -f "$log"
	# apt verified every file against the signed Release; dpkg-source's own .dsc signature
	# check only lacks debian-keyring and would print gpgv noise
	(cd "$CACHE/src/dl-$name" && dpkg-source -q -x ./*.dsc "$dir") >"$CACHE/src/$name.log" 2>&1 ||
		{ cat "$CACHE/src/$name.log" >&2; die "dpkg-source -x failed for $name $ver"; }
	touch "$dir/.extracted"
}

# --- libcurl: HTTP and HTTPS only
CURL_VER=$(srcver libcurl4-openssl-dev)
CURL_CONF=(--disable-shared --enable-static --with-pic=no --disable-dependency-tracking
	--with-openssl --disable-openssl-auto-load-config --enable-ares
	--without-ca-bundle --without-ca-path --without-ca-fallback --enable-ipv6
	--disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict
	--disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp
	--disable-gopher --disable-mqtt --disable-manual --disable-libcurl-option --disable-ntlm
	--disable-ntlm-wb --disable-unix-sockets --disable-cookies --disable-doh --disable-mime
	--disable-netrc --disable-progress-meter --disable-alt-svc --disable-hsts --disable-websockets
	--disable-headers-api --disable-get-easy-options --disable-aws --disable-kerberos-auth
	--disable-negotiate-auth --disable-verbose --disable-versioned-symbols
	--without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2
	--without-nghttp2 --without-nghttp3 --without-ngtcp2 --without-librtmp --without-libssh2
	--without-libssh --without-gssapi --without-libgsasl)
key=$(printf '%s\n' "$CURL_VER" "${CURL_CONF[@]}" "$(srcver libssl-dev)" "$(srcver libc-ares-dev)" |
	sha256sum | cut -c1-12)
CURL_PREFIX=$CACHE/curl-$CURL_VER-$key
if [ ! -f "$CURL_PREFIX/.built" ]; then
	fetch curl "$CURL_VER" ||
		die "libcurl: need the Debian source package curl $CURL_VER (deb-src of this machine's mirror)"
	say "building libcurl $CURL_VER (HTTP/HTTPS only) in $CURL_PREFIX"
	b=$CACHE/build-curl-$key
	rm -rf "$b"
	cp -a "$CACHE/src/curl-$CURL_VER" "$b"
	# Debian builds its OpenSSL flavour without the last two patches (debian/rules: quilt pop)
	for p in 99_nss.patch 90_gnutls.patch; do
		patch -s -R -p1 -d "$b" <"$b/debian/patches/$p"
	done
	(
		cd "$b"
		./configure --prefix="$CURL_PREFIX" "${CURL_CONF[@]}" >configure.out 2>&1 ||
			{ tail -30 configure.out; exit 1; }
		make -s -j"$JOBS" -C lib >make.out 2>&1 || { tail -30 make.out; exit 1; }
		make -s -C lib install >/dev/null
		make -s -C include install >/dev/null
		install -D -m 0644 libcurl.pc "$CURL_PREFIX/lib/pkgconfig/libcurl.pc"
		grep -q '^#define CURL_DISABLE_OPENSSL_AUTO_LOAD_CONFIG 1' lib/curl_config.h ||
			{ echo "curl ignored --disable-openssl-auto-load-config"; exit 1; }
	) || die "libcurl build failed in $b"
	rm -rf "$b"
	touch "$CURL_PREFIX/.built"
fi

# --- libmnl: from the Debian source, or our own implementation when it is unreachable
MNL_VER=$(srcver libmnl-dev)
MNL_PREFIX=$CACHE/libmnl-$MNL_VER
if [ ! -f "$MNL_PREFIX/.built" ]; then
	if fetch libmnl "$MNL_VER"; then
		say "building libmnl $MNL_VER in $MNL_PREFIX"
		b=$CACHE/build-libmnl
		rm -rf "$b"
		cp -a "$CACHE/src/libmnl-$MNL_VER" "$b"
		(cd "$b" && ./configure --prefix="$MNL_PREFIX" --enable-static --disable-shared \
			>configure.out 2>&1 && make -s -j"$JOBS" >make.out 2>&1 && make -s install \
			>/dev/null) || die "libmnl build failed in $b"
		rm -rf "$b"
		touch "$MNL_PREFIX/.built"
	elif [ "${CLIQUE_STATIC_MNL:-}" = source ]; then
		die "libmnl: need the Debian source package libmnl $MNL_VER (CLIQUE_STATIC_MNL=source)"
	else
		say "libmnl: building packaging/static/mnl.c instead (CLIQUE_STATIC_MNL=source to refuse)"
		MNL_PREFIX=$top/$OUT/mnl
	fi
fi
if [ "$MNL_PREFIX" = "$top/$OUT/mnl" ]; then
	mkdir -p "$MNL_PREFIX/lib/pkgconfig"
	cc -O2 -std=gnu11 -Wall -Wextra -ffunction-sections -fdata-sections \
		-c -o "$MNL_PREFIX/mnl.o" packaging/static/mnl.c
	rm -f "$MNL_PREFIX/lib/libmnl.a"
	ar rcs "$MNL_PREFIX/lib/libmnl.a" "$MNL_PREFIX/mnl.o"
	cat >"$MNL_PREFIX/lib/pkgconfig/libmnl.pc" <<-EOF
		Name: libmnl
		Description: libmnl API subset for clique-boot (packaging/static/mnl.c)
		Version: $MNL_VER
		Libs: -L$MNL_PREFIX/lib -lmnl
		Cflags:
	EOF
fi

# --- clique-boot itself, through the Makefile's STATIC=1 path
export PKG_CONFIG_PATH=$CURL_PREFIX/lib/pkgconfig:$MNL_PREFIX/lib/pkgconfig
# The link map ($OUT/clique-boot.map: make expands the $@ in LDFLAGS) and the libraries built
# here from Debian source packages ("prefix source version" lines) say which sources the binary
# contains (packaging/deb/built-using.sh).
{
	echo "$CURL_PREFIX curl $CURL_VER"
	[ "$MNL_PREFIX" = "$top/$OUT/mnl" ] || echo "$MNL_PREFIX libmnl $MNL_VER"
} >"$OUT/built-from"
# Hardening as dpkg-buildflags' hardening=+all gives a dynamic build, minus PIE (the Makefile's
# -static): stack protector, stack clash protection, CET, fortified libc calls; ld adds RELRO.
harden="-fstack-protector-strong -fstack-clash-protection -fcf-protection"
warn=$OUT/link-warnings.txt
cc -O2 -std=gnu11 -Wall -Wextra -c -o "$OUT/nodlopen.o" packaging/static/nodlopen.c
CFLAGS="-O2 -ffunction-sections -fdata-sections $harden" CPPFLAGS=-D_FORTIFY_SOURCE=2 \
	LDFLAGS="-Wl,--gc-sections -Wl,--wrap=dlopen $top/$OUT/nodlopen.o -Wl,-Map=\$@.map" \
	make --no-print-directory STATIC=1 BUILD="$OUT" "$OUT/clique-boot" "$@" 2>"$warn" ||
	{ cat "$warn" >&2; die "link failed"; }
strip "$OUT/clique-boot"
# glibc's static-link warnings name the NSS calls; print them so they stay visible
grep -h 'statically linked' "$warn" | sed 's/^.*warning: /static: note: /' | sort -u >&2 || true
deps=$(ldd "$OUT/clique-boot" 2>&1 || true)
case $deps in
*"not a dynamic executable"*) ;;
*) die "$OUT/clique-boot is dynamic: $(echo "$deps" | tr '\n' ' ')" ;;
esac
size=$(stat -c %s "$OUT/clique-boot")
say "$OUT/clique-boot: $size bytes (budget $BUDGET), libcurl $CURL_VER with OpenSSL" \
	"$(srcver libssl-dev), libmnl $MNL_VER" \
	"($([ "$MNL_PREFIX" = "$top/$OUT/mnl" ] && echo packaging/static/mnl.c || echo Debian source))"
[ "$size" -le "$BUDGET" ] || die "over the size budget of $BUDGET bytes"

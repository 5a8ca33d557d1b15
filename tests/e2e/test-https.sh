#!/bin/bash
# e2e (issue 14): the bucket over HTTPS. radosgw serves TLS 1.3 only (beast ssl_options) with a
# certificate from a test CA naming rgw.clique.test and 127.0.0.1, in a network namespace of its
# own; clique-boot --dry-run runs there (a dry run exits 75 when the bucket is refused, like a
# run). Checked: trusted via ca_file by name and by IP address; an untrusted CA (ca_file and the
# default system bundle) and a wrong host name refused with one line naming the endpoint, exit
# 75; TLS 1.3 negotiated (the server refuses TLS 1.2); a TLS 1.1-only server refused; a missing
# ca_file is exit 78; plain http warns once.
# BIN (default $BUILD/clique-boot) is the binary under test; tests/packaging/test-static.sh runs
# this with the static one and STATIC=1, which adds: no OpenSSL config or module is ever opened.
# Prints "ok <check>" / "FAIL <check>".
set -u
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 77; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$TOP/${BUILD:-build}/clique-boot}
P=${P:-cbtls}
NS=$P-s3
KIND=$([ "${STATIC:-0}" = 1 ] && echo static || echo dynamic)
BUCKET=clique-tls
fails=0
ok() { echo "ok https ($KIND): $1"; }
fail() {
	echo "FAIL https ($KIND): $1"
	fails=$((fails + 1))
}
[ -x "$BIN" ] || { echo "$BIN not built"; exit 77; }
d=$(mktemp -d)
cleanup() {
	[ -f "$d/srv.pid" ] && kill "$(cat "$d/srv.pid")" 2>/dev/null
	ip netns exec "$NS" bash "$TOP/tests/e2e/rgw.sh" down "$d/rgw" >/dev/null 2>&1
	ip netns del "$NS" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT
. "$TOP/tests/e2e/testca.sh"

testca_ca "$d" ca && testca_ca "$d" other &&
	testca_cert "$d" ca rgw "DNS:rgw.clique.test,IP:127.0.0.1" ||
	{ fail "test CA (openssl)"; exit 1; }
ip netns del "$NS" 2>/dev/null
ip netns add "$NS" && ip -n "$NS" link set lo up || { fail "network namespace $NS"; exit 1; }
if ! RGW_DNS_NAME=rgw.clique.test RGW_SSL_PORT=7443 RGW_SSL_CERT=$d/rgw.pem RGW_SSL_KEY=$d/rgw.key \
	RGW_SSL_OPTIONS=no_sslv2:no_sslv3:no_tlsv1:no_tlsv1_1:no_tlsv1_2 \
	ip netns exec "$NS" bash "$TOP/tests/e2e/rgw.sh" up "$d/rgw" 7480 >"$d/rgw.log" 2>&1; then
	cat "$d/rgw.log"
	fail "radosgw with an HTTPS endpoint"
	exit 1
fi
# shellcheck disable=SC1091
. "$d/rgw/env"
ip netns exec "$NS" s3cmd --no-ssl --host=127.0.0.1:7480 --host-bucket=127.0.0.1:7480 \
	--access_key="$S3_ACCESS_KEY" --secret_key="$S3_SECRET_KEY" -q mb "s3://$BUCKET"

printf '127.0.0.1 localhost\n127.0.0.1 rgw.clique.test\n' >"$d/hosts"
printf '%s\n' "$S3_SECRET_KEY" >"$d/secret_key"
cat >"$d/c.conf" <<EOF
bucket_endpoint = https://rgw.clique.test:7443
ca_file = $d/ca.pem
bucket = $BUCKET
access_key = $S3_ACCESS_KEY
secret_key_file = $d/secret_key
mesh_key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
address = 10.15.0.3
provider = static
instance_id = 1
name = https-node
region = test
wan_ipv4 = 192.0.2.10
bucket_timeout = 20
EOF
chmod 600 "$d/c.conf" "$d/secret_key"

# dry [VAR=value...]: a dry run in the namespace with our /etc/hosts; log lines in $d/err
dry() {
	ip netns exec "$NS" unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' \
		sh "$d/hosts" env "$@" "$BIN" --dry-run --config "$d/c.conf" --root "$d/root" \
		>"$d/out" 2>"$d/err"
}
# expect NAME RC PATTERN [VAR=value...]: exit status RC and exactly one log line matching
# PATTERN (an extended regex), and no other log line naming TLS or a certificate
expect() {
	local name=$1 want=$2 pat=$3 rc n
	shift 3
	dry "$@"
	rc=$?
	n=$(grep -cE "$pat" "$d/err")
	if [ "$rc" = "$want" ] && [ "$n" = 1 ] &&
		[ "$(grep -ciE 'tls|certificate|ssl' "$d/err")" -le 1 ]; then
		ok "$name: exit $rc, '$(grep -E "$pat" "$d/err" | cut -c1-160)'"
	else
		cat "$d/err"
		fail "$name: exit $rc (want $want), $n lines matching '$pat'"
	fi
}

# --- trusted through ca_file: by name and by IP address (the SAN IP:127.0.0.1)
dry
rc=$?
if [ $rc = 0 ] && ! grep -q 'plain http' "$d/err"; then
	ok "trusted via ca_file, https://rgw.clique.test:7443: dry run exits 0"
else
	cat "$d/err"
	fail "https://rgw.clique.test:7443 with the test CA: exit $rc"
fi
dry CLIQUE_BUCKET_ENDPOINT=https://127.0.0.1:7443
rc=$?
[ $rc = 0 ] && ok "trusted via ca_file, endpoint given as an IP address: exit 0" ||
	{ cat "$d/err"; fail "https://127.0.0.1:7443 with the test CA: exit $rc"; }

# --- refused: one line naming the endpoint and the reason, exit 75 (mesh from the cache)
expect "untrusted CA (ca_file of another CA)" 75 \
	"bucket https://127\.0\.0\.1:7443/$BUCKET: .*TLS certificate not trusted" \
	CLIQUE_BUCKET_ENDPOINT=https://127.0.0.1:7443 "CLIQUE_CA_FILE=$d/other.pem"
# ca_file is not set at all: the system bundle, which does not hold the test CA
sed '/^ca_file/d' "$d/c.conf" >"$d/c2.conf" && chmod 600 "$d/c2.conf" && mv "$d/c2.conf" "$d/c.conf"
expect "untrusted CA (no ca_file: the system bundle)" 75 \
	"bucket https://rgw\.clique\.test:7443/$BUCKET: .*TLS certificate not trusted"
expect "wrong host name (localhost, not in the certificate)" 75 \
	"bucket https://localhost:7443/$BUCKET: .*TLS certificate does not match the host name" \
	CLIQUE_BUCKET_ENDPOINT=https://localhost:7443 "CLIQUE_CA_FILE=$d/ca.pem"

# --- TLS 1.3: the server refuses TLS 1.2, so the trusted runs above negotiated TLS 1.3
s_client() {
	ip netns exec "$NS" openssl s_client -connect 127.0.0.1:7443 -CAfile "$d/ca.pem" \
		-verify_return_error "$@" </dev/null 2>&1
}
if s_client -tls1_3 | grep -q 'New, TLSv1.3' && ! s_client -tls1_2 >/dev/null; then
	ok "TLS 1.3 negotiated: radosgw accepts TLS 1.3 only (openssl s_client -tls1_2 refused)"
else
	s_client -tls1_2 | tail -5
	fail "radosgw is not TLS 1.3-only: the TLS 1.3 proof does not hold"
fi

# --- TLS 1.1 at most: refused (minimum TLS 1.2)
cat >"$d/srv.py" <<'EOF'
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
ctx.minimum_version = ssl.TLSVersion.TLSv1
ctx.maximum_version = ssl.TLSVersion.TLSv1_1
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s = socket.create_server(("127.0.0.1", 7444))
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        t = ctx.wrap_socket(c, server_side=True)
        print("handshake", t.version(), flush=True)
        t.close()
    except (ssl.SSLError, OSError) as e:
        print("refused", e, flush=True)
        c.close()
EOF
ip netns exec "$NS" python3 "$d/srv.py" "$d/rgw.pem" "$d/rgw.key" >"$d/srv.log" 2>&1 &
echo $! >"$d/srv.pid"
for _ in $(seq 50); do grep -q ready "$d/srv.log" && break; sleep 0.1; done
expect "a TLS 1.1-only server" 75 "bucket https://127\.0\.0\.1:7444/$BUCKET: .*TLS handshake failed" \
	CLIQUE_BUCKET_ENDPOINT=https://127.0.0.1:7444 "CLIQUE_CA_FILE=$d/ca.pem"
grep -q '^handshake' "$d/srv.log" && fail "TLS 1.1 server completed a handshake: $(cat "$d/srv.log")"

# --- ca_file that cannot be read: configuration error naming the key and the path
expect "missing ca_file" 78 "ca_file '$d/nope.pem': No such file or directory" \
	"CLIQUE_CA_FILE=$d/nope.pem"
expect "ca_file is a directory" 78 "ca_file '$d': not a regular file" "CLIQUE_CA_FILE=$d"

# --- plain http: works, one warning per run
expect "plain http endpoint" 0 "bucket_endpoint http://127\.0\.0\.1:7480 is plain http" \
	CLIQUE_BUCKET_ENDPOINT=http://127.0.0.1:7480

# --- static binary: OpenSSL reads no openssl.cnf ($OPENSSL_CONF or the system's, which is
# OpenSSL 1.1's on Debian 11 / Ubuntu 20.04) and loads no engine or provider module
if [ "${STATIC:-0}" = 1 ]; then
	mkdir -p "$d/mods"
	: >"$d/mods/evil.so"
	cat >"$d/evil.cnf" <<EOF
openssl_conf = init
[init]
providers = provs
engines = engs
ssl_conf = ssl
[provs]
evil = evil_prov
[evil_prov]
module = $d/mods/evil.so
activate = 1
[engs]
evil = evil_eng
[evil_eng]
dynamic_path = $d/mods/evil.so
[ssl]
system_default = sys
[sys]
MaxProtocol = TLSv1.2
EOF
	ip netns exec "$NS" unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' \
		sh "$d/hosts" env "OPENSSL_CONF=$d/evil.cnf" "OPENSSL_MODULES=$d/mods" \
		"OPENSSL_ENGINES=$d/mods" "CLIQUE_CA_FILE=$d/ca.pem" \
		strace -f -e trace=openat,open -o "$d/trace" \
		"$BIN" --dry-run --config "$d/c.conf" --root "$d/root" >"$d/out" 2>&1
	rc=$?
	opened=$(grep -E 'openssl\.cnf|evil|/mods|ossl-modules|engines-|\.so' "$d/trace")
	if [ $rc = 0 ] && [ -z "$opened" ] && grep -q "$d/ca.pem" "$d/trace"; then
		ok "OPENSSL_CONF asking for a provider module, an engine and TLS 1.2 at most: not read, nothing opened but ca_file, exit 0 over TLS 1.3"
	else
		cat "$d/out"
		echo "$opened"
		fail "static binary and OpenSSL config/modules: exit $rc"
	fi
fi
exit $((fails > 0))

#!/bin/bash
# e2e of the metadata fetch path: $BUILD/tools/md-fetch (the real providers + http.c) against
# tests/fakes/metadata.py, in a network namespace of its own where 169.254.169.254 and
# fd00:a9fe:a9fe::1 sit on lo. Prints "ok <name>" / "FAIL <name>"; 77 = skipped (not root).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOOL=$BUILD/tools/md-fetch
PY=/usr/bin/python3
FAKE=tests/fakes/metadata.py
FIX=tests/fixtures/metadata/fake

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || [ ! -x $PY ]; then
	echo "SKIPPED: needs root, iproute2 and $PY"
	exit 77
fi
if [ ! -x "$TOOL" ]; then
	echo "FAIL md-fetch-built ($TOOL missing: make unit-bins)"
	exit 1
fi

NS=cbmd-$$
TMP=$(mktemp -d)
PIDS=""
failed=0

cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

if ! ip netns add "$NS"; then
	echo "SKIPPED: ip netns add failed"
	exit 77
fi
ip -n "$NS" link set lo up
ip -n "$NS" addr add 169.254.169.254/32 dev lo
# Linode's IPv6 address (reference A1); nodad: usable at once
ip -n "$NS" -6 addr add fd00:a9fe:a9fe::1/128 dev lo nodad 2>/dev/null
# the EC2 IMDS IPv6 endpoint (Nitro, HttpProtocolIpv6 enabled)
ip -n "$NS" -6 addr add fd00:ec2::254/128 dev lo nodad 2>/dev/null

ok() { echo "ok $1"; }
fail() {
	echo "FAIL $1${2:+: $2}"
	failed=$((failed + 1))
}

# start_fake NAME ARGS... -> FAKE_PID; the log is $TMP/NAME.log
start_fake() {
	local name=$1
	shift
	: >"$TMP/$name.log"
	ip netns exec "$NS" $PY $FAKE --log "$TMP/$name.log" "$@" 2>"$TMP/$name.err" &
	FAKE_PID=$!
	PIDS="$PIDS $FAKE_PID"
}

wait_listening() { # NAME
	local _
	for _ in $(seq 1 50); do
		grep -q '^listening' "$TMP/$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$TMP/$1.err" >&2
	return 1
}

stop_fake() {
	kill "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	PIDS=${PIDS/ $FAKE_PID/}
}

# md_fetch NAME ARGS... -> $TMP/NAME.out, $TMP/NAME.stderr, RC, ELAPSED (ms)
md_fetch() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	ip netns exec "$NS" "$TOOL" "$@" >"$TMP/$name.out" 2>"$TMP/$name.stderr"
	RC=$?
	t1=$(date +%s%N)
	ELAPSED=$(((t1 - t0) / 1000000))
}

requests() { grep -v '^listening' "$TMP/$1.log"; }

# fetch_doc CHECK PROVIDER NAME: md-fetch against the fake serving $FIX/NAME.json (with the
# extra fake options $FAKE_ARGS); its output must be $FIX/NAME.expected and the fake's request
# log exactly $WANT_LOG.
fetch_doc() {
	local check=$1 prov=$2 name=$3
	# shellcheck disable=SC2086
	start_fake "$name" --provider "$prov" --data "$FIX/$name.json" ${FAKE_ARGS:-}
	if wait_listening "$name"; then
		md_fetch "$name" --provider "$prov" --timeout 10
		if [ $RC = 0 ] && diff -u "$FIX/$name.expected" "$TMP/$name.out" &&
			[ "$(requests "$name")" = "$WANT_LOG" ]; then
			ok "$check"
		else
			fail "$check" "rc=$RC $(cat "$TMP/$name.stderr") $(requests "$name")"
		fi
	else
		fail "$check" "fake did not start"
	fi
	stop_fake
}

# --- Linode: token dance, JSON, then the instance ------------------------------------------
start_fake linode --provider linode --data $FIX/linode.json
if wait_listening linode; then
	md_fetch linode --provider linode --timeout 10
	log=$(requests linode)
	if [ $RC != 0 ] || ! diff -u $FIX/linode.expected "$TMP/linode.out"; then
		fail linode-fetch "rc=$RC $(cat "$TMP/linode.stderr")"
	else
		ok linode-fetch
	fi
	if [ "$(echo "$log" | wc -l)" = 3 ] &&
		echo "$log" | sed -n 1p | grep -q '^PUT /v1/token accept=text/plain expiry=300 status=200$' &&
		echo "$log" | sed -n 2p | grep -q '^GET /v1/instance accept=application/json token=valid status=200$' &&
		echo "$log" | sed -n 3p | grep -q '^GET /v1/network accept=application/json token=valid status=200$'; then
		ok linode-token-dance
	else
		fail linode-token-dance "$log"
	fi

	# the fake's contract, as the real service behaves (reference A2-A3)
	if command -v curl >/dev/null; then
		c() { ip netns exec "$NS" curl -s -o "$TMP/c.body" -w '%{http_code}' "$@"; }
		tok=$(ip netns exec "$NS" curl -s -X PUT -H 'Metadata-Token-Expiry-Seconds: 60' \
			http://169.254.169.254/v1/token)
		s1=$(c -X PUT http://169.254.169.254/v1/token)
		s2=$(c -X PUT -H 'Metadata-Token-Expiry-Seconds: soon' http://169.254.169.254/v1/token)
		s3=$(c http://169.254.169.254/v1/instance)
		s4=$(c -H 'Metadata-Token: nope' http://169.254.169.254/v1/instance)
		s5=$(c -H "Metadata-Token: $tok" -H 'Accept: application/json' \
			http://169.254.169.254/v1/user-data)
		s6=$(c -H "Metadata-Token: $tok" http://169.254.169.254/v1/instance)
		grep -q '^region: us-ord$' "$TMP/c.body" && text=1 || text=0
		s7=$(c -X PUT -H 'Metadata-Token-Expiry-Seconds: 60' -H 'Accept: application/json' \
			http://169.254.169.254/v1/token)
		grep -Eq '^\["[0-9a-f]{64}"\]$' "$TMP/c.body" && arr=1 || arr=0
		got="$s1 $s2 $s3 $s4 $s5 $s6 $text $s7 $arr"
		if [ "$got" = "400 400 401 401 406 200 1 200 1" ] && [ ${#tok} = 64 ]; then
			ok linode-fake-contract
		else
			fail linode-fake-contract "$got"
		fi
	fi
	# the log says whether a token was valid, never what it was
	if grep -Eq '[0-9a-f]{32}' "$TMP/linode.log"; then
		fail linode-log-no-token
	else
		ok linode-log-no-token
	fi
else
	fail linode-fetch "fake did not start"
fi
stop_fake

# --- Linode over IPv6 only: the fallback base (reference A1) --------------------------------
start_fake linode6 --provider linode --data $FIX/linode.json --bind fd00:a9fe:a9fe::1
if wait_listening linode6; then
	md_fetch linode6 --provider linode --timeout 10
	if [ $RC = 0 ] && diff -u $FIX/linode.expected "$TMP/linode6.out" &&
		[ "$(requests linode6 | grep -c 'status=200$')" = 3 ]; then
		ok linode-ipv6-fallback
	else
		fail linode-ipv6-fallback "rc=$RC $(cat "$TMP/linode6.stderr")"
	fi
else
	fail linode-ipv6-fallback "fake did not start (IPv6 in netns?)"
fi
stop_fake

# --- Linode over the IPv6 link-local address, the interface as zone id (reference A1) -------
# ll0 (a veth, the first Ethernet NIC in name order) holds fe80::a9fe:a9fe; nothing listens on
# the other two addresses
if ip -n "$NS" link add ll0 type veth peer name ll1 2>/dev/null &&
	ip -n "$NS" link set ll1 up && ip -n "$NS" link set ll0 up &&
	ip -n "$NS" -6 addr add fe80::a9fe:a9fe/64 dev ll0 nodad 2>/dev/null; then
	start_fake linodell --provider linode --data $FIX/linode.json --bind 'fe80::a9fe:a9fe%ll0'
	if wait_listening linodell; then
		md_fetch linodell --provider linode --timeout 10
		if [ $RC = 0 ] && diff -u $FIX/linode.expected "$TMP/linodell.out" &&
			[ "$(requests linodell | grep -c 'status=200$')" = 3 ]; then
			ok linode-ipv6-link-local
		else
			fail linode-ipv6-link-local "rc=$RC $(cat "$TMP/linodell.stderr")"
		fi
	else
		fail linode-ipv6-link-local "fake did not start"
	fi
	stop_fake
	ip -n "$NS" link del ll0
else
	fail linode-ipv6-link-local "no dummy interface with fe80::a9fe:a9fe in the namespace"
fi

# --- Vultr: one GET /v1.json ----------------------------------------------------------------
WANT_LOG="GET /v1.json accept=application/json status=200" fetch_doc vultr-v1json vultr vultr

# --- AWS IMDSv2: token PUT, then one GET per value with the token ---------------------------
AWS_GETS="instance-id mac local-ipv4 public-ipv4 placement/region
network/interfaces/macs/0e:49:61:0f:c3:11/vpc-id network/interfaces/macs/0e:49:61:0f:c3:11/ipv6s
tags/instance/Name"
AWS_LOG=$(echo "PUT /latest/api/token ttl=300 accept=*/* status=200"
	for g in $AWS_GETS; do echo "GET /latest/meta-data/$g token=valid accept=*/* status=200"; done)
WANT_LOG=$AWS_LOG fetch_doc aws-imdsv2 aws aws
# 169.254.169.254 silent: the same dance on http://[fd00:ec2::254]
FAKE_ARGS="--bind fd00:ec2::254" WANT_LOG=$AWS_LOG fetch_doc aws-ipv6-fallback aws aws
# the token stops working after 3 GETs (expiry mid-fetch): that GET is 401, then one new PUT
# and the same GET again, twice
WANT_LOG=$(echo "$AWS_LOG" | awk 'NR > 1 && (NR - 2) % 3 == 0 && NR > 2 {
	g = $0; sub(/token=valid/, "token=expired", g); sub(/status=200/, "status=401", g)
	print g; print "PUT /latest/api/token ttl=300 accept=*/* status=200" } { print }') \
	FAKE_ARGS="--token-uses 3" fetch_doc aws-token-expired-mid-fetch aws aws

# the fake's contract, as IMDSv2 with HttpTokens=required behaves
start_fake awsc --provider aws --data $FIX/aws.json
if wait_listening awsc; then
	c() { ip netns exec "$NS" curl -s -o "$TMP/c.body" -w '%{http_code}' "$@"; }
	T=X-aws-ec2-metadata-token
	U=http://169.254.169.254/latest
	tok=$(ip netns exec "$NS" curl -s -X PUT -H "$T-ttl-seconds: 60" $U/api/token)
	got="$(c -X PUT $U/api/token) $(c -X PUT -H "$T-ttl-seconds: 0" $U/api/token) \
$(c -X PUT -H "$T-ttl-seconds: 21601" $U/api/token) \
$(c -X PUT -H "$T-ttl-seconds: 60" -H 'X-Forwarded-For: 192.0.2.1' $U/api/token) \
$(c $U/meta-data/instance-id) $(c -H "$T: AQAEAnope==" $U/meta-data/instance-id) \
$(c -H "$T: $tok" $U/meta-data/instance-id)"
	if [ "$got" = "400 400 400 403 401 401 200" ] && [ "$(cat "$TMP/c.body")" = i-0af01c0123456789a ]; then
		ok aws-fake-contract
	else
		fail aws-fake-contract "$got"
	fi
	# the log says whether a token was valid, never what it was
	grep -qF "$tok" "$TMP/awsc.log" && fail aws-log-no-token || ok aws-log-no-token
else
	fail aws-fake-contract "fake did not start"
fi
stop_fake

# --- metadata not listening for the first 3 s, then up --------------------------------------
start_fake late --provider vultr --data $FIX/vultr.json --refuse-for 3
md_fetch late --provider vultr --timeout 20
if [ $RC = 0 ] && diff -u $FIX/vultr.expected "$TMP/late.out" && [ $ELAPSED -ge 2500 ]; then
	ok metadata-down-then-up
else
	fail metadata-down-then-up "rc=$RC elapsed=${ELAPSED}ms $(cat "$TMP/late.stderr")"
fi
stop_fake

# --- 503 for the first 2 s: retried like a transport error ---------------------------------
start_fake busy --provider linode --data $FIX/linode.json --503-for 2
if wait_listening busy; then
	md_fetch busy --provider linode --timeout 20
	log=$(requests busy)
	if [ $RC = 0 ] && diff -u $FIX/linode.expected "$TMP/busy.out" &&
		echo "$log" | head -1 | grep -q '^PUT /v1/token .*status=503$' &&
		echo "$log" | grep -q '^PUT /v1/token .*status=200$'; then
		ok metadata-503-then-up
	else
		fail metadata-503-then-up "rc=$RC $(cat "$TMP/busy.stderr") $log"
	fi
else
	fail metadata-503-then-up "fake did not start"
fi
stop_fake

# --- never up: gives up after metadata_timeout with the URL in the one-line error ----------
md_fetch never --provider vultr --timeout 3
if [ $RC = 69 ] && [ $ELAPSED -ge 2900 ] && [ $ELAPSED -lt 8000 ] &&
	grep -q 'http://169.254.169.254/v1.json' "$TMP/never.stderr" &&
	[ "$(wc -l <"$TMP/never.stderr")" = 1 ]; then
	ok metadata-never-up
else
	fail metadata-never-up "rc=$RC elapsed=${ELAPSED}ms $(cat "$TMP/never.stderr")"
fi

md_fetch never6 --provider linode --timeout 3
if [ $RC = 69 ] && [ $ELAPSED -ge 2900 ] && [ $ELAPSED -lt 8000 ] &&
	grep -q 'http://169.254.169.254/v1/token' "$TMP/never6.stderr" &&
	grep -q 'http://\[fd00:a9fe:a9fe::1\]/v1/token' "$TMP/never6.stderr"; then
	ok linode-never-up
else
	fail linode-never-up "rc=$RC elapsed=${ELAPSED}ms $(cat "$TMP/never6.stderr")"
fi

# --- issue 15: a document without a usable address is fetched again until it has one ------
start_fake lateaddr --provider vultr --data $FIX/vultr.json \
	--first-data $FIX/vultr-no-address.json --first-for 2
if wait_listening lateaddr; then
	md_fetch lateaddr --provider vultr --timeout 20
	n=$(requests lateaddr | grep -c '^GET /v1.json .*status=200$')
	if [ $RC = 0 ] && diff -u $FIX/vultr.expected "$TMP/lateaddr.out" && [ "$n" -ge 2 ]; then
		ok metadata-address-late
	else
		fail metadata-address-late "rc=$RC gets=$n $(cat "$TMP/lateaddr.stderr")"
	fi
else
	fail metadata-address-late "fake did not start"
fi
stop_fake

# ... and never: exit 69 with one line naming what is missing
start_fake noaddr --provider vultr --data $FIX/vultr-no-address.json
if wait_listening noaddr; then
	md_fetch noaddr --provider vultr --timeout 2
	if [ $RC = 69 ] && [ "$(wc -l <"$TMP/noaddr.stderr")" = 1 ] &&
		grep -q '^error: vultr: http://169.254.169.254/v1.json: no usable address after 2 s: ' \
			"$TMP/noaddr.stderr" && [ "$(requests noaddr | wc -l)" -ge 2 ]; then
		ok metadata-no-address-exit-69
	else
		fail metadata-no-address-exit-69 "rc=$RC $(cat "$TMP/noaddr.stderr")"
	fi
else
	fail metadata-no-address-exit-69 "fake did not start"
fi
stop_fake

# A VPC-only Linode publishes its VPC address and says once who alone can reach it
start_fake vpconly --provider linode --data $FIX/linode-vpc-only.json
if wait_listening vpconly; then
	md_fetch vpconly --provider linode --timeout 10
	if [ $RC = 0 ] && grep -qx 'lan4=10.0.4.9' "$TMP/vpconly.out" &&
		grep -qx 'private_net=vpc-7001' "$TMP/vpconly.out" && grep -qx 'wan4=' "$TMP/vpconly.out" &&
		[ "$(cat "$TMP/vpconly.stderr")" = "clique-boot: metadata: no public IPv4 or IPv6 address, only the private 10.0.4.9 (/v1/network interfaces[0].vpc.subnet.ipv4.instance_address): only nodes in private network 'vpc-7001' of linode/us-ord can reach this node" ]; then
		ok linode-vpc-only-warns
	else
		fail linode-vpc-only-warns "rc=$RC $(cat "$TMP/vpconly.stderr" "$TMP/vpconly.out")"
	fi
else
	fail linode-vpc-only-warns "fake did not start"
fi
stop_fake

# --- DigitalOcean: one GET /metadata/v1.json ------------------------------------------------
WANT_LOG="GET /metadata/v1.json accept=application/json status=200" \
	fetch_doc digitalocean-v1json digitalocean digitalocean

# --- Hetzner: the per-key documents, the two lists as PyYAML writes them --------------------
WANT_LOG=$(for k in instance-id hostname region public-ipv4 network-config private-networks; do
	echo "GET /hetzner/v1/metadata/$k accept=*/* status=200"
done) fetch_doc hetzner-per-key-yaml hetzner hetzner

# a server without a primary IPv4 and without networks: public-ipv4 is 404, IPv6 is enough
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
del d["public-ipv4"]
d["private-networks"] = []
json.dump(d, open(sys.argv[2], "w"))' $FIX/hetzner.json "$TMP/hz6.json"
start_fake hz6 --provider hetzner --data "$TMP/hz6.json"
if wait_listening hz6; then
	md_fetch hz6 --provider hetzner --timeout 10
	if [ $RC = 0 ] && grep -qx 'wan4=' "$TMP/hz6.out" &&
		grep -qx 'wan6=2a01:4f8:c17:1::1' "$TMP/hz6.out" && grep -qx 'lan4=' "$TMP/hz6.out" &&
		requests hz6 | grep -Fqx "GET /hetzner/v1/metadata/public-ipv4 accept=*/* status=404"; then
		ok hetzner-ipv6-only
	else
		fail hetzner-ipv6-only "rc=$RC $(cat "$TMP/hz6.stderr") $(requests hz6)"
	fi
else
	fail hetzner-ipv6-only "fake did not start"
fi
stop_fake

[ $failed = 0 ]

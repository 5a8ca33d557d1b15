#!/bin/bash
# A real S3 server for the tests: one-node Ceph (mon + memstore OSD) + radosgw, no systemd.
#   rgw.sh up DIR PORT [EXTRA_ADDR]   -> DIR/env (endpoint, keys, pids); ~3 s
#   rgw.sh down DIR                   -> stops exactly those pids, removes DIR
# radosgw always listens on 127.0.0.1:PORT; EXTRA_ADDR (e.g. an address of a test bridge) adds
# a second listener so test namespaces can reach it. Run inside a netns with `ip netns exec` to
# keep the whole cluster in that namespace. Ports: mon MON_PORT/MON_PORT2, OSD 6800-6807.
# HTTPS: with RGW_SSL_PORT, RGW_SSL_CERT and RGW_SSL_KEY (PEM files) radosgw also serves TLS on
# that port of the same addresses (beast ssl_endpoint); RGW_SSL_OPTIONS is passed as beast's
# ssl_options (e.g. no_tlsv1_2 for a TLS 1.3-only server). DIR/env then has S3_SSL_ENDPOINT.
# RGW_DNS_NAME (default localhost): the endpoint's host name; radosgw takes any other name in
# Host as a virtual-hosted bucket.
# Adapted from shared/recipes/rgw-up.sh (paxos intervals: start in 3 s instead of 18 s).
set -euo pipefail
cmd=${1:?up|down}
DIR=${2:?dir}

down() {
	[ -f "$DIR/env" ] || { rm -rf "$DIR"; return 0; }
	# shellcheck disable=SC1091
	. "$DIR/env"
	for p in $RGW_PID $OSD_PID $MON_PID; do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 1 20); do
		alive=0
		for p in $RGW_PID $OSD_PID $MON_PID; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.2
	done
	for p in $RGW_PID $OSD_PID $MON_PID; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$DIR"
}

up() {
	local port=${1:?port} extra=${2:-}
	local mon1=${MON_PORT:-40789} mon2=${MON_PORT2:-40300}
	local ak=${ACCESS_KEY:-TESTACCESSKEY0000001} sk=${SECRET_KEY:-testsecretkey00000000000000000000000001}
	# tcp_nodelay: without it every GET on a kept-alive connection waits ~40 ms (Nagle +
	# delayed ACK); with it 300 sequential GETs take 0.2 s instead of 13 s
	local endpoints="tcp_nodelay=1 endpoint=127.0.0.1:$port"
	[ -n "$extra" ] && endpoints="$endpoints endpoint=$extra:$port"
	local ssl=${RGW_SSL_PORT:-}
	if [ -n "$ssl" ]; then
		endpoints="$endpoints ssl_endpoint=127.0.0.1:$ssl ssl_certificate=${RGW_SSL_CERT:?}"
		endpoints="$endpoints ssl_private_key=${RGW_SSL_KEY:?}"
		[ -n "$extra" ] && endpoints="$endpoints ssl_endpoint=$extra:$ssl"
		[ -z "${RGW_SSL_OPTIONS:-}" ] || endpoints="$endpoints ssl_options=$RGW_SSL_OPTIONS"
	fi
	rm -rf "$DIR"
	mkdir -p "$DIR"/{mon.a,osd.0,run,log}
	trap 'echo "rgw.sh up failed at line $LINENO; logs in $DIR/log" >&2; for f in "$DIR"/run/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done' ERR
	local fsid conf
	fsid=$(cat /proc/sys/kernel/random/uuid)
	conf=$DIR/ceph.conf
	cat >"$conf" <<CONF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $DIR/keyring
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
pid_file = $DIR/run/\$name.pid
log_file = $DIR/log/\$name.log
crash_dir = $DIR/crash
log_to_stderr = false
err_to_stderr = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
[mon]
mon_data = $DIR/\$name
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
[osd]
osd_data = $DIR/\$name
osd_objectstore = memstore
memstore_device_bytes = 1073741824
[client.rgw]
rgw_frontends = beast $endpoints
rgw_dns_name = ${RGW_DNS_NAME:-localhost}
rgw_data = $DIR/rgw
CONF
	export CEPH_CONF=$conf
	ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
	ceph-authtool "$DIR/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
	ceph-authtool "$DIR/keyring" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" "$DIR/monmap" >/dev/null
	ceph-mon --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
	ceph-mon -i a
	for _ in $(seq 1 100); do ceph --connect-timeout 2 mon stat >/dev/null 2>&1 && break; sleep 0.2; done
	ceph --connect-timeout 5 mon stat >/dev/null
	local uuid id
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(ceph osd new "$uuid")
	ceph-osd -i "$id" --mkfs --osd-uuid "$uuid" 2>&1 | grep -v 'created object store' || true
	ceph-osd -i "$id"
	for _ in $(seq 1 150); do ceph osd stat 2>/dev/null | grep -q '1 up' && break; sleep 0.2; done
	ceph osd stat | grep -q '1 up'
	radosgw -n client.rgw
	for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
	curl -s -o /dev/null "http://127.0.0.1:$port/"
	radosgw-admin -n client.admin user create --uid=test --display-name=test \
		--access-key="$ak" --secret-key="$sk" >/dev/null
	cat >"$DIR/env" <<ENV
CEPH_CONF=$conf
S3_ENDPOINT=http://127.0.0.1:$port
S3_SSL_ENDPOINT=${ssl:+https://127.0.0.1:$ssl}
S3_ACCESS_KEY=$ak
S3_SECRET_KEY=$sk
MON_PID=$(cat "$DIR/run/mon.a.pid")
OSD_PID=$(cat "$DIR/run/osd.$id.pid")
RGW_PID=$(cat "$DIR/run/client.rgw.pid")
ENV
}

case $cmd in
up) shift 2; up "$@" ;;
down) down ;;
*) echo "usage: rgw.sh up DIR PORT [EXTRA_ADDR] | down DIR" >&2; exit 64 ;;
esac

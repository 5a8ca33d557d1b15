#!/bin/bash
# The checks inside one VM of tests/vm/test-firstboot.sh, run at every boot by the image's
# clique-vm-agent.service from the 9p share (mounted on /mnt/host). The share holds:
#   env      NAME, PEER (the other VM's name), SELF_ADDR, PEER_ADDR (mesh), PEER_WAN, PEER_WAN6,
#            VARIANT (the image: networkd, or ifupdown as Linode's)
#   in/cmd   the host's orders after a phase: reboot | recheck | finish
#   out/     boot<N>.log (this script's report), phase<N> (PASS/FAIL), facts (key=value lines:
#            public keys, the PSK's hash, ...), journal-boot<N>.txt, cloud-init logs
# Boot 1 (first boot): cloud-init ran the user-data (the project's cloud-config), the .deb is
# installed, clique-boot.service formed the mesh with the peer VM. Boot 2 (after `reboot`):
# wg0 came back from the networkd units alone, same key, pings, a no-op refresh. On the
# ifupdown image boot 2 is offline (the host took the metadata service and the bucket away):
# networkd, pulled in by clique-boot.service, brought wg0 back; ifupdown kept the NICs; boot
# did not wait for systemd-networkd-wait-online; the boot run exits 75 from the cache.
# The verdict: qemu's isa-debug-exit (1 = PASS, 3 = FAIL) when the host says finish or a
# phase failed.
set -u
H=/mnt/host
O=$H/out
# shellcheck disable=SC1091
. "$H/env"
S=/var/lib/clique-vm-test
mkdir -p "$S" "$O"
BOOT=$(($(cat "$S/boot" 2>/dev/null || echo 0) + 1))
echo "$BOOT" >"$S/boot"
sync
exec >"$O/boot$BOOT.log" 2>&1
fails=0
up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "[$(up)s] $*"; echo "vm-$NAME: $*" >/dev/console 2>/dev/null; }
ok() { say "ok $*"; }
fail() {
	say "FAIL $*"
	fails=$((fails + 1))
}
chk() { # name command...
	local n=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$n"; else
		fail "$n"
		printf '%s\n' "$out" | sed 's/^/    /' | tail -20
	fi
}
# until SECONDS: retries the command every second, true if it succeeded once
waitfor() {
	local t=$1 end
	shift
	end=$((SECONDS + t))
	while [ $SECONDS -lt $end ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}
fact() { echo "$1=$2" >>"$O/facts"; }
verdict() {
	journalctl -b --no-pager -o short-monotonic >"$O/journal-boot$BOOT.txt" 2>&1
	cp /var/log/cloud-init.log /var/log/cloud-init-output.log "$O/" 2>/dev/null
	sync
	local b='\x00'
	[ "$1" = PASS ] || b='\x01'
	printf '%b' "$b" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	systemctl poweroff --force
	exit 0
}
phase_end() {
	local r=PASS
	[ $fails = 0 ] || r=FAIL
	say "phase $BOOT: $r"
	journalctl -b --no-pager -o short-monotonic >"$O/journal-boot$BOOT.txt" 2>&1
	echo $r >"$O/phase$BOOT"
	sync
	[ $r = PASS ] || verdict FAIL
}
# the host's next order: in/cmd holds "<seq> <word>"; the last seq handled is kept on the disk,
# so an order is handled once across a reboot
order() {
	local last c
	last=$(cat "$S/seq" 2>/dev/null || echo 0)
	while :; do
		c=$(cat "$H/in/cmd" 2>/dev/null)
		[ -n "$c" ] && [ "${c%% *}" -gt "$last" ] && break
		sleep 1
	done
	echo "${c%% *}" >"$S/seq"
	sync
	echo "${c#* }"
}

wg_peer_has() { wg show wg0 allowed-ips | grep -q "[[:space:]]$PEER_ADDR/32"; }
# operational state routable; at the first boot wg0 is "unmanaged": clique-boot made it live
# and wrote the units after networkd had read its configuration (it reads them at the next boot)
routable() { networkctl status wg0 --no-pager | grep -q 'State: routable ('; }
configured() { networkctl status wg0 --no-pager | grep -q 'State: routable (configured)'; }
unit_ok() { # unit: ran and succeeded (a oneshot with RemainAfterExit)
	[ "$(systemctl show -p ActiveState --value "$1")" = active ] &&
		[ "$(systemctl show -p Result --value "$1")" = success ] &&
		[ "$(systemctl show -p ExecMainStatus --value "$1")" = 0 ]
}
pings() { ping -c 3 -i 0.5 -W 2 "$PEER_ADDR"; }
units_modes() {
	local f m rc=0
	for f in /etc/systemd/network/90-clique-wg0.netdev /etc/systemd/network/90-clique-wg0.network; do
		m=$(stat -c '%a %U:%G' "$f") || return 1
		echo "$f: $m"
		[ "$m" = "640 root:systemd-network" ] || rc=1
	done
	m=$(stat -c '%a %U:%G' /var/lib/clique-boot/private.key) || return 1
	echo "private.key: $m"
	[ "$m" = "600 root:root" ] || rc=1
	m=$(stat -c '%a %U:%G' /var/lib/clique-boot)
	echo "state dir: $m"
	[ "$m" = "700 root:root" ] || rc=1
	m=$(stat -c '%a %U:%G' /etc/clique/clique.conf)
	echo "clique.conf: $m"
	[ "$m" = "600 root:root" ] || rc=1
	return $rc
}
verify_units() {
	local out
	out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
		/lib/systemd/system/clique-boot.service /lib/systemd/system/clique-refresh.service \
		/lib/systemd/system/clique-refresh.timer 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
	[ -f /usr/share/man/man8/clique-boot.8.gz ]
}
psk_hash() { wg show wg0 preshared-keys | awk '{print $2}' | sha256sum | cut -c1-16; }
psk_set() { wg show wg0 preshared-keys | awk '$2 != "(none)" && length($2) == 44 {f=1} END {exit !f}'; }
endpoint_is_wan() {
	local e
	e=$(wg show wg0 endpoints | awk '{print $2}')
	echo "endpoint $e"
	case $e in "$PEER_WAN:51871" | "[$PEER_WAN6]:51871") return 0 ;; esac
	return 1
}
# the summary line of the boot run (clique-boot.service) of this boot
boot_summary() { journalctl -b -u clique-boot.service -o cat --no-pager | grep 'summary:' | tail -1; }
refresh_summaries() { journalctl -b -u clique-refresh.service -o cat --no-pager | grep -c 'summary:'; }
noop() { # summary line -> true for a run that changed nothing
	echo "$1" | grep -Eq 'summary: peers=1 skipped=0 list=1 get=0 put=0 retries=0 units_written=0 wg_set=0 link_changed=0 bucket=ok'
}
# the next refresh run after now changes nothing
next_refresh_noop() {
	local n0 s
	n0=$(refresh_summaries)
	waitfor 90 sh -c "[ \$(journalctl -b -u clique-refresh.service -o cat --no-pager | grep -c 'summary:') -gt $n0 ]" ||
		{ echo "no refresh run within 90 s"; systemctl list-timers --all --no-pager; return 1; }
	s=$(journalctl -b -u clique-refresh.service -o cat --no-pager | grep 'summary:' | sed -n "$((n0 + 1))p")
	echo "$s"
	fact "refresh_boot$BOOT" "$s"
	noop "$s"
}
# after the peer's reboot its record may have been re-published (one GET), nothing else changes
next_refresh_keeps() {
	local n0 s
	n0=$(refresh_summaries)
	waitfor 90 sh -c "[ \$(journalctl -b -u clique-refresh.service -o cat --no-pager | grep -c 'summary:') -gt $n0 ]" ||
		{ echo "no refresh run within 90 s"; return 1; }
	s=$(journalctl -b -u clique-refresh.service -o cat --no-pager | grep 'summary:' | sed -n "$((n0 + 1))p")
	echo "$s"
	fact "refresh_recheck" "$s"
	echo "$s" | grep -Eq 'summary: peers=1 skipped=0 .* put=0 retries=0 units_written=0 wg_set=0 link_changed=0 bucket=ok'
}
# ifupdown's NICs as /etc/network/interfaces of the ifupdown image made them, left alone by
# networkd (unmanaged; its ManageForeignRoutes=/ManageForeignRoutingPolicyRules= act on the
# links and rules of managed links): DHCP address and default route on eth0, the static
# addresses, the policy rule and table 130's route on eth1
ifupdown_nics() {
	local l rc=0
	networkctl list --no-pager --no-legend
	for l in eth0 eth1; do
		networkctl list --no-pager --no-legend "$l" | grep -q ' unmanaged *$' ||
			{ echo "$l is not unmanaged"; rc=1; }
	done
	ip -4 -br addr show dev eth0 | grep -q ' 10\.0\.2\.' || { echo "eth0: no DHCP address"; rc=1; }
	ip route show default | grep -q 'via 10.0.2.2 dev eth0' || { echo "no default route via eth0"; rc=1; }
	ip -br addr show dev eth1 | grep -q '203.0.113.11/24 .*192.168.130.11/17 .*2001:db8:113::11/64' ||
		{ ip -br addr show dev eth1; rc=1; }
	ip rule show | grep -q '^1300:.*from 192.168.130.11 lookup 130' || { ip rule show; rc=1; }
	ip route show table 130 | grep -q '^192.168.0.0/17 dev eth1' || { echo "table 130: $(ip route show table 130)"; rc=1; }
	ping -c 2 -W 2 10.0.2.2 >/dev/null || { echo "eth0's gateway 10.0.2.2 does not answer"; rc=1; }
	return $rc
}
# networkd runs because clique-boot.service pulls it in, yet is not enabled, and nothing ever
# started systemd-networkd-wait-online
networkd_pulled() {
	systemctl is-active systemd-networkd.service &&
		[ "$(systemctl is-enabled systemd-networkd.service)" = disabled ] &&
		[ "$(systemctl is-enabled systemd-networkd-wait-online.service)" = disabled ] &&
		[ "$(systemctl show -p InactiveExitTimestampMonotonic --value systemd-networkd-wait-online.service)" = 0 ]
}
boot_facts() {
	timeout 300 systemctl is-system-running --wait >/dev/null 2>&1
	systemd-analyze time 2>&1 | head -2
	systemd-analyze critical-chain multi-user.target --no-pager 2>&1 | head -15
	systemd-analyze blame --no-pager 2>&1 | head -8
	fact "startup_boot$BOOT" "$(systemd-analyze time 2>&1 | head -1)"
	fact "times_boot$BOOT" "$(for u in systemd-networkd.service networking.service clique-boot.service multi-user.target; do
		printf '%s %s-%s ' "$u" "$(systemctl show -p InactiveExitTimestampMonotonic --value $u)" \
			"$(systemctl show -p ActiveEnterTimestampMonotonic,InactiveEnterTimestampMonotonic --value $u | sort -n | tail -1)"
	done)"
	fact "chain_boot$BOOT" "$(systemd-analyze critical-chain multi-user.target --no-pager 2>/dev/null | grep -o '[a-z-]*\(wait-online\|clique-boot\|networking\|networkd\)[a-z-]*\.service[^ ]* [^ ]*' | tr '\n' ' ')"
}
# networkd running, wg0 live and unmanaged: does `networkctl reload` (which then reads the
# units for the first time) re-send the peers? A re-sent peer (REPLACE_PEERS) starts from zero
# transfer, and its session is gone: a new handshake follows. Measured, not asserted.
reload_effect() {
	local b
	b=$(wg show wg0 transfer | awk '{print $2 + $3}')
	fact "reload_before" "state '$(networkctl list --no-pager --no-legend wg0 | awk '{print $4 "/" $5}')' handshake $(wg show wg0 latest-handshakes | awk '{print $2}') transfer $b"
	ping -c 2 -i 0.5 -W 2 "$PEER_ADDR" >/dev/null
	b=$(wg show wg0 transfer | awk '{print $2 + $3}')
	networkctl reload
	sleep 5
	fact "reload_after" "state '$(networkctl list --no-pager --no-legend wg0 | awk '{print $4 "/" $5}')' handshake $(wg show wg0 latest-handshakes | awk '{print $2}') transfer $(wg show wg0 transfer | awk '{print $2 + $3}') (was $b just before) at $(date +%s)"
	networkctl status wg0 --no-pager | sed -n '1,8p'
}
common_checks() {
	chk "wg0 is a WireGuard link, up" sh -c 'ip -d link show wg0 | grep -q wireguard && ip link show wg0 | grep -q "[<,]UP[,>]"'
	chk "networkctl status wg0: routable" waitfor 60 routable
	networkctl status wg0 --no-pager | grep 'State:'
	chk "wg0 has $PEER's mesh address $PEER_ADDR" waitfor 5 wg_peer_has
	chk "ping $PEER_ADDR over wg0" waitfor 60 pings
	chk "the peer's endpoint is its public address" endpoint_is_wan
	chk "wg show: a pre-shared key on the peer" psk_set
	fact "pub_boot$BOOT" "$(wg show wg0 public-key)"
	fact "peer_pub_boot$BOOT" "$(wg show wg0 peers)"
	fact "psk_boot$BOOT" "$(psk_hash)"
}

# the boot run of this boot failed over to the cache: exit 75, one warning each for the
# metadata service and the bucket, wg0 untouched (networkd had made it from the units)
boot_run_offline() {
	local j
	[ "$(systemctl show -p ExecMainStatus --value clique-boot.service)" = 75 ] ||
		{ systemctl status clique-boot.service --no-pager; return 1; }
	j=$(journalctl -b -u clique-boot.service -o cat --no-pager)
	echo "$j" | grep 'clique-boot: '
	[ "$(echo "$j" | grep -c 'metadata (linode): .*; the mesh from the cached metadata, the refresh timer retries$')" = 1 ] &&
		echo "$j" | grep -Eq 'summary: peers=1 skipped=0 .*units_written=0 wg_set=0 link_changed=0 bucket=unreachable'
}
# what ifupdown's /etc/network/interfaces (the ifupdown image) adds besides the addresses,
# back where a restart removed it
ifupdown_restore() {
	ip rule show | grep -q '^1300:' || ip rule add from 192.168.130.11 table 130 priority 1300
	ip route replace 192.168.0.0/17 dev eth1 table 130
	ip route show default | grep -q 'via 10.0.2.2' || ip route replace default via 10.0.2.2 dev eth0
}
# A restart of networkd (a systemd upgrade does one) configures wg0 again, and with it networkd
# deletes the rules and routes it considers foreign unless the package's networkd.conf.d
# drop-in says otherwise: once without it (measured, then repaired), once with it (asserted)
networkd_restart() {
	local d=/usr/lib/systemd/networkd.conf.d/clique-boot-networkd.conf
	mv "$d" /run/clique-boot.conf.off || return 1
	systemctl restart systemd-networkd.service && waitfor 60 configured
	fact "restart_without_dropin" "rule 1300: $(ip rule show | grep -c '^1300:'), table 130 routes: $(ip route show table 130 | grep -c .), default routes: $(ip route show default | grep -c .)"
	ifupdown_restore
	mv /run/clique-boot.conf.off "$d"
	systemctl restart systemd-networkd.service && waitfor 60 configured || return 1
	fact "restart_with_dropin" "rule 1300: $(ip rule show | grep -c '^1300:'), table 130 routes: $(ip route show table 130 | grep -c .), default routes: $(ip route show default | grep -c .)"
	ifupdown_nics
}
not_after() { # target unit: the target is not ordered after the unit
	! systemctl show -p After --value "$1" | tr ' ' '\n' | grep -qx "$2"
}
offline_boot() {
	chk "networkd brought wg0 back: routable (configured)" waitfor 120 configured
	networkctl status wg0 --no-pager | sed -n '1,12p'
	chk "networkd's wg0 holds $PEER (from the .netdev)" waitfor 5 wg_peer_has
	chk "same key after the reboot" test "$(wg show wg0 public-key)" = "$(sed -n 's/^pub_boot1=//p' "$O/facts")"
	chk "clique-boot.service ran: metadata and bucket unreachable, exit 75 from the cache, wg0 untouched" \
		waitfor 120 boot_run_offline
	chk "networkd runs, pulled in by clique-boot.service (not enabled; wait-online never started)" networkd_pulled
	chk "eth0/eth1 stay with ifupdown: unmanaged, addresses, routes, rule, gateway pings" ifupdown_nics
	chk "multi-user.target does not wait for clique-boot.service" not_after multi-user.target clique-boot.service
	common_checks
	boot_facts
	systemctl --failed --no-pager --no-legend
	chk "networkd restarted (as an upgrade does): ifupdown's rule and routes stay (networkd.conf.d drop-in)" networkd_restart
	chk "ping $PEER_ADDR after the networkd restart" waitfor 60 pings
	phase_end
}

say "boot $BOOT of $NAME (uptime $(up)s, kernel $(uname -r))"
case $VARIANT$BOOT in
*1)
	# cloud-init's final stage ran the runcmd (the .deb install, the units)
	chk "cloud-init finished" waitfor 600 test -f /var/lib/cloud/instance/boot-finished
	timeout 120 cloud-init status --wait >/dev/null 2>&1
	cloud-init status --long
	chk "cloud-init status: done (no module failed)" sh -c 'cloud-init status | grep -q "status: done"'
	chk "hostname from the NoCloud meta-data" test "$(hostname)" = "$NAME"
	chk "clique-boot installed from the .deb" dpkg-query -W clique-boot
	chk "clique-boot.service ran at first boot and succeeded" unit_ok clique-boot.service
	s=$(boot_summary)
	echo "boot run: $s"
	chk "the boot run published (put>=1, bucket ok)" sh -c "echo '$s' | grep -Eq 'put=[1-9].* bucket=ok'"
	chk "clique-refresh.timer active" systemctl is-active clique-refresh.timer
	[ $fails = 0 ] || phase_end # nothing to wait for: the node is not in the mesh
	# the peer may boot later: the refresh timer brings it in
	chk "$PEER joined wg0 (refresh timer)" waitfor 300 wg_peer_has
	common_checks
	chk "units 0640 root:systemd-network, key 0600, state dir 0700, clique.conf 0600" units_modes
	chk "systemd-analyze verify: the shipped units are clean" verify_units
	if [ "$VARIANT" = ifupdown ]; then
		chk "networkd runs, pulled in by clique-boot.service (not enabled; wait-online never started)" networkd_pulled
		chk "eth0/eth1 stay with ifupdown: unmanaged, addresses, routes, rule, gateway pings" ifupdown_nics
	fi
	wg show wg0 | grep -v 'preshared key'
	networkctl list --no-pager
	ip -br addr
	boot_facts
	systemctl --failed --no-pager --no-legend
	[ "$VARIANT" = networkd ] && reload_effect
	phase_end
	;;
ifupdown2) offline_boot ;;
*2)
	# wg0 as networkd made it from the units, before clique-boot.service touched anything
	chk "networkd brought wg0 back: routable (configured)" waitfor 120 configured
	fact "pub_networkd_boot2" "$(wg show wg0 public-key)"
	chk "networkd's wg0 holds $PEER (from the .netdev)" waitfor 5 wg_peer_has
	networkctl status wg0 --no-pager | sed -n '1,12p'
	chk "wg0 from /etc/systemd/network/90-clique-wg0.netdev + .network" \
		sh -c 'networkctl status wg0 --no-pager | grep -q "Network File: /etc/systemd/network/90-clique-wg0.network"'
	chk "clique-boot.service ran again at boot" waitfor 180 unit_ok clique-boot.service
	s=$(boot_summary)
	echo "boot run: $s"
	fact "boot_run_boot2" "$s"
	chk "the boot run found wg0 and the units as they should be (units_written=0 wg_set=0 link_changed=0)" \
		sh -c "echo '$s' | grep -Eq 'units_written=0 wg_set=0 link_changed=0 bucket=ok'"
	common_checks
	chk "same key after the reboot" test "$(wg show wg0 public-key)" = "$(sed -n 's/^pub_boot1=//p' "$O/facts")"
	chk "the refresh timer's next run changes nothing" next_refresh_noop
	phase_end
	;;
*)
	fail "unexpected boot $BOOT"
	verdict FAIL
	;;
esac

# the host's orders
while :; do
	c=$(order)
	case $c in
	reboot)
		say "rebooting"
		sync
		systemctl reboot
		sleep 600
		;;
	recheck)
		say "recheck after $PEER's reboot"
		chk "ping $PEER_ADDR after $PEER's reboot" waitfor 90 pings
		fact "peer_pub_recheck" "$(wg show wg0 peers)"
		fact "psk_recheck" "$(psk_hash)"
		chk "the next refresh keeps the device (units_written=0 wg_set=0)" next_refresh_keeps
		r=PASS
		[ $fails = 0 ] || r=FAIL
		echo $r >"$O/recheck"
		sync
		[ $r = PASS ] || verdict FAIL
		;;
	finish)
		r=PASS
		[ $fails = 0 ] || r=FAIL
		say "verdict $r"
		verdict $r
		;;
	esac
done

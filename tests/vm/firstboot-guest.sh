#!/bin/bash
# The checks inside one VM of tests/vm/test-firstboot.sh, run at every boot by the image's
# clique-vm-agent.service from the 9p share (mounted on /mnt/host). The share holds:
#   env      NAME, PEER (the other VM's name), SELF_ADDR, PEER_ADDR (mesh), PEER_WAN, PEER_WAN6
#   in/cmd   the host's orders after a phase: reboot | recheck | finish
#   out/     boot<N>.log (this script's report), phase<N> (PASS/FAIL), facts (key=value lines:
#            public keys, the PSK's hash, ...), journal-boot<N>.txt, cloud-init logs
# Boot 1 (first boot): cloud-init ran the user-data (the project's cloud-config), the .deb is
# installed, clique-boot.service formed the mesh with the peer VM. Boot 2 (after `reboot`):
# wg0 came back from the networkd units alone, same key, pings, a no-op refresh.
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

say "boot $BOOT of $NAME (uptime $(up)s, kernel $(uname -r))"
case $BOOT in
1)
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
	wg show wg0 | grep -v 'preshared key'
	networkctl list --no-pager
	ip -br addr
	systemd-analyze time 2>&1 | head -2
	fact "startup_boot1" "$(systemd-analyze time 2>&1 | head -1)"
	systemctl --failed --no-pager --no-legend
	phase_end
	;;
2)
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

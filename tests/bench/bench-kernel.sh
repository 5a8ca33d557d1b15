#!/bin/bash
# Bench: the apply figures of tests/bench/apply.sh on kernel WireGuard, which this host lacks:
# in a qemu TCG VM booting Debian's kernel (tests/vm/vm-lib.sh: its kernel cache, initramfs
# builder and boot). Inside (tests/bench/kernel-guest.sh), interleaved for RUNS rounds:
#   - 10,000 peers on a fresh kernel device (made with `ip link add wg0 type wireguard` first,
#     so only configuration is timed): `wg setconf` vs clique-boot's apply path
#     (tests/tools/wg-apply -b kernel: wg_backend_open + wg_diff + the genetlink set);
#   - a diff apply of 1 changed peer in 10,000: `wg setconf` vs `wg syncconf` vs wg-apply.
# The guest has no python3: the configs come from gen-wgconf.py on the host through the 9p
# share, each command is timed by tests/bench/kernel-time.c (built statically here) and the
# medians are taken here. Prints measure.py's JSON lines, labels "kernel: ...", ratio_wall
# against the group's `wg setconf`. TCG runs everything ~10x slower than native (and the
# crypto of adding a peer most of all): the ratios are the figures, not the times.
# The timed commands run on CPU 0, the kernel's unbound work on CPU 1: wg-apply brings the link up
# (clique-boot's apply does) and the kernel answers with a handshake per peer, which would
# otherwise land in wg-apply's tail and not in `wg setconf`'s (which leaves the link down).
# Each case has a device of its own, never destroyed (destroying 10,000 peers takes ~3 min under
# TCG: one RCU grace period per peer). ~2 min in all on a 2-core host with RUNS=3.
# When the VM cannot run (not root, no qemu, no kernel package) it prints one JSON line saying
# why and exits 0, so make bench goes on. Env: PEERS (10000), RUNS (3), BUILD (build),
# VM_CACHE, VM_TIMEOUT (400), KEEP=1 keeps the work dir.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
PEERS=${PEERS:-10000}
RUNS=${RUNS:-3}
VM_TIMEOUT=${VM_TIMEOUT:-400}
# shellcheck disable=SC2034 # vm-lib.sh's clock
VM_T0=$EPOCHREALTIME
# shellcheck disable=SC1091
. tests/vm/vm-lib.sh
PY=/usr/bin/python3
NOTE="qemu TCG VM (no KVM), ~10x slower than native: compare the ratio, not the times"

# not measured: one JSON line that says why (run.sh's table shows it), exit 0
skip() {
	$PY -c 'import json, sys; print(json.dumps({"label": "kernel: not measured", "note": sys.argv[1]}))' "$*"
	echo "bench-kernel: not measured: $*" >&2
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (qemu's 9p share)"
for c in qemu-system-x86_64 cpio gzip wg ip busybox dpkg-deb gcc; do
	command -v "$c" >/dev/null || skip "$c not installed (tests/install-deps.sh installs it)"
done
WG_APPLY=${WG_APPLY:-$BUILD/tools/wg-apply}
[ -x "$WG_APPLY" ] || make -s BUILD="$BUILD" unit-bins >&2 || skip "no $WG_APPLY (make unit-bins failed)"
[ -x "$WG_APPLY" ] || skip "no $WG_APPLY (make unit-bins)"

WORK=$(mktemp -d /tmp/clique-bench-kernel.XXXXXX)
SHARE=$WORK/share
mkdir -p "$SHARE/in" "$SHARE/out"
cleanup() {
	if [ -n "${KEEP:-}" ]; then echo "# kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

vm_kernel >&2 || skip "no Debian kernel package (vm-lib.sh: apt-get download linux-image-amd64)"
vm_log "kernel $VM_KVER" >&2

$PY tests/bench/gen-wgconf.py "$PEERS" "$SHARE/in/full.conf" "$SHARE/in/changed.conf" ||
	skip "gen-wgconf.py failed"
printf 'PEERS=%s\nRUNS=%s\n' "$PEERS" "$RUNS" >"$SHARE/in/params"
gcc -O2 -static -o "$WORK/kernel-time" tests/bench/kernel-time.c || skip "building kernel-time.c"
vm_initramfs "$WORK/root" tests/bench/kernel-guest.sh /usr/sbin/ip /usr/bin/wg >&2 || skip "initramfs"
vm_copy_bin "$WORK/root" "$WG_APPLY" /opt/clique/wg-apply || skip "copying wg-apply"
vm_copy_bin "$WORK/root" "$WORK/kernel-time" /opt/bench/kernel-time || skip "copying kernel-time"
vm_pack "$WORK/root" "$WORK/initramfs.gz" || skip "cpio"
vm_log "initramfs $(du -h "$WORK/initramfs.gz" | cut -f1), $PEERS peers, $RUNS rounds; booting" >&2

T_QEMU=$EPOCHREALTIME
vm_boot "$WORK/initramfs.gz" "$SHARE" "$WORK/console.log" >&2
qrc=$?
vm_log "qemu exited with $qrc after $(awk -v a="$T_QEMU" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f s", b-a}')" >&2
if [ $qrc != 1 ] || [ ! -s "$SHARE/out/times" ]; then
	echo "# ---- guest log" >&2
	sed 's/^/# /' "$SHARE/out/guest.log" >&2 2>/dev/null || tail -50 "$WORK/console.log" | sed 's/^/# /' >&2
	case $qrc in
	3) why="the guest script failed: $(head -3 "$SHARE/out/checks" 2>/dev/null | tr '\n' ';')" ;;
	124) why="the VM timed out after ${VM_TIMEOUT}s" ;;
	*) why="the VM exited without a verdict (qemu $qrc)" ;;
	esac
	skip "$why"
fi

$PY - "$SHARE/out/times" "$PEERS" "$RUNS" "$NOTE" <<'PY'
import json, statistics, sys
times, peers, runs, note = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
res = {}
for line in open(times):
    tag, wall, cpu, rss = line.split()
    res.setdefault(tag, []).append((float(wall), float(cpu), int(rss)))
groups = [
    [("fresh-setconf", f"kernel: wg setconf, {peers} peers, fresh device"),
     ("fresh-apply", f"kernel: clique-boot apply, {peers} peers, fresh device")],
    [("diff-setconf", f"kernel: wg setconf, 1 changed of {peers}"),
     ("diff-syncconf", f"kernel: wg syncconf, 1 changed of {peers}"),
     ("diff-apply", f"kernel: clique-boot apply, 1 changed of {peers}")],
]
for group in groups:
    base = None
    for tag, label in group:
        v = res.get(tag, [])
        if len(v) != runs:
            sys.exit(f"bench-kernel: {tag}: {len(v)} runs, want {runs}")
        w, c, r = (statistics.median(x) for x in zip(*v))
        base = base or w
        row = {"label": label, "runs": runs, "wall_s": round(w, 4), "cpu_s": round(c, 4),
               "maxrss_kb": r, "ratio_wall": round(w / base, 3)}
        if tag.endswith("setconf"):
            row["note"] = note
        print(json.dumps(row))
PY

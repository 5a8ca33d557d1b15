#!/bin/bash
# libFuzzer over every parser (shared/STYLE.md 16; DESIGN.md 8.4). `make fuzz` runs this.
#
#   run.sh [--regress-only] [HARNESS...]
#
# Builds build-fuzz/ with clang -fsanitize=fuzzer,address,undefined, assembles each harness's
# seeds (tests/fixtures, tests/fuzz/seeds/<harness>, generated authentic record envelopes) and
# first replays every stored file -- all seeds and every tests/fuzz/crashes/* regression input --
# through every harness, then fuzzes each harness for FUZZ_SECONDS (default 60), two at a time.
# A crash is copied to tests/fuzz/crashes/<harness>-<sha1> (a regression fixture from then on).
# The working corpus is kept in build-fuzz/corpus/<harness> across runs (FUZZ_BUILD: another
# build dir, so a long run and `make check` can share the tree). FUZZ_JOBS: parallel harnesses.
# Prints "ok fuzz/<harness>: N executions ..." or "FAIL ..." lines; exit 1 on any failure.
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
BF=${FUZZ_BUILD:-build-fuzz}
B=$TOP/$BF
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
ALL="config md-linode md-vultr md-digitalocean md-hetzner md-aws record-open record-payload s3-list uapi-get nl-dump state"
REGRESS_ONLY=0
[ "${1:-}" = --regress-only ] && { REGRESS_ONLY=1; shift; }
HARNESSES=${*:-$ALL}

command -v clang >/dev/null || { echo "SKIPPED: clang is not installed"; exit 77; }
FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
PKGS="libcurl jansson libsodium libmnl"

build() {
	make --no-print-directory BUILD="$BF" CC=clang \
		CFLAGS="$FLAGS -fsanitize=fuzzer-no-link" "$BF/libclique.a" || return 1
	mkdir -p "$B/fuzz"
	local h src out cpp libs
	cpp="-D_GNU_SOURCE $(pkg-config --cflags $PKGS)"
	libs=$(pkg-config --libs $PKGS)
	for h in $ALL seed-records; do
		case $h in
		seed-records) src=tests/fuzz/seed-records.c san=$FLAGS ;;
		*) src=tests/fuzz/fuzz-$h.c san="$FLAGS -fsanitize=fuzzer" ;;
		esac
		out=$B/fuzz/$h
		if [ -x "$out" ] && [ -z "$(find "$src" tests/fuzz/*.h "$B/libclique.a" -newer "$out")" ]; then
			continue
		fi
		echo "  FUZZ-LD $out"
		# shellcheck disable=SC2086
		clang $cpp $san -Wall -Wextra -o "$out" "$src" "$B/libclique.a" $libs || return 1
	done
}

# seeds DIR HARNESS: the stored inputs of one harness, copied into DIR
seeds() {
	local d=$1 h=$2 f
	mkdir -p "$d"
	case $h in
	config) for f in tests/fixtures/config/*/clique.conf; do cp "$f" "$d/$(basename "$(dirname "$f")").conf"; done ;;
	md-linode) for f in tests/fixtures/metadata/linode/*/*; do
			[ "$(basename "$f")" = expected ] || cp "$f" "$d/$(basename "$(dirname "$f")")-$(basename "$f")"
		done
		cp tests/fixtures/metadata/fake/linode.json "$d/fake-linode.json" ;;
	md-vultr) for f in tests/fixtures/metadata/vultr/*/v1.json; do cp "$f" "$d/$(basename "$(dirname "$f")").json"; done
		cp tests/fixtures/metadata/fake/vultr.json "$d/fake-vultr.json" ;;
	md-digitalocean) for f in tests/fixtures/metadata/digitalocean/*/v1.json; do cp "$f" "$d/$(basename "$(dirname "$f")").json"; done ;;
	md-hetzner) for f in tests/fixtures/metadata/hetzner/*/*; do
			[ "$(basename "$f")" = expected ] || cp "$f" "$d/$(basename "$(dirname "$f")")-$(basename "$f")"
		done ;;
	md-aws) # each fixture's IMDS tree as the harness reads it (fuzz-md-aws.c)
		for f in tests/fixtures/metadata/aws/*/meta-data.json tests/fixtures/metadata/fake/aws.json; do
			python3 tests/fuzz/aws-seed.py "$f" >"$d/$(basename "$(dirname "$f")")-$(basename "$f" .json)"
		done
		for f in tests/fixtures/metadata/aws/*/token; do cp "$f" "$d/$(basename "$(dirname "$f")")-token"; done ;;
	s3-list) for f in $(find tests/fixtures/s3/list -name '*.xml'); do cp "$f" "$d/$(echo "${f#tests/fixtures/s3/list/}" | tr / -)"; done ;;
	uapi-get) for f in tests/fixtures/uapi/get/*/input; do cp "$f" "$d/$(basename "$(dirname "$f")")"; done ;;
	nl-dump) cp tests/fixtures/netlink/dump-*.bin tests/fixtures/netlink/get-wg0.bin "$d/" ;;
	record-open | record-payload | state) cp "$W/gen-seeds/$h"/* "$d/" ;;
	esac
	[ -d "tests/fuzz/seeds/$h" ] && cp tests/fuzz/seeds/"$h"/* "$d/" 2>/dev/null
	return 0
}

# Every stored seed of every harness plus every regression crash, once, through harness h.
regress() {
	local h=$1 all=$W/regress-all log=$W/regress-$h.log n
	mkdir -p "$W/empty-$h"
	n=$(find "$all" -type f | wc -l)
	if "$B/fuzz/$h" -runs=0 -timeout=10 -rss_limit_mb=2048 -max_len=1048576 -artifact_prefix="$W/" \
		"$W/empty-$h" "$all" >"$log" 2>&1; then
		echo "ok fuzz/regress-$h: $n stored inputs of all harnesses and crashes"
	else
		echo "FAIL fuzz/regress-$h"
		tail -40 "$log"
		return 1
	fi
}

# fuzz h: FUZZ_SECONDS of libFuzzer from the working corpus and the seeds
fuzz_one() {
	local h=$1 log=$W/fuzz-$h.log art=$W/artifacts/$h/ execs f sha rc
	mkdir -p "$B/corpus/$h" "$art"
	"$B/fuzz/$h" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art" "$B/corpus/$h" "$W/seeds/$h" \
		>"$log" 2>&1
	rc=$?
	execs=$(awk '/stat::number_of_executed_units/{print $NF}' "$log")
	if [ "$rc" = 0 ]; then
		echo "ok fuzz/$h: ${execs:-?} executions in ${FUZZ_SECONDS} s, corpus $(ls "$B/corpus/$h" | wc -l)"
		return 0
	fi
	echo "FAIL fuzz/$h (libFuzzer exit $rc after ${execs:-?} executions)"
	grep -m1 -A30 'ERROR:\|property failed\|runtime error' "$log"
	for f in "$art"*; do
		[ -f "$f" ] || continue
		sha=$(sha1sum "$f" | cut -c1-12)
		mkdir -p tests/fuzz/crashes
		cp "$f" "tests/fuzz/crashes/$h-$sha"
		echo "  saved tests/fuzz/crashes/$h-$sha (regression input from now on)"
		rm -f "$f"
	done
	return 1
}

mkdir -p "$B"
# other engineers' `make check` runs share this tree: one build at a time, private work dirs
exec 9>"$B/.lock"
flock 9
build >"$B/build.log" 2>&1 || { cat "$B/build.log"; echo "FAIL fuzz/build"; exit 1; }
flock -u 9
W=$(mktemp -d "$B/run.XXXXXX")
trap 'rm -rf "$W"' EXIT
"$B/fuzz/seed-records" "$W/gen-seeds" || { echo "FAIL fuzz/seed-records"; exit 1; }
mkdir -p "$W/regress-all"
for h in $ALL; do
	seeds "$W/seeds/$h" "$h"
	for f in "$W/seeds/$h"/*; do cp "$f" "$W/regress-all/$h-$(basename "$f")"; done
done
[ -d tests/fuzz/crashes ] && cp tests/fuzz/crashes/* "$W/regress-all/" 2>/dev/null

fails=0
for h in $HARNESSES; do regress "$h" || fails=$((fails + 1)); done
if [ $REGRESS_ONLY = 0 ] && [ "$FUZZ_SECONDS" != 0 ]; then
	# two at a time (the machine has 2 cores); results printed in harness order
	for h in $HARNESSES; do
		while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do wait -n; done
		fuzz_one "$h" >"$W/result-$h" 2>&1 &
	done
	wait
	for h in $HARNESSES; do
		cat "$W/result-$h"
		grep -q '^FAIL' "$W/result-$h" && fails=$((fails + 1))
	done
fi
echo "# fuzz: $fails failed"
[ $fails = 0 ]

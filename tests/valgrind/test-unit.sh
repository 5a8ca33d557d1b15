#!/bin/bash
# Valgrind (memcheck) over every unit test, built without sanitizers (build-vg/): no invalid
# access, no uninitialised use, no leak. Complements the ASan+UBSan run of the same tests.
# Prints "ok valgrind/<test>" / "FAIL valgrind/<test>" per binary.
set -u
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "SKIPPED: valgrind is not installed"; exit 77; }
BV=build-vg
mkdir -p $BV
# other engineers' `make check` runs share this tree: one build at a time, private logs
exec 9>"$BV/.lock"
flock 9
make --no-print-directory BUILD=$BV unit-bins >"$BV/build.log" 2>&1 || {
	cat "$BV/build.log"
	echo "FAIL valgrind/build"
	exit 1
}
flock -u 9
W=$(mktemp -d "$BV/run.XXXXXX")
trap 'rm -rf "$W"' EXIT
fails=0
run_one() {
	local t=$1 name log
	name=$(basename "$t")
	log=$W/$name.log
	if valgrind -q --error-exitcode=99 --suppressions=tests/valgrind/unit.supp --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --track-origins=yes \
		"$t" >"$log.out" 2>"$log"; then
		echo "ok valgrind/$name"
	else
		echo "FAIL valgrind/$name"
		cat "$log.out" | grep -v '^ok ' | tail -20
		head -60 "$log"
		return 1
	fi
}
pids=()
for t in "$BV"/tests/test-*; do
	[ -x "$t" ] || continue
	# two at a time: valgrind is single-threaded, the machine has 2 cores
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
	run_one "$t" >"$W/$(basename "$t").result" &
done
wait
for r in "$W"/*.result; do
	cat "$r"
	grep -q '^FAIL' "$r" && fails=$((fails + 1))
done
[ $fails = 0 ]

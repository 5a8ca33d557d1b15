#!/bin/sh
# Runs every suite of `make check` and ends with the line "N passed, N failed".
# Each suite prints "ok <name>" / "FAIL <name>" lines; a suite that exits non-zero without
# printing a FAIL line counts as one failure. Exit 77 from a whole suite = skipped.
# Suites: unit (the test binaries) and tests/<suite>/test-*.sh for the others.
# Env: BUILD (build dir of the sanitized binaries), SUITES (default: all of them).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SUITES=${SUITES:-unit valgrind e2e packaging fuzz vm}
export BUILD
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0 failed=0 skipped=0

run() { # name cmd...
	name=$1
	shift
	echo "== $name"
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^FAIL ' "$out")
	if [ "$rc" = 77 ]; then
		skipped=$((skipped + 1))
		return
	fi
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL $name (exit $rc)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

for suite in $SUITES; do
	case $suite in
	unit)
		for t in "$BUILD"/tests/test-*; do
			[ -x "$t" ] || continue
			run "unit/$(basename "$t")" "$t"
		done
		;;
	*)
		for t in tests/"$suite"/test-*.sh; do
			[ -f "$t" ] || continue
			run "$suite/$(basename "$t" .sh)" bash "$t"
		done
		;;
	esac
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

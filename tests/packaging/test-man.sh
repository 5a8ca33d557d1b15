#!/bin/bash
# clique-boot(8) (issue 6): renders without a warning (groff -ww, man --warnings), and documents
# every long option of `clique-boot --help`, every config key of bootstrap/config.c and every
# exit status. Prints "ok <check>" / "FAIL <check>".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
page=packaging/man/clique-boot.8
BIN=$top/${BUILD:-build}/clique-boot
command -v groff >/dev/null || { echo "groff missing (groff-base)"; exit 77; }
fails=0
ok() { echo "ok man: $1"; }
fail() {
	echo "FAIL man: $1"
	fails=$((fails + 1))
}
out=$(groff -ww -z -man "$page" 2>&1)
[ -z "$out" ] && ok "groff -ww -man: no warnings" || { echo "$out"; fail "groff -ww"; }
out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
[ -z "$out" ] && ok "man --warnings -l: no warnings" || { echo "$out"; fail "man --warnings"; }
# the check itself notices a bad request
printf '.TH X 8\n.SH NAME\nx \\- y\n.BOGUS\n' >"${tmp:=$(mktemp)}"
[ -n "$(groff -ww -z -man "$tmp" 2>&1)" ] && ok "groff -ww notices an unknown macro" ||
	fail "groff -ww is silent on an unknown macro"
rm -f "$tmp"

text=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$page" 2>/dev/null)
missing=""
for o in $("$BIN" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -q -- "$o" <<<"$text" || missing="$missing $o"
done
[ -z "$missing" ] && ok "every option of --help is documented" || fail "options missing:$missing"
missing=""
for k in $(sed -n 's/^\tKEY("\([a-z0-9_]*\)".*/\1/p' bootstrap/config.c); do
	grep -qw -- "$k" <<<"$text" || missing="$missing $k"
done
[ -z "$missing" ] && ok "every config key of bootstrap/config.c is documented" ||
	fail "keys missing:$missing"
missing=""
for c in 0 64 69 75 78; do
	grep -qE "^ +$c\b" <<<"$text" || missing="$missing $c"
done
[ -z "$missing" ] && ok "exit statuses 0 64 69 75 78 documented" || fail "exit statuses missing:$missing"
for s in FILES EXAMPLES; do
	grep -q "^$s" <<<"$text" && ok "has $s" || fail "no $s section"
done
exit $((fails > 0))

#!/bin/bash
# Binary sizes (static <= 6 MiB: packaging/static/build.sh), as JSON lines for run.sh.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
for b in build/clique-boot build-static/clique-boot; do
	[ -f "$top/$b" ] || continue
	printf '{"label": "binary size %s", "note": "%s bytes (%s)"}\n' "$b" \
		"$(stat -c %s "$top/$b")" "$(file -b "$top/$b" | cut -d, -f1-2)"
done

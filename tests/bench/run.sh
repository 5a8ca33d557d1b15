#!/bin/bash
# make bench: the performance budget of shared/DESIGN.md 9, each figure measured in this run
# beside its reference, printed as a table of medians. Not part of make check.
# Env: RUNS (rounds per figure, default 3).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
export RUNS=${RUNS:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
make -s all unit-bins >/dev/null

echo "# clique-boot bench on $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); medians of $RUNS"
for part in tests/bench/bench-*.sh; do
	bash "$part" >>"$out"
done
bash tests/bench/apply.sh >>"$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
w = max(len(r["label"]) for r in rows)
print(f"{'figure':<{w}}  {'wall s':>8} {'cpu s':>8} {'RSS MB':>7} {'ratio':>6}")
for r in rows:
    rss = r.get("maxrss_kb")
    print(f"{r['label']:<{w}}  {r.get('wall_s', ''):>8} {r.get('cpu_s', ''):>8} "
          f"{'' if rss is None else round(rss / 1024, 1):>7} {r.get('ratio_wall', ''):>6}"
          + (f"  {r['note']}" if r.get("note") else ""))
PY

#!/usr/bin/python3
"""Measures commands against each other: median wall time, CPU time and peak RSS.

usage: measure.py [-n RUNS] [--setup CMD] --case LABEL CMD [--case LABEL CMD ...]
Each round runs the optional setup (shell, not measured) and then one case, for every case in
turn, so load on the machine hits all cases alike; RUNS rounds. Per-run figures come from
os.wait4's rusage of that one child. Prints one JSON line per case (label, runs, wall_s,
cpu_s = user+sys, maxrss_kb: medians) with ratio_wall = its median wall / the first case's.
Peak RSS comes from GNU time: a child forked from Python keeps Python's high-water mark across
exec in ru_maxrss (/bin/true "uses" 11 MB measured that way, 1 MB under /usr/bin/time).
"""
import argparse, json, os, shlex, statistics, subprocess, sys, tempfile, time


def run_once(cmd):
    with tempfile.NamedTemporaryFile("r") as rss:
        full = ["/usr/bin/time", "-f", "%M", "-o", rss.name] + cmd
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            try:
                os.execv(full[0], full)
            finally:
                os._exit(127)
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"measure: {' '.join(cmd)} failed ({os.waitstatus_to_exitcode(status)})")
        maxrss = int(rss.read().split()[-1])
    return wall, ru.ru_utime + ru.ru_stime, maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--setup")
    ap.add_argument("--case", nargs=2, action="append", metavar=("LABEL", "CMD"), required=True)
    a = ap.parse_args()
    res = {label: ([], [], []) for label, _ in a.case}
    for _ in range(a.n):
        for label, cmd in a.case:
            if a.setup:
                subprocess.run(a.setup, shell=True, check=True, stdout=subprocess.DEVNULL)
            for acc, v in zip(res[label], run_once(shlex.split(cmd))):
                acc.append(v)
    base = statistics.median(res[a.case[0][0]][0])
    for label, _ in a.case:
        w, c, r = (statistics.median(x) for x in res[label])
        print(json.dumps({"label": label, "runs": a.n, "wall_s": round(w, 4),
                          "cpu_s": round(c, 4), "maxrss_kb": r,
                          "ratio_wall": round(w / base, 3)}))


main()

#!/usr/bin/env python3
"""Tables and a chart from benchmark results (JSON lines, one per cell).

    bench_report.py --out DIR TUNEKV.jsonl [ETCD.jsonl ...] [REDIS.jsonl ...]

Reads cells written by scripts/bench.sh (system "tunekv") and by
../shared/bench-anchors (systems "etcd" and "redis"). Over repetitions it
keeps the median of each figure. Writes:

  DIR/bench.md     tunekv: ops/s, p50/p99 and server CPU per op per cell
  DIR/bench.png    tunekv: throughput and p99 per operation over the
                   concurrency (gnuplot; skipped with a note if missing)
  DIR/compare.md   when etcd or redis cells are given: tunekv beside them,
                   with the ratio tunekv / etcd per cell
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

TUNEKV_OPS = ("put", "get-linearizable", "get-sequential", "get-causal", "get-session",
              "get-bounded", "get-eventual", "mixed")
# Which etcd cell each tunekv cell is set against.
ETCD_PEER = {
    "put": "put",
    "get-linearizable": "get-linearizable",
    "get-sequential": "get-serializable",
    "get-eventual": "get-serializable",
    "mixed": "mixed",
}


def load(paths):
    """cells[(system, mode, op, clients)] = list of result lines."""
    cells = defaultdict(list)
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"bench_report: {path}:{n}: {e}")
                op = r.get("op")
                if r.get("system") == "redis":
                    op = {"set": "put", "get": "get"}.get(str(op).lower(), op)
                key = (r.get("system"), r.get("mode", ""), op, int(r.get("clients", 0)))
                cells[key].append(r)
    return cells


def median(rows, get):
    vals = [v for v in (get(r) for r in rows) if v is not None]
    return statistics.median(vals) if vals else None


def summary(rows):
    return {
        "ops": median(rows, lambda r: r.get("ops_per_s")),
        "p50": median(rows, lambda r: (r.get("all") or {}).get("p50_us")),
        "p99": median(rows, lambda r: (r.get("all") or {}).get("p99_us")),
        "cpu": median(rows, lambda r: r.get("server_cpu_us_per_op")),
        "errors": sum(int(r.get("errors") or 0) for r in rows),
        "reps": len(rows),
    }


def fmt_ops(v):
    return "—" if v is None else f"{v:,.0f}"


def fmt_ms(v):
    return "—" if v is None else f"{v / 1000:.2f}"


def cell_text(s):
    if s is None:
        return "—"
    text = f"{fmt_ops(s['ops'])} ({fmt_ms(s['p50'])}/{fmt_ms(s['p99'])})"
    if s["cpu"] is not None:
        text += f", {s['cpu']:.0f} µs"
    if s["errors"]:
        text += f", {s['errors']} err"
    return text


def concurrencies(cells, system):
    return sorted({k[3] for k in cells if k[0] == system})


def tunekv_table(cells):
    cs = concurrencies(cells, "tunekv")
    lines = ["ops/s (p50/p99 ms), server CPU µs per op (3 processes), median of the reps:", "",
             "| cell | " + " | ".join(f"c={c}" for c in cs) + " |",
             "|---|" + "---|" * len(cs)]
    for op in TUNEKV_OPS:
        rows = [cells.get(("tunekv", "disk", op, c)) for c in cs]
        if not any(rows):
            continue
        lines.append(f"| {op} | " + " | ".join(cell_text(summary(r) if r else None)
                                               for r in rows) + " |")
    return "\n".join(lines) + "\n"


def ratio(a, b):
    if a is None or b in (None, 0):
        return "—"
    return f"{a / b:.2f}×"


def compare_table(cells):
    cs = concurrencies(cells, "tunekv")
    lines = ["ops/s (p50/p99 ms), server CPU µs/op; ratio = tunekv / etcd "
             "(throughput; for CPU, lower is better):", "",
             "| tunekv cell | etcd cell | c | tunekv | etcd | ops/s ratio | p50 ratio | "
             "CPU ratio |",
             "|---|---|---|---|---|---|---|---|"]
    etcd_mode = next((k[1] for k in cells if k[0] == "etcd"), "disk")
    for op in TUNEKV_OPS:
        peer = ETCD_PEER.get(op)
        if peer is None:
            continue
        for c in cs:
            t = cells.get(("tunekv", "disk", op, c))
            e = cells.get(("etcd", etcd_mode, peer, c))
            if not t:
                continue
            ts = summary(t)
            es = summary(e) if e else None
            lines.append(
                f"| {op} | {peer if e else '—'} | {c} | {cell_text(ts)} | {cell_text(es)} | "
                f"{ratio(ts['ops'], es['ops'] if es else None)} | "
                f"{ratio(ts['p50'], es['p50'] if es else None)} | "
                f"{ratio(ts['cpu'], es['cpu'] if es else None)} |")
    redis = sorted({(k[1], k[2]) for k in cells if k[0] == "redis"})
    if redis:
        rcs = concurrencies(cells, "redis")
        lines += ["", "redis (one node, no replication: the event-loop ceiling), ops/s "
                  "(p50/p99 ms), server CPU µs/op:", "",
                  "| redis mode | op | " + " | ".join(f"c={c}" for c in rcs) + " |",
                  "|---|---|" + "---|" * len(rcs)]
        for mode, op in redis:
            lines.append(f"| {mode} | {op} | " + " | ".join(
                cell_text(summary(cells[("redis", mode, op, c)]))
                if ("redis", mode, op, c) in cells else "—" for c in rcs) + " |")
    return "\n".join(lines) + "\n"


def chart(cells, out):
    if shutil.which("gnuplot") is None:
        print("bench_report: gnuplot not found (apt-get install gnuplot-nox): no chart")
        return
    cs = concurrencies(cells, "tunekv")
    # bench.sh records the cluster's partition count in every line.
    partitions = next((rows[0].get("partitions", "?") for key, rows in cells.items()
                       if key[0] == "tunekv"), "?")
    data = os.path.join(out, "bench.dat")
    present = [op for op in TUNEKV_OPS if any(("tunekv", "disk", op, c) in cells for c in cs)]
    with open(data, "w") as f:
        for op in present:
            f.write(f"# {op}\n")
            for c in cs:
                rows = cells.get(("tunekv", "disk", op, c))
                if rows:
                    s = summary(rows)
                    f.write(f"{c} {s['ops'] or 0} {(s['p50'] or 0) / 1000} "
                            f"{(s['p99'] or 0) / 1000}\n")
            f.write("\n\n")
    plots_ops = ", ".join(f"'{data}' index {i} using 1:2 with linespoints lw 2 title '{op}'"
                          for i, op in enumerate(present))
    plots_p99 = ", ".join(f"'{data}' index {i} using 1:4 with linespoints lw 2 title '{op}'"
                          for i, op in enumerate(present))
    script = f"""
set terminal pngcairo size 1280,560 font 'sans,10'
set output '{os.path.join(out, 'bench.png')}'
set multiplot layout 1,2 title 'tunekv, 3 nodes x {partitions} partitions x 3 replicas, 100-byte values, 10 000 keys'
set logscale x 2
set xrange [{min(cs) / 1.5}:{max(cs) * 1.5}]
set xtics ({", ".join(f'"{c}" {c}' for c in cs)})
set xlabel 'requests in flight'
set grid
set key top left
set ylabel 'ops/s (log scale)'
set logscale y 10
set format y '%.0s%c'
plot {plots_ops}
set ylabel 'p99 latency (ms, log scale)'
set format y '%g'
set key top left
plot {plots_p99}
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    cells = load(args.files)
    if not any(k[0] == "tunekv" for k in cells):
        sys.exit("bench_report: no tunekv cells")
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(tunekv_table(cells))
    print(tunekv_table(cells))
    if any(k[0] in ("etcd", "redis") for k in cells):
        with open(os.path.join(args.out, "compare.md"), "w") as f:
            f.write(compare_table(cells))
        print(compare_table(cells))
    chart(cells, args.out)


if __name__ == "__main__":
    main()

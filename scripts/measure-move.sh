#!/usr/bin/env bash
# Measure a replica move under load (issue 17, docs/performance.md "Moving
# a replica"): a local cluster of three nodes and one partition, filled
# with KEYS keys of VALUE bytes, a fourth node joined; then a foreground
# load (tunekv-bench, 50% PUT 50% GET on other keys) runs while partition
# 0's replica moves from node 3 (a follower) to node 4. Prints how long
# the move took, the load's per-second p50/p99 before and during it, and
# the bytes node 4 read (its /proc/PID/io rchar: the snapshot and log it
# received, plus its own few disk reads) against the data size.
#
#   scripts/measure-move.sh [KEYS] [VALUE]      (defaults: 1000000 1024)
#
# BIN (build dir, default build), BASE (ports, default 19500), VAR (the
# cluster's directory, default /tmp/tkv-measure-move; deleted at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-1000000}
value=${2:-1024}
export BIN=${BIN:-$PWD/build} BASE=${BASE:-19500} VAR=${VAR:-/tmp/tkv-measure-move}
export NODES=3 PARTITIONS=1 REBALANCE=0
cli="$BIN/tunekv"
bench="$BIN/tunekv-bench"
ep="127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))"
out=$(mktemp -d)
cleanup() {
  scripts/cluster.sh down >/dev/null 2>&1 || true
  rm -rf "$VAR" "$out"
}
trap cleanup EXIT
rm -rf "$VAR"
scripts/cluster.sh up >/dev/null
scripts/cluster.sh add-node >/dev/null

echo "== filling partition 0: $keys keys of $value bytes"
# Keys key-00000000.. in random order: 1.6 x KEYS puts fill about 80 %.
"$bench" --endpoints "$ep" -q -c 64 --mix put=100 --keys "$keys" --value-size "$value" \
  -n $((keys * 16 / 10)) >/dev/null
read -r held bytes < <("$cli" --endpoints "$ep" --json status --node 1 | python3 -c '
import json,sys
def walk(o):
    if isinstance(o, dict):
        if "keys" in o and "bytes" in o and "partition" in o:
            yield o
        for v in o.values():
            yield from walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from walk(v)
p = max(walk(json.load(sys.stdin)), key=lambda p: p["keys"])
print(p["keys"], p["bytes"])')
echo "   keys held: $held, $((bytes / 1048576)) MiB in the store"

echo "== foreground load (8 in flight, 100-byte values, its own keys) and the move"
"$bench" --endpoints "$ep" -c 8 -d 90 --mix put=50,get=50 --keys 100000 --value-size 100 \
  2>"$out/bench" >/dev/null &
bpid=$!
sleep 15
pid4=$(cat "$VAR/node4.pid")
rchar0=$(awk '/^rchar/ {print $2}' "/proc/$pid4/io")
t0=$(date +%s.%N)
"$cli" --endpoints "$ep" move 0 3 4 >/dev/null 2>&1
t1=$(date +%s.%N)
rchar1=$(awk '/^rchar/ {print $2}' "/proc/$pid4/io")
kill -INT "$bpid" 2>/dev/null || true
wait "$bpid" 2>/dev/null || true
python3 - "$out/bench" "$t0" "$t1" "$rchar0" "$rchar1" "$bytes" <<'EOF'
import re, statistics, sys
path, t0, t1, r0, r1, data = sys.argv[1:]
t0, t1 = float(t0), float(t1)
move = t1 - t0
rows = []
for line in open(path):
    m = re.match(r"t=(\d+)s run ops/s=(\d+) p50=([\d.]+)ms p99=([\d.]+)ms", line)
    if m:
        rows.append((int(m[1]), int(m[2]), float(m[3]), float(m[4])))
# The move started 15 s into the run (after the bench's first second).
start = 15
before = [r for r in rows if 2 <= r[0] < start]
during = [r for r in rows if start <= r[0] <= start + move + 1]
def line(name, rs):
    if not rs:
        print(f"   {name}: no samples"); return
    print(f"   {name}: {len(rs)} s, ops/s median {statistics.median(r[1] for r in rs):.0f}, "
          f"p50 median {statistics.median(r[2] for r in rs):.3f} ms, "
          f"p99 median {statistics.median(r[3] for r in rs):.3f} ms, max {max(r[3] for r in rs):.3f} ms")
print(f"== move of partition 0 (3 -> 4): {move:.1f} s")
line("before", before)
line("during", during)
got = int(r1) - int(r0)
data = int(data)
print(f"   node 4 read {got / 1048576:.0f} MiB for {data / 1048576:.0f} MiB in the store "
      f"({got / max(data, 1):.2f}x)")
EOF

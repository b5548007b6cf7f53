#!/usr/bin/env bash
# tunekv beside etcd (3 members) and redis (one node) on this machine, back
# to back, the same shape: loopback, 100-byte values, 10 000 keys, 1/16/64/
# 256 requests in flight (docs/performance.md). Uses the kit in
# ../shared/bench-anchors (ANCHORS=dir to point elsewhere) and
# scripts/bench.sh, then writes one table with tunekv / etcd ratios.
#
#   scripts/bench-compare.sh [--duration S] [--warmup S] [--reps N] [--out DIR]
#
# Run it on an idle machine: the etcd driver waits for one before each
# cell. About 15 minutes with the defaults (5 s cells, 1 rep).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
anchors=${ANCHORS:-$root/../shared/bench-anchors}
duration=5
warmup=1
reps=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--warmup S] [--reps N] [--out DIR]" >&2; exit 2 ;;
  esac
done
out=${out:-$root/var/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ ! -x "$anchors/run-etcd-bench.sh" ]; then
  echo "bench-compare: no bench-anchors kit at $anchors (set ANCHORS)" >&2
  exit 2
fi

bash "$anchors/install-deps.sh"
echo "== etcd"
DURATION=${duration}s WARMUP=${warmup}s REPS=$reps OUT="$out/etcd.jsonl" \
  bash "$anchors/run-etcd-bench.sh"
echo "== redis"
REPS=$reps N=100000 OUT="$out/redis.jsonl" bash "$anchors/run-redis-bench.sh"
echo "== tunekv"
bash scripts/bench.sh --duration "$duration" --warmup "$warmup" --reps "$reps" --out "$out"
python3 tests/perf/bench_report.py --out "$out" "$out/tunekv.jsonl" "$out/etcd.jsonl" \
  "$out/redis.jsonl"
echo "bench-compare: $out/compare.md, $out/bench.md, $out/bench.png"

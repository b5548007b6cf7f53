#!/usr/bin/env bash
# The standard benchmark matrix (docs/performance.md): a fresh local 3-node
# cluster (3 partitions, one per node, x 3 replicas, fsync on; PARTITIONS=N
# for another count), 10 000 keys of 100 bytes
# preloaded, then every cell with tunekv-bench, closed loop:
#
#   put; get at each level (linearizable from the leaders; the others with
#   route any, spread over the replicas); mixed 50/50 (linearizable gets)
#   x  1, 16, 64, 256 requests in flight
#
# Each cell records throughput, latency percentiles and the CPU time of the
# three server processes per operation. Writes OUT/tunekv.jsonl (one JSON
# line per cell, fields as ../shared/bench-anchors), OUT/bench.md (table)
# and OUT/bench.png (chart, with gnuplot).
#
#   scripts/bench.sh [--duration S] [--warmup S] [--reps N]
#                    [--concurrency "1 16 64 256"] [--ops "put get-linearizable ..."]
#                    [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=10
warmup=2
reps=1
concurrency="1 16 64 256"
ops="put get-linearizable get-sequential get-causal get-session get-bounded get-eventual mixed"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--warmup S] [--reps N] [--concurrency LIST] [--ops LIST] [--out DIR]" >&2; exit 2 ;;
  esac
done
out=${out:-$root/var/bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

bash scripts/install-deps.sh
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null

export VAR="$out/cluster"
rm -rf "$VAR"
trap 'bash scripts/cluster.sh down >/dev/null 2>&1 || true' EXIT
bash scripts/cluster.sh up >/dev/null
E=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
pids=$(cat "$VAR"/node*.pid | paste -sd,)
partitions=$(awk -F' *= *' '$1 == "partitions" {print $2}' "$VAR/cluster.conf")
bench=(build/tunekv-bench --endpoints "$E" --keys 10000 --value-size 100 -q --json
       --cpu-pids "$pids" -d "$duration" --warmup "$warmup")

# Preload every key once (the gets then find them).
build/tunekv-bench --endpoints "$E" --keys 10000 --value-size 100 -q -c 64 -n 1 \
  --warmup 0 --mix put=100 --preload >/dev/null

args_of() { # op -> tunekv-bench arguments
  case "$1" in
    put) echo "--mix put=100" ;;
    mixed) echo "--mix put=50,get=50" ;;
    get-linearizable) echo "--mix get=100" ;;
    get-bounded) echo "--mix get=100 --consistency bounded --max-staleness-ms 250 --route any" ;;
    get-*) echo "--mix get=100 --consistency ${1#get-} --route any" ;;
  esac
}

: >"$out/tunekv.jsonl"
for rep in $(seq "$reps"); do
  for op in $ops; do
    for c in $concurrency; do
      # shellcheck disable=SC2046
      line=$("${bench[@]}" -c "$c" $(args_of "$op") \
        --meta "{\"system\":\"tunekv\",\"mode\":\"disk\",\"target\":\"all\",\"op\":\"$op\",\"clients\":$c,\"rep\":$rep,\"partitions\":$partitions}" |
        grep '"op":"all"' || true)
      if [ -z "$line" ]; then
        echo "bench: $op c=$c produced no result" >&2
        continue
      fi
      # The meta's op wins over the tool's "all": keep the cell's name.
      echo "$line" >>"$out/tunekv.jsonl"
      python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
a = r["all"]
print(f"{r['op']:<18} c={r['clients']:<4} {r['ops_per_s']:>10.0f} ops/s  p50 {a['p50_us']/1000:.3f} ms"
      f"  p99 {a['p99_us']/1000:.3f} ms  server {r.get('server_cpu_us_per_op', 0):.1f} us/op"
      f"  errors {r.get('errors', 0)}")
PY
    done
  done
done
python3 tests/perf/bench_report.py --out "$out" "$out/tunekv.jsonl"
echo "bench: results in $out (tunekv.jsonl, bench.md, bench.png)"

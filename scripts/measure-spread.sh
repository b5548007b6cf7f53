#!/usr/bin/env bash
# SCAN and GET_MANY spread over nodes (docs/performance.md, "Reads spread
# over nodes"): the same reads on A = 3 nodes x 6 partitions x 3 replicas
# (every node holds every partition) and B = 4 nodes x 6 x 3 (none does:
# every read is spread), with tunekv-bench, 5 s per cell. Local clusters on
# ports BASE+1.. (default 27000), removed at the end. ~2 minutes.
#
#   scripts/measure-spread.sh [BUILD_DIR]     (default build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$root/build}" && pwd)
bench=$bin/tunekv-bench
export BIN=$bin BASE=${BASE:-27000} PARTITIONS=6 REBALANCE=0

cell() { # label nodes
  local label=$1 n=$2 eps out mix lvl
  export VAR=/tmp/tkv-measure-spread-$label NODES=$n
  rm -rf "$VAR"
  bash "$root/scripts/cluster.sh" up >/dev/null
  trap 'bash "$root/scripts/cluster.sh" down >/dev/null 2>&1; rm -rf "$VAR"' EXIT
  eps=$(seq -s, -f "127.0.0.1:%g" $((BASE + 1)) $((BASE + n)))
  "$bench" --endpoints "$eps" --mix put=100 --keys 10000 -c 32 -d 4 >/dev/null 2>&1
  for mix in scan=100 mget=100; do
    for lvl in sequential eventual linearizable; do
      [ "$mix" = scan=100 ] && [ "$lvl" = linearizable ] && continue
      out=$("$bench" --endpoints "$eps" --mix "$mix" --keys 10000 -c 16 -d 5 --consistency "$lvl" 2>/dev/null)
      printf '%s %-9s %-12s | %s | %s\n' "$label" "$mix" "$lvl" \
        "$(echo "$out" | grep -m1 'ops/s')" "$(echo "$out" | grep -m1 -E '^ *(scan|mget) ')"
    done
  done
  bash "$root/scripts/cluster.sh" down >/dev/null 2>&1
  rm -rf "$VAR"
  trap - EXIT
}

echo "columns: count ops/s mean p50 p90 p99 p99.9 max (ms)"
cell A 3
cell B 4

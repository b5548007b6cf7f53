#!/usr/bin/env bash
# What the change history (issue 16: reads at a past timestamp, tombstones)
# holds in memory (docs/performance.md, "The change history"): on two source
# trees in turn, a fresh 3-node scripts/cluster.sh cluster, KEYS keys
# (default 100 000, 100-byte values) preloaded, then SECONDS_PUT seconds
# (default 10) of overwrites at 64 in flight, so that each partition's
# history fills to its bounds; then every node's resident memory (VmRSS)
# and the put rate of the overwrite phase. One line per tree and node:
#   tree node rss_mib put_ops_per_s
#
#   scripts/measure-history.sh BEFORE_TREE [AFTER_TREE (default .)]
# A tree is a checkout with its build/ made (tunekvd, tunekv, tunekv-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(cd "$1" && pwd)
after=$(cd "${2:-.}" && pwd)
keys=${KEYS:-100000}
seconds=${SECONDS_PUT:-10}
var=$(mktemp -d /tmp/tkv-hist-XXXXXX)
export VAR=$var BASE=${BASE:-24700}
ep=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))
tree=
trap '[ -z "$tree" ] || (cd "$tree" && bash scripts/cluster.sh down >/dev/null 2>&1) || true
rm -rf "$var"' EXIT

for tree in "$before" "$after"; do
  rm -rf "${var:?}"/*
  (cd "$tree" && bash scripts/cluster.sh up >/dev/null)
  "$tree/build/tunekv-bench" --endpoints "$ep" -d 1 --keys "$keys" -c 64 --mix put=100 \
    --preload >/dev/null 2>&1
  rate=$("$tree/build/tunekv-bench" --endpoints "$ep" -d "$seconds" --warmup 1 --keys "$keys" \
    -c 64 --mix put=100 2>/dev/null | awk '$1 == "all" {print $3}')
  for i in 1 2 3; do
    pid=$(cat "$var/node$i.pid")
    rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
    echo "$(basename "$tree") node$i $rss ${rate:-failed}"
  done
  (cd "$tree" && bash scripts/cluster.sh down >/dev/null 2>&1)
done

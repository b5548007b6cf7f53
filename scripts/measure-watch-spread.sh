#!/usr/bin/env bash
# WATCH spread over nodes (docs/performance.md, "Watches spread over
# nodes"): from a put to its event, for a key's watch served directly by
# each replica of its partition, and relayed by the node that holds none
# (4 nodes x 1 partition x 3 replicas: node 4, or whichever node the
# placement left out, relays to the replica the cover picks). tkv-watchlat,
# one watcher, PUTS puts every PERIOD_MS ms per cell, each cell ROUNDS
# times. A local cluster on ports BASE+1.. (default 27100), removed at the
# end.
#
#   scripts/measure-watch-spread.sh [BUILD_DIR]     (default build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$root/build}" && pwd)
lat=$bin/tests/tkv-watchlat
tkv=$bin/tunekv
export BIN=$bin BASE=${BASE:-27100} PARTITIONS=1 NODES=4 REBALANCE=0
export VAR=/tmp/tkv-measure-watch-spread
PUTS=${PUTS:-300} PERIOD_MS=${PERIOD_MS:-10} ROUNDS=${ROUNDS:-2}

rm -rf "$VAR"
bash "$root/scripts/cluster.sh" up >/dev/null
trap 'bash "$root/scripts/cluster.sh" down >/dev/null 2>&1; rm -rf "$VAR"' EXIT
ep() { echo "127.0.0.1:$((BASE + $1))"; }
# Who holds no replica of partition 0.
holds() { "$tkv" --endpoints "$(ep "$1")" status --node "$1" --json 2>/dev/null | grep -q '"partition":0'; }
relay=0
for n in 1 2 3 4; do
  holds "$n" || relay=$n
done
[ "$relay" != 0 ] || { echo "every node holds partition 0" >&2; exit 1; }
echo "node $relay holds no replica of partition 0: it relays"
"$tkv" --endpoints "$(ep 1)" status --node 1 --json 2>/dev/null | grep -o '"leader_id":[0-9]*' | head -1
for r in $(seq "$ROUNDS"); do
  for n in 1 2 3 4; do
    if [ "$n" = "$relay" ]; then
      label="relayed by node $n"
    else
      label="direct on node $n"
    fi
    out=$("$lat" "$(ep 1)" 1 1 "$PUTS" "$PERIOD_MS" "$(ep "$n")")
    printf 'round %s  %-20s %s\n' "$r" "$label" "$out"
  done
done
# Which replica the relay used: its share is the stream open there now.
"$lat" "$(ep 1)" 1 1 100 "$PERIOD_MS" "$(ep "$relay")" >/dev/null &
sleep 0.5
for n in 1 2 3 4; do
  printf 'node %s: %s\n' "$n" "$("$tkv" --endpoints "$(ep "$n")" status --node "$n" --json 2>/dev/null | grep -o '"watches":[0-9]*' | head -1)"
done
wait

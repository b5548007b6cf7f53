#!/usr/bin/env bash
# How fresh were the reads below LINEARIZABLE, in fact (docs/consistency.md,
# "How stale were the reads"): a 3-node scripts/cluster.sh cluster, and for
# each level tunekv-bench with a write share (default 10 % puts, 90 % gets)
# reading on followers for DURATION seconds (default 10); then, once the
# sampled reads left their window (freshness_window_ms, 2 s here), the
# fresh and stale counts every node's STATUS reports, summed. One line per
# level:
#   level ops/s fresh stale fresh% stale_ms<=1,10,100,1000,10000,more versions1,2-3,4-7,8+
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-10}
mix=${MIX:-put=10,get=90}
inflight=${INFLIGHT:-64}
var=$(mktemp -d /tmp/tkv-fresh-XXXXXX)
export VAR=$var BASE=${BASE:-24500}
export CONF_EXTRA=$'[read]\nfreshness_window_ms = 2000'
trap 'bash scripts/cluster.sh down >/dev/null 2>&1 || true; rm -rf "$var"' EXIT
cmake --build build -j2 --target tunekvd tunekv_cli tunekv_bench >/dev/null
ep=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))
for level in eventual bounded session sequential causal; do
  bash scripts/cluster.sh down >/dev/null 2>&1 || true
  rm -rf "${var:?}"/* # a fresh cluster (cluster.sh bootstraps when it has no config)
  bash scripts/cluster.sh up >/dev/null
  extra=()
  [ "$level" = bounded ] && extra=(--max-staleness-ms 1000)
  ops=$(./build/tunekv-bench --endpoints "$ep" -c "$inflight" -d "$duration" --warmup 1 \
    --mix "$mix" --keys 10000 --preload --consistency "$level" --route follower "${extra[@]}" \
    2>/dev/null | awk '/^measured/ {print $6}')
  sleep 3 # the sampled reads' 2 s window must end on the nodes
  for n in 1 2 3; do
    ./build/tunekv --endpoints "127.0.0.1:$((BASE + n))" status --node "$n" --json
    echo
  done | python3 -c '
import json, sys
level = sys.argv[1]
tot = {"fresh": 0, "stale": 0, "ms": [0] * 6, "v": [0] * 4}
for line in sys.stdin:
    if not line.strip():
        continue
    for p in json.loads(line)["partitions"]:
        for lv, r in p["reads"].items():
            tot["fresh"] += r["fresh"]; tot["stale"] += r["stale"]
            tot["ms"] = [a + b for a, b in zip(tot["ms"], r["stale_ms"])]
            tot["v"] = [a + b for a, b in zip(tot["v"], r["stale_versions"])]
n = tot["fresh"] + tot["stale"]
pct = 100.0 * tot["fresh"] / n if n else float("nan")
print(level, sys.argv[2], tot["fresh"], tot["stale"], "%.2f" % pct,
      ",".join(map(str, tot["ms"])), ",".join(map(str, tot["v"])))
' "$level" "$ops"
done

#!/usr/bin/env bash
# Memory and restart with 1 M keys (docs/performance.md): a fresh local
# 3-node cluster (3 partitions x 3 replicas, or PARTITIONS=N: every node
# holds every key),
# 1 000 000 keys of 100 bytes written once; then the RSS of each node, the
# same data in one redis-server (no persistence) for comparison, and how
# long a node killed with SIGKILL takes to serve again (start to ready:
# snapshot load and log replay, partitions led again or followed).
#
#   [RESTARTS=5] [OVERWRITES=0] [PARTITIONS=3] scripts/measure-memory.sh [KEYS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
keys=${1:-1000000}
work=$(mktemp -d)
export VAR="$work/cluster"
redis_pid=""
cleanup() {
  bash scripts/cluster.sh down >/dev/null 2>&1 || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/cluster.sh up >/dev/null
E=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
for i in 1 2 3; do base[$i]=$(rss_kib "$(cat "$VAR/node$i.pid")"); done
t0=$(date +%s.%N)
build/tunekv-bench --endpoints "$E" --keys "$keys" --value-size 100 -q -c 256 -n 1 \
  --warmup 0 --mix put=100 --preload >/dev/null
t1=$(date +%s.%N)
echo "loaded $keys keys of 100 bytes in $(echo "$t1 - $t0" | bc) s"
# OVERWRITES=N more puts to random keys: raft keeps every entry since the
# last snapshot in memory (and reads them back on restart), from
# snapshot_trailing up to snapshot_threshold + snapshot_trailing per
# partition, so where the load ends in that cycle moves RSS and restart.
if [ "${OVERWRITES:-0}" -gt 0 ]; then
  build/tunekv-bench --endpoints "$E" --keys "$keys" --value-size 100 -q -c 256 \
    -n "$OVERWRITES" --warmup 0 --mix put=100 >/dev/null
  echo "then $OVERWRITES puts to random keys"
fi
build/tunekv --endpoints 127.0.0.1:7001 --json status --node 1 |
  python3 -c 'import json,sys; s=json.load(sys.stdin); print("node 1 raft log entries since the last snapshot, per partition:", [p["last_index"] - p["snapshot_index"] for p in s["partitions"]])'
bytes=$(build/tunekv --endpoints 127.0.0.1:7001 --json status --node 1 |
  python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(p["bytes"] for p in s["partitions"]), sum(p["keys"] for p in s["partitions"]))')
echo "node 1 STATUS: key+value bytes and keys: $bytes"
for i in 1 2 3; do
  pid=$(cat "$VAR/node$i.pid")
  echo "node $i: RSS $(( $(rss_kib "$pid") / 1024 )) MiB (empty: $(( base[$i] / 1024 )) MiB)"
done

# The same data in redis: SET key-%08d <100 bytes>, through redis-cli --pipe.
if command -v redis-server >/dev/null; then
  port=26390
  redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$work" >"$work/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
  python3 - "$keys" <<'PY' | redis-cli -p $port --pipe >/dev/null
import sys
value = "v" * 100
out = sys.stdout
for i in range(int(sys.argv[1])):
    key = f"key-{i:08d}"
    out.write(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n$100\r\n{value}\r\n")
PY
  echo "redis: $(redis-cli -p $port dbsize) keys, RSS $(( $(rss_kib $redis_pid) / 1024 )) MiB" \
       "(used_memory $(redis-cli -p $port info memory | tr -d '\r' | sed -n 's/^used_memory_human://p'))"
fi

# Restart: SIGKILL node 2, start it again, and time (from the start) until
# it answers a read of its own data (EVENTUAL, served by node 2: its client
# port opens once every partition is loaded), and until it reports ready
# (every partition has a leader: when node 2 led some, that includes the
# other nodes' election timeout, 1-2 s after the kill). RESTARTS times.
serve_ms=()
ready_ms=()
for r in $(seq "${RESTARTS:-5}"); do
  pid=$(cat "$VAR/node2.pid")
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true # our child after the first restart: no "Killed" line
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$VAR/node2.ready"
  t0=$(date +%s%N)
  build/tunekvd --config "$VAR/cluster.conf" --node-id 2 --data-dir "$VAR/node2" \
    --ready-fd 3 3>"$VAR/node2.ready" </dev/null >>"$VAR/node2.log" 2>&1 &
  echo $! >"$VAR/node2.pid"
  until build/tunekv --endpoints 127.0.0.1:7002 --node 2 --timeout-ms 100 \
    --consistency eventual get key-00000001 >/dev/null 2>&1; do sleep 0.01; done
  t1=$(date +%s%N)
  until grep -q ready "$VAR/node2.ready" 2>/dev/null; do sleep 0.01; done
  t2=$(date +%s%N)
  serve_ms+=($(( (t1 - t0) / 1000000 )))
  ready_ms+=($(( (t2 - t0) / 1000000 )))
  echo "node 2 restart $r after SIGKILL: serves reads in $(( (t1 - t0) / 1000000 )) ms," \
       "ready in $(( (t2 - t0) / 1000000 )) ms (data dir $(du -sh "$VAR/node2" | cut -f1))"
  # Let the balancer hand node 2 its partitions back before the next kill.
  sleep 3
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "restart: serves reads in $(median "${serve_ms[@]}") ms (median of ${#serve_ms[@]})," \
     "ready in $(median "${ready_ms[@]}") ms"

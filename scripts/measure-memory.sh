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
#
# Large values instead (issue 15, docs/performance.md "Raft's log in
# bytes"): one client writes 1 MiB values (64 keys, 8 in flight) for
# SECONDS (default 30); then the RSS of each node, the Raft log since the
# last snapshot, and the restarts (RESTARTS, default 3). SNAPSHOT_BYTES sets
# [raft] snapshot_bytes (64GiB: never reached, as before it existed).
#
#   [SNAPSHOT_BYTES=64MiB] [RESTARTS=3] scripts/measure-memory.sh --big-values [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
big=0
if [ "${1:-}" = "--big-values" ]; then
  big=1
  seconds=${2:-30}
  : "${RESTARTS:=3}"
  [ -z "${SNAPSHOT_BYTES:-}" ] || export CONF_EXTRA=$'[raft]\nsnapshot_bytes = '"$SNAPSHOT_BYTES"
else
  keys=${1:-1000000}
fi
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
log_since_snapshot() {
  build/tunekv --endpoints 127.0.0.1:7001 --json status --node 1 |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print("node 1 raft log entries since the last snapshot, per partition:", [p["last_index"] - p["snapshot_index"] for p in s["partitions"]], "snapshots:", [p["snapshots"] for p in s["partitions"]])'
}
rss_report() {
  for i in 1 2 3; do
    echo "node $i: RSS $(( $(rss_kib "$(cat "$VAR/node$i.pid")") / 1024 )) MiB" \
         "(empty: $(( base[$i] / 1024 )) MiB), data dir $(du -sh "$VAR/node$i" | cut -f1)"
  done
}
if [ "$big" = 1 ]; then
  echo "snapshot_bytes: ${SNAPSHOT_BYTES:-default}"
  build/tunekv-bench --endpoints "$E" --keys 64 --value-size 1048576 -q -c 8 -d "$seconds" \
    --warmup 0 --mix put=100 | grep -E '^(op|put|all)' || true
  log_since_snapshot
  rss_report
else # 1 M keys of 100 bytes (the default), then redis with the same keys
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
log_since_snapshot
bytes=$(build/tunekv --endpoints 127.0.0.1:7001 --json status --node 1 |
  python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(p["bytes"] for p in s["partitions"]), sum(p["keys"] for p in s["partitions"]))')
echo "node 1 STATUS: key+value bytes and keys: $bytes"
rss_report

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
fi # --big-values

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
  # Give up after READY_TIMEOUT_S (default 120) and say where node 2 stands.
  deadline=$(( $(date +%s) + ${READY_TIMEOUT_S:-120} ))
  until grep -q ready "$VAR/node2.ready" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 0.01
  done
  if ! grep -q ready "$VAR/node2.ready" 2>/dev/null; then
    echo "node 2 restart $r after SIGKILL: serves reads in $(( (t1 - t0) / 1000000 )) ms," \
         "NOT ready after ${READY_TIMEOUT_S:-120} s; its partitions:"
    build/tunekv --endpoints 127.0.0.1:7002 --json status --node 2 |
      python3 -c 'import json,sys; s=json.load(sys.stdin); [print(" ", p["partition"], p["role"], "leader", p["leader_id"], "applied", p["applied_index"], "of", p["last_index"]) for p in s["partitions"]]' || true
    exit 1
  fi
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

#!/usr/bin/env bash
# Forwarded large values (docs/performance.md): three tunekvd nodes of
# SERVER_BUILD_DIR on loopback (clients 127.0.0.1:27001-27003, peers
# 27101-27103), one partition led by node 1, and tests/perf/fwdbench.py
# sending PUTs, then GETs (after a preload), of 64 KiB and 1 MiB values to
# node 2, which forwards every one to node 1. Prints one line per cell:
# fwdbench's figures, how many requests node 2 forwarded meanwhile (its
# STATUS counter: proof that they were forwarded), and the CPU time of
# node 2 and node 1 per forwarded request.
#   scripts/measure-forwarding.sh SERVER_BUILD_DIR
# REPLICAS=1 makes node 2 a pure forwarder (it hosts no replica), so that
# its CPU time is forwarding alone; the default, 3, makes it a follower.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "${1:?server build dir}" && pwd)
cli=$(pwd)/build/tunekv # any version's CLI reads STATUS
replicas=${REPLICAS:-3}
var=$(mktemp -d /tmp/tkv-fwd-XXXXXX)
pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$var"
}
trap stop EXIT

{
  echo "[cluster]"
  echo "secret = $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
  echo "partitions = 1"
  echo "replicas = $replicas"
  for i in 1 2 3; do
    echo "[node.$i]"
    echo "client_addr = 127.0.0.1:$((27000 + i))"
    echo "peer_addr = 127.0.0.1:$((27100 + i))"
  done
} >"$var/cluster.conf"
for i in 1 2 3; do
  "$bin/tunekvd" --config "$var/cluster.conf" --node-id "$i" --bootstrap 1 --data-dir "$var/node$i" \
    --ready-fd 3 3>"$var/node$i.ready" </dev/null >"$var/node$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 300); do grep -q ready "$var/node$i.ready" 2>/dev/null && break; sleep 0.1; done
done

status() { "$cli" --endpoints "127.0.0.1:2700$1" --json status --node "$1"; }
json() { python3 -c "import json,sys; o=json.load(sys.stdin); print($1)"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/${pids[$1 - 1]}/stat"; }
# Node 1 is partition 0's preferred leader: wait for leader balancing.
for _ in $(seq 150); do
  [ "$(status 1 | json 'o["partitions"][0]["leader_id"]')" = 1 ] && break
  sleep 0.2
done
[ "$(status 1 | json 'o["partitions"][0]["leader_id"]')" = 1 ] ||
  { echo "node 1 does not lead partition 0" >&2; exit 1; }
sleep 1

hz=$(getconf CLK_TCK)
for size in 65536 1048576; do
  for op in put get; do
    preload=
    [ "$op" = get ] && preload=--preload
    f0=$(status 2 | json 'o["forwarded"]')
    a0=$(cpu_ticks 1)
    b0=$(cpu_ticks 2)
    line=$(python3 tests/perf/fwdbench.py --endpoint 127.0.0.1:27002 --op "$op" \
      --value-size "$size" -c 16 -d 5 --warmup 1 --keys 64 $preload)
    n=$(($(status 2 | json 'o["forwarded"]') - f0))
    a1=$(cpu_ticks 1)
    b1=$(cpu_ticks 2)
    echo "$line forwarded=$n node2_us/op=$(((b1 - b0) * 1000000 / hz / n))" \
      "node1_us/op=$(((a1 - a0) * 1000000 / hz / n))"
  done
done

#!/usr/bin/env bash
# What the ordered index of the keys (store.h, SCAN) costs, before and
# after, in one run (docs/performance.md "The ordered index"): one node of
# each build (a single partition, so one store holds every key), each
# loaded with KEYS keys of 100 bytes (key-%08d: 12 bytes, tunekv-bench
# --preload, 256 in flight); then the RSS of each; put throughput at 64 in
# flight, alternating builds, ROUNDS rounds of SECONDS; and the restart of
# each (SIGKILL, start: snapshot load plus log replay) until it serves a
# read, RESTARTS times, alternating. Ports are random (loopback), so runs
# of other people on the machine are not disturbed.
#
#   [ROUNDS=3] [SECONDS_EACH=10] [RESTARTS=3] scripts/measure-index.sh OLD_ROOT NEW_ROOT [KEYS]
#
# OLD_ROOT and NEW_ROOT are source trees with a RelWithDebInfo build in
# build/ (tunekvd and tunekv-bench; NEW_ROOT's tunekv CLI does the reads).
set -euo pipefail
old=$1
new=$2
keys=${3:-1000000}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rss_mib() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }
port0=$((20000 + RANDOM % 20000))

# start NAME ROOT PORT BOOTSTRAP [SERVES]: run a node; wait until it
# answers an EVENTUAL read (SERVES=1: prints the ms that took), then until
# it is ready.
start() {
  local name=$1 root=$2 port=$3 boot=$4 dir=$work/$1
  mkdir -p "$dir"
  [ -f "$dir/conf" ] || printf '[cluster]\npartitions = 1\n[node.1]\nclient_addr = 127.0.0.1:%s\npeer_addr = 127.0.0.1:%s\n' \
    "$port" "$((port + 1))" >"$dir/conf"
  rm -f "$dir/ready"
  "$root/build/tunekvd" --config "$dir/conf" --node-id 1 --bootstrap "$boot" \
    --data-dir "$dir/data" --ready-fd 3 3>"$dir/ready" </dev/null >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  pids+=($!)
  if [ "${5:-0}" = 1 ]; then
    local t0 t1
    t0=$(date +%s%N)
    until "$new/build/tunekv" --endpoints "127.0.0.1:$port" --node 1 --timeout-ms 100 \
      --consistency eventual get key-00000001 >/dev/null 2>&1; do sleep 0.01; done
    t1=$(date +%s%N)
    echo -n "serves reads in $(( (t1 - t0) / 1000000 )) ms, "
  fi
  until grep -q ready "$dir/ready" 2>/dev/null; do sleep 0.01; done
}

bench() { # ROOT PORT ARGS...
  local root=$1 port=$2
  shift 2
  "$root/build/tunekv-bench" --endpoints "127.0.0.1:$port" --keys "$keys" --value-size 100 -q "$@"
}

declare -A port=([old]=$port0 [new]=$((port0 + 10)))
declare -A root=([old]=$old [new]=$new)
for b in old new; do
  start "$b" "${root[$b]}" "${port[$b]}" 1
  t0=$(date +%s.%N)
  bench "${root[$b]}" "${port[$b]}" -c 256 -n 1 --warmup 0 --mix put=100 --preload >/dev/null
  t1=$(date +%s.%N)
  echo "$b: loaded $keys keys in $(echo "$t1 - $t0" | bc) s," \
       "$(echo "$keys / ($t1 - $t0)" | bc) puts/s; RSS $(rss_mib "$(cat "$work/$b/pid")") MiB"
done
for r in $(seq "${ROUNDS:-3}"); do
  for b in old new; do
    echo -n "$b round $r: "
    bench "${root[$b]}" "${port[$b]}" -c 64 -d "${SECONDS_EACH:-10}" --warmup 1 --mix put=100 |
      grep -E '^put' | head -1
  done
done
for b in old new; do echo "$b: RSS after the put rounds $(rss_mib "$(cat "$work/$b/pid")") MiB"; done
for r in $(seq "${RESTARTS:-3}"); do
  for b in old new; do
    pid=$(cat "$work/$b/pid")
    kill -9 "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
    echo -n "$b restart $r: "
    t0=$(date +%s%N)
    start "$b" "${root[$b]}" "${port[$b]}" 0 1
    t1=$(date +%s%N)
    echo "ready in $(( (t1 - t0) / 1000000 )) ms, RSS $(rss_mib "$(cat "$work/$b/pid")") MiB"
  done
done

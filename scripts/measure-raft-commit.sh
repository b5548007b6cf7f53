#!/usr/bin/env bash
# The floor tunekv's write path is held to: a raw Raft commit on this
# machine (tests/perf/raftbench.c: three processes, one group, raft_uv on
# disk, no tunekv code), at K entries in flight (default: 1, then 256).
#   scripts/measure-raft-commit.sh [K ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/tests/tkv-raftbench
cmake --build build --target tkv-raftbench >/dev/null
for k in "${@:-1 256}"; do
  work=$(mktemp -d)
  base=$((40000 + RANDOM % 10000))
  n=$((k == 1 ? 5000 : 200000))
  pids=()
  for id in 1 2 3; do
    mkdir -p "$work/$id"
    "$bin" "$id" "$base" "$work/$id" "$n" "$k" >"$work/out$id" 2>"$work/err$id" &
    pids+=($!)
  done
  # The leader prints its line and exits; stop the followers then.
  for _ in $(seq 600); do
    out=$(cat "$work"/out? 2>/dev/null)
    [ -n "$out" ] && break
    sleep 0.1
  done
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "${out:-no result (see $work)}"
  rm -rf "$work"
done

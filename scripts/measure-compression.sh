#!/usr/bin/env bash
# What LZ4 value compression saves: write the same 10 000 JSON documents
# (0.9-3 KiB, tests/perf/documents.py) to a fresh one-node tunekvd with
# compression on (the default, compress_min_bytes = 1KiB) and off (0), and
# report the bytes held in memory (STATUS), the Raft log on disk, and the
# PUT/GET latency of one client. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="$root/build"
cmake --build "$bin" --target tunekvd tunekv_cli tkv-latency >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 tests/perf/documents.py 2000 >"$work/docs"

run() { # label, extra flags
  local label=$1 port=$((30000 + RANDOM % 20000))
  shift
  "$bin/tunekvd" --node-id 1 --client-addr 127.0.0.1:$port --peer-addr 127.0.0.1:$((port + 1)) \
    --data-dir "$work/$label" --ready-fd 3 "$@" 3>"$work/$label.ready" 2>"$work/$label.log" &
  local pid=$!
  for _ in $(seq 300); do grep -q ready "$work/$label.ready" 2>/dev/null && break; sleep 0.05; done
  local lat
  lat=$("$bin/tests/tkv-latency" 127.0.0.1:$port 10000 0 "$work/docs")
  local mem
  mem=$("$bin/tunekv" --endpoints 127.0.0.1:$port --json status |
    python3 -c 'import json,sys; print(sum(p["bytes"] for p in json.load(sys.stdin)["partitions"]))')
  kill -TERM $pid
  wait $pid
  local disk
  disk=$(du -sb "$work/$label" | cut -f1)
  local put get
  put=$(echo "$lat" | awk '/^PUT/ {print $3}')
  get=$(echo "$lat" | awk '/^GET/ {print $3}')
  echo "| $label | $mem | $disk | ${put#p50=} | ${get#p50=} |"
}

raw=$(wc -c <"$work/docs")
echo "documents: 2000 distinct, $((raw / 2000)) bytes average, written 10 000 times (5 rounds)"
echo
echo "| compression | bytes in memory | data dir on disk | PUT p50 | GET p50 |"
echo "|---|---|---|---|---|"
run on
run off --compress-min-bytes 0

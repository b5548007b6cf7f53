#!/usr/bin/env bash
# The cost of TLS on the client port (docs/performance.md, "TLS"): a
# 3-node cluster of scripts/cluster.sh, plaintext and TLS=1 in turn, ROUNDS
# times (default 2) so that both see the same machine; in each, tunekv-bench
# runs put and get (100-byte values, uniform keys) at 1 and 256 in flight
# for DURATION seconds (default 5). Prints one line per cell and round:
#   mode op inflight ops/s p50_ms p99_ms
#   scripts/measure-tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-2}
duration=${DURATION:-5}
var=$(mktemp -d /tmp/tkv-tls-bench-XXXXXX)
export VAR=$var BASE=${BASE:-29000}
trap 'bash scripts/cluster.sh down >/dev/null 2>&1 || true; rm -rf "$var"' EXIT
cmake --build build -j2 --target tunekvd tunekv_cli tunekv_bench >/dev/null
eps=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))

for round in $(seq "$rounds"); do
  for mode in plain tls; do
    rm -rf "${var:?}"/node* "$var/cluster.conf"
    TLS=$([ $mode = tls ] && echo 1 || echo 0) bash scripts/cluster.sh up >/dev/null 2>&1
    ca=()
    [ $mode = tls ] && ca=(--cacert "$var/tls/ca.pem")
    ./build/tunekv-bench --endpoints $eps "${ca[@]}" --preload -c 16 -d 1 --warmup 0 \
      --mix put=100 >/dev/null
    for op in put get; do
      for c in 1 256; do
        ./build/tunekv-bench --endpoints $eps "${ca[@]}" -c $c -d "$duration" --warmup 1 \
          --mix $op=100 --value-size 100 --json 2>/dev/null |
          python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
a = d["all"]
print(*sys.argv[1:], round(d["ops_per_s"]), round(a["p50_us"] / 1000, 3),
      round(a["p99_us"] / 1000, 3), "errors", d["errors"])' "$mode" "$op" "$c"
      done
    done
    bash scripts/cluster.sh down >/dev/null
  done
done

#!/usr/bin/env bash
# The cost of TLS on the client port (docs/performance.md, "TLS"): a
# 3-node cluster of scripts/cluster.sh, plaintext and TLS=1 in turn, ROUNDS
# times (default 2) so that both see the same machine; in each, tunekv-bench
# runs put and get (100-byte values, uniform keys) at 1 and 256 in flight
# for DURATION seconds (default 5). Prints one line per cell and round:
#   mode op inflight ops/s p50_ms p99_ms
# Then the CPU it costs, which noise from other load hides less: one
# plaintext and one TLS node side by side, put and get at 256 in flight,
# alternating, ROUNDS times; per cell the node's CPU time per request
# (utime + stime from /proc) and the bench process's (its own report):
#   cpu mode op ops/s node_us_per_op bench_us_per_op
#   scripts/measure-tls.sh
#
#   scripts/measure-tls.sh ports
# instead measures what each port's TLS adds at 1 in flight: a 3-node
# cluster with TLS on neither port, the peer port only, the client port
# only, and both, ROUNDS times; per mode and op (get, put) the ops/s and
# p50 in microseconds:
#   ports mode op ops/s p50_us
#
#   scripts/measure-tls.sh put [TUNEKVD_B]
# measures put alone, the cell the peer port's TLS costs most in: a 3-node
# cluster with TLS on neither port, the peer port, and both ports, put at 1
# and at 256 in flight, ROUNDS times, each round running every mode once
# (alternating, so that all see the same machine load); per run the ops/s,
# the p50 in microseconds, and the three nodes' CPU time (utime + stime
# from /proc) per put, which others' load moves much less than latency:
#   put mode inflight ops/s p50_us node_cpu_us_per_put
# With TUNEKVD_B (another build's tunekvd) every TLS mode also runs with
# it, in the same rounds, as mode peer-B / both-B: a before/after A/B.
# Data directories go under $TMPDIR (default /tmp): TMPDIR=/dev/shm puts
# them on tmpfs, which takes the disk's fsync times (and their noise when
# others use the disk) out of put, leaving what the network path costs.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-2}
duration=${DURATION:-5}
var=$(mktemp -d "${TMPDIR:-/tmp}/tkv-tls-bench-XXXXXX")
export VAR=$var BASE=${BASE:-29000}
single=() # the single nodes of the CPU part
trap 'bash scripts/cluster.sh down >/dev/null 2>&1 || true; kill "${single[@]}" 2>/dev/null || true
rm -rf "$var"' EXIT
cmake --build build -j2 --target tunekvd tunekv_cli tunekv_bench >/dev/null
# One 3-node cluster of tunekvd binary $1 in mode $2 (plain, peer, both)
# in directory $3, on ports BASE+1..3 (clients) and BASE+11..13 (peers);
# the pids go to `single`.
put_cluster() {
  local bin=$1 mode=$2 d=$3 certs=$var/tls f
  mkdir -p "$d"
  {
    echo "[cluster]"
    echo "secret = $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    echo "partitions = 3"
    for i in 1 2 3; do
      echo "[node.$i]"
      echo "client_addr = 127.0.0.1:$((BASE + i))"
      echo "peer_addr = 127.0.0.1:$((BASE + 10 + i))"
    done
  } >"$d/conf"
  for i in 1 2 3; do
    f=()
    case $mode in peer | both) f+=(--peer-cert-file "$certs/node$i.pem"
      --peer-key-file "$certs/node$i.key" --peer-ca-file "$certs/ca.pem") ;; esac
    case $mode in both) f+=(--cert-file "$certs/node$i.pem" --key-file "$certs/node$i.key") ;; esac
    "$bin" --config "$d/conf" --node-id $i --bootstrap 1 --data-dir "$d/d$i" \
      "${f[@]}" --ready-fd 3 3>"$d/ready$i" 2>"$d/log$i" &
    single+=($!)
  done
  for i in 1 2 3; do
    for _ in $(seq 100); do grep -q ready "$d/ready$i" 2>/dev/null && break; sleep 0.1; done
  done
}

if [ "${1:-}" = put ]; then
  bash scripts/tls-certs.sh "$var/tls" node1 node2 node3 >/dev/null
  runs=("build/tunekvd plain" "build/tunekvd peer" "build/tunekvd both")
  if [ -n "${2:-}" ]; then
    runs+=("$2 peer-B" "$2 both-B")
  fi
  eps=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))
  ticks() { local s=0 p; for p in "${single[@]}"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
  for round in $(seq "$rounds"); do
    for c in 1 256; do
      for run in "${runs[@]}"; do
        read -r bin mode <<<"$run"
        d=$var/put-$round-$c-${mode}
        put_cluster "$bin" "${mode%-B}" "$d"
        ca=()
        case $mode in both*) ca=(--cacert "$var/tls/ca.pem") ;; esac
        ./build/tunekv-bench --endpoints "$eps" "${ca[@]}" -c 16 -d 1 --warmup 0 --mix put=100 \
          >/dev/null 2>&1 || true
        t0=$(ticks)
        out=$(./build/tunekv-bench --endpoints "$eps" "${ca[@]}" -c $c -d "$duration" --warmup 0 \
          --mix put=100 --value-size 100 --json 2>/dev/null)
        t1=$(ticks)
        echo "$out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
ops = d["ops_per_s"] * float(sys.argv[6])
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5]) * 1e6 / max(ops, 1)
print("put", sys.argv[1], sys.argv[2], round(d["ops_per_s"]), d["all"]["p50_us"], round(cpu, 1))' \
          "$mode" "$c" "$t0" "$t1" "$(getconf CLK_TCK)" "$duration"
        kill "${single[@]}" 2>/dev/null || true
        wait "${single[@]}" 2>/dev/null || true
        single=()
        rm -rf "$d"
      done
    done
  done
  exit 0
fi

if [ "${1:-}" = ports ]; then
  certs=$var/tls
  bash scripts/tls-certs.sh "$certs" node1 node2 node3 >/dev/null
  for round in $(seq "$rounds"); do
    for mode in plain peer client both; do
      d=$var/ports-$mode-$round
      mkdir -p "$d"
      {
        echo "[cluster]"
        echo "secret = $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
        echo "partitions = 3"
        for i in 1 2 3; do
          echo "[node.$i]"
          echo "client_addr = 127.0.0.1:$((BASE + i))"
          echo "peer_addr = 127.0.0.1:$((BASE + 10 + i))"
        done
      } >"$d/conf"
      for i in 1 2 3; do
        f=()
        case $mode in peer | both) f+=(--peer-cert-file "$certs/node$i.pem"
          --peer-key-file "$certs/node$i.key" --peer-ca-file "$certs/ca.pem") ;; esac
        case $mode in client | both) f+=(--cert-file "$certs/node$i.pem"
          --key-file "$certs/node$i.key") ;; esac
        ./build/tunekvd --config "$d/conf" --node-id $i --bootstrap 1 --data-dir "$d/d$i" \
          "${f[@]}" --ready-fd 3 3>"$d/ready$i" 2>"$d/log$i" &
        single+=($!)
      done
      for i in 1 2 3; do
        for _ in $(seq 100); do grep -q ready "$d/ready$i" 2>/dev/null && break; sleep 0.1; done
      done
      ca=()
      case $mode in client | both) ca=(--cacert "$certs/ca.pem") ;; esac
      for op in get put; do
        ./build/tunekv-bench --endpoints "127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))" \
          "${ca[@]}" -c 1 -d "$duration" --warmup 1 --mix $op=100 --json 2>/dev/null |
          python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
print("ports", *sys.argv[1:], round(d["ops_per_s"]), d["all"]["p50_us"])' "$mode" "$op"
      done
      kill "${single[@]}" 2>/dev/null || true
      wait "${single[@]}" 2>/dev/null || true
      single=()
    done
  done
  exit 0
fi
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

# ---- CPU per request: two single nodes, plaintext and TLS
certs=$var/tls
declare -A node_pid
for mode in plain tls; do
  [ $mode = plain ] && p=$((BASE + 50)) || p=$((BASE + 60))
  flags=()
  [ $mode = tls ] && flags=(--cert-file "$certs/node1.pem" --key-file "$certs/node1.key")
  ./build/tunekvd --node-id 1 --client-addr 127.0.0.1:$p --peer-addr 127.0.0.1:$((p + 1)) \
    --data-dir "$var/single-$mode" "${flags[@]}" --ready-fd 3 3>"$var/single-$mode.ready" \
    2>"$var/single-$mode.log" &
  node_pid[$mode]=$!
  single+=($!)
  for _ in $(seq 100); do grep -q ready "$var/single-$mode.ready" 2>/dev/null && break; sleep 0.1; done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for round in $(seq "$rounds"); do
  for op in put get; do
    for mode in plain tls; do
      [ $mode = plain ] && p=$((BASE + 50)) || p=$((BASE + 60))
      ca=()
      [ $mode = tls ] && ca=(--cacert "$certs/ca.pem")
      t0=$(ticks "${node_pid[$mode]}")
      out=$(./build/tunekv-bench --endpoints 127.0.0.1:$p "${ca[@]}" -c 256 -d "$duration" \
        --warmup 0 --mix $op=100 --value-size 100 2>&1)
      t1=$(ticks "${node_pid[$mode]}")
      echo "$out" | python3 -c '
import re, sys
out = sys.stdin.read()
m = re.search(r"measured [0-9.]+ s: ([0-9]+) ops, ([0-9.]+) ops/s", out)
c = re.search(r"cpu: tunekv-bench .*\(([0-9.]+) us/op\)", out)
ops, rate = int(m.group(1)), float(m.group(2))
node_us = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5]) * 1e6 / ops
print("cpu", sys.argv[1], sys.argv[2], round(rate), round(node_us, 1), c.group(1) if c else "?")' \
        "$mode" "$op" "$t0" "$t1" "$hz"
    done
  done
done

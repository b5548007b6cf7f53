#!/usr/bin/env bash
# Zone-aware reads (docs/performance.md, "Zone-aware reads"): three tunekvd
# nodes in three zones, a, b and c, each in its own network namespace
# (tests/verify/netns.sh), and a client in a fourth namespace in zone a.
# Every packet that crosses zones is held DELAY_MS (default 20) by
# tests/verify/delayq in the receiving namespace (FAULTS-RECIPE §3), in
# both directions, so a round trip across zones takes 2 x DELAY_MS and one
# inside zone a none.
#
# The client reads at BOUNDED_STALENESS (1 s) with route NEAREST through
# tunekv-bench (get only, over keys preloaded first, no warm-up: a fresh
# client's first reads count) with --zone a and without a zone, and with
# route LEADER for reference; then 40 one-shot `tunekv get` processes (a
# client that makes one read and exits) with and without --zone a, counting
# the reads their receipts say were served in zone a. Prints the bench's
# JSON lines and one line per one-shot series.
#
#   sudo scripts/measure-zones.sh [BUILD_DIR]     (default: build)
#
# Needs root, network namespaces, iptables with NFQUEUE and build/tests/
# delayq (libnetfilter-queue-dev); exits 77 when something is missing. Runs
# about 90 s (DURATION per bench run, default 20; ROUNDS of the three bench
# runs, default 1, alternate them to even out a machine's other load); the
# namespaces, daemons and delayq processes are removed at exit, also after
# a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
delay_ms=${DELAY_MS:-20}
duration=${DURATION:-20}
netns=$(pwd)/tests/verify/netns.sh
export TKV_NETNS_PREFIX="tkv$$-"
P=$TKV_NETNS_PREFIX
zones=(a b c a) # nodes 1-3, then the client (namespace n4)
var=$(mktemp -d /tmp/tkv-zones-XXXXXX)
pids=()

for b in tunekvd tunekv tunekv-bench tests/delayq; do
  [ -x "$build/$b" ] || { echo "measure-zones: no $build/$b" >&2; exit 77; }
done
bash "$netns" check || exit 77

stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash "$netns" down
  rm -rf "$var"
}
trap stop EXIT

bash "$netns" up 4
in_ns() { local n=$1; shift; ip netns exec "${P}n$n" "$@"; }

# Delay: namespace i holds what comes from j, through queue j, when i and
# j are in different zones. `ip netns exec` execs, so $! is delayq itself
# (not so through a shell function: $! would be a subshell).
for i in 1 2 3 4; do
  for j in 1 2 3 4; do
    [ "$i" = "$j" ] || [ "${zones[i - 1]}" = "${zones[j - 1]}" ] && continue
    in_ns "$i" iptables -t mangle -A PREROUTING -s "10.77.0.$j" -j NFQUEUE \
      --queue-num "$j" --queue-bypass
    ip netns exec "${P}n$i" "$build/tests/delayq" "$j" "$delay_ms" 2>>"$var/delayq.log" &
    pids+=($!)
  done
done

{
  echo "[cluster]"
  echo "secret = $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
  echo "partitions = 3"
  echo "replicas = 3"
  for i in 1 2 3; do
    echo "[node.$i]"
    echo "client_addr = 10.77.0.$i:7001"
    echo "peer_addr = 10.77.0.$i:7101"
    echo "zone = ${zones[i - 1]}"
  done
} >"$var/cluster.conf"
for i in 1 2 3; do
  ip netns exec "${P}n$i" "$build/tunekvd" --config "$var/cluster.conf" --node-id "$i" --bootstrap 1 \
    --data-dir "$var/node$i" --ready-fd 3 3>"$var/node$i.ready" </dev/null \
    >"$var/node$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 300); do grep -q ready "$var/node$i.ready" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$var/node$i.ready" || { echo "node $i not ready" >&2; tail "$var/node$i.log" >&2; exit 1; }
done
endpoints=10.77.0.1:7001,10.77.0.2:7001,10.77.0.3:7001
echo "# ping client (zone a) -> node 1 (a), node 2 (b):" \
  "$(in_ns 4 ping -c3 -i0.2 -q 10.77.0.1 | tail -1 | cut -d' ' -f4)" \
  "$(in_ns 4 ping -c3 -i0.2 -q 10.77.0.2 | tail -1 | cut -d' ' -f4) ms (min/avg/max/mdev)"

# BOUNDED_STALENESS reads each node served so far (its STATUS counters,
# every partition), as "n1 n2 n3".
served() {
  local i
  for i in 1 2 3; do
    in_ns 4 "$build/tunekv" --endpoints "10.77.0.$i:7001" --json status --node "$i" |
      python3 -c 'import json,sys; o=json.load(sys.stdin)
print(sum(p["reads"]["bounded"]["served"] for p in o["partitions"]))'
  done | tr '\n' ' '
}
bench() { # label, then tunekv-bench options; the JSON line gains the reads
  local label=$1 before after # each node served meanwhile (served_by_node)
  shift
  read -ra before <<<"$(served)"
  line=$(in_ns 4 timeout $((duration + 60)) "$build/tunekv-bench" --endpoints "$endpoints" -q \
    --json --mix get=100 --keys 1000 --inflight 4 --warmup 0 -d "$duration" --timeout-ms 5000 \
    --meta "{\"run\":\"$label\",\"delay_ms\":$delay_ms}" "$@" | grep '"op":"get"')
  read -ra after <<<"$(served)"
  echo "${line%\}},\"served_by_node\":[$((after[0] - before[0])),$((after[1] - before[1])),$((after[2] - before[2]))]}"
}
# The keys, written once (and the cluster's leaders settled meanwhile).
in_ns 4 timeout 120 "$build/tunekv-bench" --endpoints "$endpoints" -q --mix put=100 \
  --keys 1000 --inflight 8 --preload -n 1 >/dev/null
bounded=(--consistency bounded --max-staleness-ms 1000)
for _ in $(seq "${ROUNDS:-1}"); do
  bench nearest-zone-a "${bounded[@]}" --route nearest --zone a
  bench nearest-no-zone "${bounded[@]}" --route nearest
  bench leader "${bounded[@]}" --route leader
done

oneshot() { # label, then tunekv options: 40 processes, one read each
  local label=$1 local_reads=0 zone
  shift
  for k in $(seq 40); do
    zone=$(in_ns 4 "$build/tunekv" --endpoints "$endpoints" --json "$@" get "key-$(printf %08d "$k")" \
      --consistency bounded --max-staleness-ms 1000 --route nearest |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["receipt"]["zone"])')
    [ "$zone" = a ] && local_reads=$((local_reads + 1))
  done
  echo "{\"run\":\"$label\",\"oneshot_reads\":40,\"served_in_zone_a\":$local_reads}"
}
oneshot oneshot-zone-a --zone a
oneshot oneshot-no-zone

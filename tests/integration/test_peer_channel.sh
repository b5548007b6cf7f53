#!/usr/bin/env bash
# Every node-to-node message travels the peer port. Three tunekvd nodes run
# in network namespaces of their own, joined by a bridge in a hub namespace
# where the client runs; in each node namespace iptables rejects every
# connection to the client port that does not come from the hub. Nodes can
# therefore reach each other only on their peer ports, and the cluster must
# still do everything that needs another node:
#
#   - a linearizable read sent to a node that does not lead the key's
#     partition is forwarded to the leader (node 1's `forwarded` grows);
#   - leaders confirm their leadership for linearizable reads with the
#     other voters (ReadIndex: `confirms` grow, none fail);
#   - an ack=ALL_REPLICAS write hears from every follower (probes) and is
#     answered ALL_REPLICAS;
#   - followers serve bounded-staleness reads, which need the leader's
#     answer to their probes;
#
# and the REJECT rules' counters stay at zero: no node ever tried a client
# port. Needs root (namespaces, iptables); exits 77 (skipped) without.
#   usage: test_peer_channel.sh BUILD_DIR
set -uo pipefail
bin=${1:?build dir}
fail() {
  echo "test_peer_channel: FAIL: $*" >&2
  for i in 1 2 3; do
    echo "--- node $i log (tail)" >&2
    tail -n 30 "$dir/node$i.log" >&2 2>/dev/null
  done
  exit 1
}
[ "$(id -u)" = 0 ] || { echo "test_peer_channel: SKIP: needs root"; exit 77; }
command -v iptables >/dev/null && command -v ip >/dev/null ||
  { echo "test_peer_channel: SKIP: needs ip and iptables"; exit 77; }

# Names are per run, so two runs on one machine never meet.
ns="tkvpc$$"
net=10.79.0
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-peerchan-XXXXXX")
cleanup() {
  local n p
  for n in "$ns-n1" "$ns-n2" "$ns-n3" "$ns-hub"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  for n in "$ns-n1" "$ns-n2" "$ns-n3" "$ns-hub"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$ns-hub" || { echo "test_peer_channel: SKIP: no network namespaces"; exit 77; }
ip -n "$ns-hub" link add br0 type bridge || fail "bridge"
ip -n "$ns-hub" link set br0 up
ip -n "$ns-hub" link set lo up
ip -n "$ns-hub" addr add "$net.254/24" dev br0
for i in 1 2 3; do
  ip netns add "$ns-n$i" || fail "netns $i"
  ip link add eth0 netns "$ns-n$i" type veth peer name "p$i" netns "$ns-hub" || fail "veth $i"
  ip -n "$ns-hub" link set "p$i" master br0 up
  ip -n "$ns-n$i" addr add "$net.$i/24" dev eth0
  ip -n "$ns-n$i" link set lo up
  ip -n "$ns-n$i" link set eth0 up
  # The client port takes connections from the hub (the client) alone.
  ip netns exec "$ns-n$i" iptables -A INPUT -p tcp --dport 7001 ! -s "$net.254" \
    -j REJECT --reject-with tcp-reset || { echo "test_peer_channel: SKIP: iptables"; exit 77; }
done

cat >"$dir/cluster.conf" <<EOF
[cluster]
cluster_name = peerchan
secret = test-peer-channel-secret
partitions = 3
replicas = 3
[raft]
election_timeout_ms = 1000
heartbeat_timeout_ms = 100
EOF
for i in 1 2 3; do
  printf '[node.%s]\nclient_addr = %s.%s:7001\npeer_addr = %s.%s:7101\n' \
    "$i" "$net" "$i" "$net" "$i" >>"$dir/cluster.conf"
done

pids=()
for i in 1 2 3; do
  ip netns exec "$ns-n$i" "$bin/tunekvd" --config "$dir/cluster.conf" --node-id "$i" \
    --bootstrap 1 --data-dir "$dir/node$i" --ready-fd 3 3>"$dir/node$i.ready" </dev/null \
    >"$dir/node$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 600); do
    grep -q ready "$dir/node$i.ready" 2>/dev/null && break
    kill -0 "${pids[$((i - 1))]}" 2>/dev/null || fail "node $i exited at start"
    sleep 0.05
  done
  grep -q ready "$dir/node$i.ready" || fail "node $i not ready after 30 s"
done

cli() {
  ip netns exec "$ns-hub" "$bin/tunekv" --endpoints "$net.1:7001,$net.2:7001,$net.3:7001" \
    --timeout-ms 10000 "$@"
}
json() { # python expression over o (the JSON answer on stdin)
  python3 -c "import json,sys; o=json.load(sys.stdin); print($1)"
}

for k in $(seq 1 30); do
  cli put "key$k" "value$k" >/dev/null || fail "put key$k"
done
# Node 1 serves what it leads and forwards the rest to the leaders.
for k in $(seq 1 30); do
  out=$(cli get --node 1 "key$k") || fail "get --node 1 key$k: $out"
  [ "$(echo "$out" | sed -n 1p)" = "value$k" ] || fail "get --node 1 key$k: $out"
done
fwd=$(cli --json status --node 1 | json 'o["forwarded"]') || fail "status node 1"
[ "$fwd" -gt 0 ] || fail "node 1 forwarded nothing (forwarded=$fwd)"

# Every replica heard of the write before it was acknowledged.
ack=$(cli --json put acked everywhere --ack all | json 'o["ack"]') || fail "put --ack all"
[ "$ack" = all ] || fail "ack=ALL_REPLICAS write answered ack=$ack"

# Followers meet a staleness bound only with their leader's probe answers.
for k in $(seq 1 10); do
  out=$(cli get "key$k" --consistency bounded --max-staleness-ms 2000 --route follower \
    --on-unmet fail --max-wait-ms 3000) || fail "bounded read of key$k on a follower: $out"
  [ "$(echo "$out" | sed -n 1p)" = "value$k" ] || fail "bounded read of key$k: $out"
done

# Linearizable reads were confirmed by the other voters, never by a
# barrier after a failed confirmation.
confirms=0
for i in 1 2 3; do
  st=$(cli --json status --node "$i") || fail "status node $i"
  c=$(echo "$st" | json 'sum(p["confirms"] for p in o["partitions"] if p["role"] == "leader")')
  f=$(echo "$st" | json 'sum(p["confirms_failed"] for p in o["partitions"])')
  [ "$f" = 0 ] || fail "node $i: $f leadership confirmations failed"
  confirms=$((confirms + c))
done
[ "$confirms" -gt 0 ] || fail "no leadership confirmation was made"

# No node ever knocked on another node's client port.
for i in 1 2 3; do
  hits=$(ip netns exec "$ns-n$i" iptables -L INPUT -n -v -x | awk '/REJECT/ {print $1}')
  [ "$hits" = 0 ] || fail "node $i's client port was tried by another node ($hits packets)"
done

for i in 1 2 3; do
  kill -TERM "${pids[$((i - 1))]}"
done
for i in 1 2 3; do
  wait "${pids[$((i - 1))]}"
  rc=$?
  [ "$rc" = 0 ] || fail "node $i exited with $rc after SIGTERM"
done
pids=()
echo "test_peer_channel: OK (forwarded=$fwd, confirms=$confirms)"

#!/usr/bin/env bash
# Network namespaces for the verification harness (FAULTS-RECIPE §1, §4):
# node i lives in namespace tkv-n<i> with address 10.77.0.<i>/24 on a
# bridge in namespace tkv-hub, where the harness itself runs with address
# 10.77.0.254. Partitions are iptables rules inside the node namespaces;
# nothing touches the host's own network.
#
#   netns.sh check        exit 0 if namespaces and iptables in them work here,
#                         77 (with a message) if not
#   netns.sh up N         create hub and N node namespaces (after a down)
#   netns.sh down         kill everything inside tkv-* namespaces, delete them
set -uo pipefail

say() { echo "tunekv netns: $*" >&2; }

check() {
  if [ "$(id -u)" != 0 ]; then say "must run as root"; return 77; fi
  command -v ip >/dev/null && command -v iptables >/dev/null ||
    { say "needs ip and iptables (iproute2, iptables)"; return 77; }
  ip netns add tkv-probe 2>/dev/null || { say "cannot create network namespaces"; return 77; }
  ip netns exec tkv-probe iptables -A INPUT -j DROP 2>/dev/null
  local r=$?
  ip netns del tkv-probe
  [ $r = 0 ] || { say "iptables does not work inside a namespace"; return 77; }
  return 0
}

down() {
  local ns p
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^tkv-(hub|n[0-9]+|probe)$/ {print $1}'); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    ip netns del "$ns"
  done
}

up() {
  local n=$1 i
  down
  ip netns add tkv-hub || return 1
  ip -n tkv-hub link add br0 type bridge || return 1
  ip -n tkv-hub link set br0 up
  ip -n tkv-hub link set lo up
  ip -n tkv-hub addr add 10.77.0.254/24 dev br0
  for i in $(seq "$n"); do
    ip netns add "tkv-n$i" || return 1
    ip link add eth0 netns "tkv-n$i" type veth peer name "p$i" netns tkv-hub || return 1
    ip -n tkv-hub link set "p$i" master br0 up
    ip -n "tkv-n$i" addr add "10.77.0.$i/24" dev eth0
    ip -n "tkv-n$i" link set lo up
    ip -n "tkv-n$i" link set eth0 up
  done
  for i in $(seq "$n"); do
    ip netns exec tkv-hub ping -c1 -W2 "10.77.0.$i" >/dev/null ||
      { say "10.77.0.$i unreachable from the hub"; return 1; }
  done
}

case "${1:-}" in
  check) check ;;
  up) up "${2:-3}" ;;
  down) down ;;
  *) echo "usage: netns.sh check | up N | down" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Network namespaces for the verification harness (FAULTS-RECIPE §1, §4):
# node i lives in namespace <P>n<i> with address 10.77.0.<i>/24 on a
# bridge in namespace <P>hub, where the harness itself runs with address
# 10.77.0.254. Partitions are iptables rules inside the node namespaces;
# nothing touches the host's own network.
#
# P is $TKV_NETNS_PREFIX, "tkv<pid>-" of the run that owns them (tkv-verify
# sets it), so two runs on one machine never touch each other's namespaces
# (each has its own hub and bridge: the same addresses do not meet).
#
#   netns.sh check        exit 0 if namespaces and iptables in them work here,
#                         77 (with a message) if not
#   netns.sh up N         create hub and N node namespaces (after a down),
#                         first reaping what killed runs left behind
#   netns.sh down         kill everything inside <P>* namespaces, delete them
#   netns.sh reap         delete the namespaces of runs whose process is gone
#                         (tkv<pid>-*), and the fixed tkv-* names of old runs
set -uo pipefail

say() { echo "tunekv netns: $*" >&2; }
P=${TKV_NETNS_PREFIX:-tkv$$-}

check() {
  if [ "$(id -u)" != 0 ]; then say "must run as root"; return 77; fi
  command -v ip >/dev/null && command -v iptables >/dev/null ||
    { say "needs ip and iptables (iproute2, iptables)"; return 77; }
  ip netns add "${P}probe" 2>/dev/null || { say "cannot create network namespaces"; return 77; }
  ip netns exec "${P}probe" iptables -A INPUT -j DROP 2>/dev/null
  local r=$?
  ip netns del "${P}probe"
  [ $r = 0 ] || { say "iptables does not work inside a namespace"; return 77; }
  return 0
}

delete() { # namespace: kill what runs in it, delete it
  local ns=$1 p
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
  ip netns del "$ns"
}

down() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk -v p="$P" 'index($1, p) == 1 &&
      substr($1, length(p) + 1) ~ /^(hub|n[0-9]+|probe)$/ {print $1}'); do
    delete "$ns"
  done
}

reap() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^tkv([0-9]+)?-(hub|n[0-9]+|probe)$/ {print $1}'); do
    pid=${ns#tkv}
    pid=${pid%%-*}
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      continue # its run is alive
    fi
    say "reaping $ns, left by a run that ended"
    delete "$ns"
  done
}

up() {
  local n=$1 i
  reap
  down
  ip netns add "${P}hub" || return 1
  ip -n ${P}hub link add br0 type bridge || return 1
  ip -n ${P}hub link set br0 up
  ip -n ${P}hub link set lo up
  ip -n ${P}hub addr add 10.77.0.254/24 dev br0
  for i in $(seq "$n"); do
    ip netns add "${P}n$i" || return 1
    ip link add eth0 netns "${P}n$i" type veth peer name "p$i" netns ${P}hub || return 1
    ip -n ${P}hub link set "p$i" master br0 up
    ip -n "${P}n$i" addr add "10.77.0.$i/24" dev eth0
    ip -n "${P}n$i" link set lo up
    ip -n "${P}n$i" link set eth0 up
  done
  for i in $(seq "$n"); do
    ip netns exec ${P}hub ping -c1 -W2 "10.77.0.$i" >/dev/null ||
      { say "10.77.0.$i unreachable from the hub"; return 1; }
  done
}

case "${1:-}" in
  check) check ;;
  up) up "${2:-3}" ;;
  down) down ;;
  reap) reap ;;
  *) echo "usage: netns.sh check | up N | down | reap" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# What one order across partitions costs (docs/performance.md, "SEQUENTIAL
# across partitions"): the same cells on two source trees in turn, ROUNDS
# times (default 3) so that both see the same machine. Each round starts a
# fresh 3-node cluster (scripts/cluster.sh of that tree, its own build) and
# runs tunekv-bench (of that tree) for DURATION seconds (default 4):
#   get-seq-1     SEQUENTIAL GETs on followers, 1 in flight
#   get-seq-256   ... 256 in flight
#   put-1, put-256  PUTs (100-byte values)
#   mget-1        (trees with GET_MANY) GET_MANY of 10 keys at SEQUENTIAL on
#                 followers, 1 in flight; compare with 10 x get-seq-1
#   mget-lin-1, get-lin-1  the same at LINEARIZABLE (an old tree answers
#                 mget-lin-1 "failed"), and single LINEARIZABLE GETs
# One line per cell and round:  tree cell ops/s p50_ms p99_ms
# CELLS="put-1 get-seq-1" runs only those cells (put-256 still preloads).
#
#   scripts/measure-sequential.sh BEFORE_TREE [AFTER_TREE (default .)]
# A tree is a checkout with its build/ made (tunekvd, tunekv, tunekv-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(cd "$1" && pwd)
after=$(cd "${2:-.}" && pwd)
rounds=${ROUNDS:-3}
duration=${DURATION:-4}
var=$(mktemp -d /tmp/tkv-seq-XXXXXX)
export VAR=$var BASE=${BASE:-24600}
ep=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))
tree=
trap '[ -z "$tree" ] || (cd "$tree" && bash scripts/cluster.sh down >/dev/null 2>&1) || true
rm -rf "$var"' EXIT

cell() { # name, bench args...
  local name=$1 line
  shift
  case " ${CELLS:-$name} " in *" $name "*) ;; *) [ "$name" = put-256 ] || return 0 ;; esac
  line=$("$tree/build/tunekv-bench" --endpoints "$ep" -d "$duration" --warmup 1 --keys 10000 "$@" \
    2>/dev/null | awk '$1 == "all" {print $3, $5, $7}')
  echo "$(basename "$tree") $name ${line:-failed}"
}

for round in $(seq "$rounds"); do
  for tree in "$before" "$after"; do
    rm -rf "${var:?}"/*
    (cd "$tree" && bash scripts/cluster.sh up >/dev/null)
    cell put-256 -c 256 --mix put=100 --preload
    cell put-1 -c 1 --mix put=100
    cell get-seq-1 -c 1 --mix get=100 --consistency sequential --route follower
    cell get-seq-256 -c 256 --mix get=100 --consistency sequential --route follower
    if "$tree/build/tunekv-bench" --help 2>&1 | grep -q mget-keys; then
      cell mget-1 -c 1 --mix mget=100 --mget-keys 10 --consistency sequential --route follower
      # LINEARIZABLE GET_MANY (trees that serve it), against 10 linearizable GETs.
      cell mget-lin-1 -c 1 --mix mget=100 --mget-keys 10 --consistency linearizable
      cell get-lin-1 -c 1 --mix get=100 --consistency linearizable
    fi
    (cd "$tree" && bash scripts/cluster.sh down >/dev/null 2>&1)
  done
done

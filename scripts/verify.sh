#!/usr/bin/env bash
# A long verification run (docs/verification.md): a real cluster under
# faults, or changing shape, every client operation recorded, then the
# checker.
#
#   scripts/verify.sh [--minutes N] [--out DIR] [--scenario S | --all] [tkv-verify flags...]
#
# --scenario faults (the default): 3 nodes under random faults for N
# minutes. elastic: nodes 4 and 5 join, node 1 leaves, node 2's disk dies
# and node 6 replaces it (issue 17). moves: replica moves with the driver,
# source or target killed at each step. --all runs the three, each in its
# own DIR/<scenario>. The scenarios run at least N minutes, on loopback.
#
# Writes DIR/history.jsonl, DIR/report.txt, DIR/summary.json and
# DIR/latency.png (when gnuplot is installed). DIR defaults to
# var/verify-<date>. Exit: the checker's (0 valid, 1 anomaly, 2 unknown),
# or 3 when a scenario's change was not carried out or a client saw a
# status libtunekv does not retry (tkv-verify says which). Partitions and
# one-way cuts need root (network namespaces); without them the run says
# so and injects the process faults only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
minutes=10
out=""
scenarios=(faults)
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --scenario) scenarios=("$2"); shift 2 ;;
    --all) scenarios=(faults elastic moves); shift ;;
    *) extra+=("$1"); shift ;;
  esac
done
out=${out:-$root/var/verify-$(date +%Y%m%d-%H%M%S)}

bash scripts/install-deps.sh
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null

# run SCENARIO DIR: one recorded run and its judgement; its exit status.
run() {
  local scenario=$1 dir=$2 netns=() flags=() rc rec
  mkdir -p "$dir"
  if [ "$scenario" = faults ]; then
    if bash tests/verify/netns.sh check; then
      netns=(--netns)
      trap 'bash tests/verify/netns.sh reap' EXIT   # what a killed tkv-verify left
    fi
  else
    flags=(--partitions 6)
  fi
  set +e
  build/tests/tkv-verify --dir "$dir" --seconds $((minutes * 60)) --scenario "$scenario" \
    "${netns[@]}" "${flags[@]}" "${extra[@]}"
  rec=$?
  set -e
  if [ "$rec" = 1 ] || [ "$rec" = 2 ]; then
    echo "verify: $scenario: the cluster could not be run (tkv-verify exit $rec)"
    return 1
  fi
  set +e
  python3 tests/verify/tunekv-check --time-limit 900 --summary "$dir/summary.json" \
    "$dir/history.jsonl" | tee "$dir/report.txt"
  rc=${PIPESTATUS[0]}
  set -e
  if command -v gnuplot >/dev/null && [ -x tests/verify/chart.py ]; then
    python3 tests/verify/chart.py "$dir/history.jsonl" "$dir/latency.png" \
      --title "tunekv verify ($scenario): $minutes min, $(date +%Y-%m-%d)" || true
  fi
  echo "verify: $scenario: history, report and chart in $dir (checker exit $rc, recorder exit $rec)"
  if [ "$rc" = 0 ] && [ "$rec" = 3 ]; then
    rc=3
  fi
  return "$rc"
}

if [ ${#scenarios[@]} = 1 ]; then
  rc=0
  run "${scenarios[0]}" "$out" || rc=$?
  exit "$rc"
fi
worst=0
for s in "${scenarios[@]}"; do
  rc=0
  run "$s" "$out/$s" || rc=$?
  if [ "$rc" != 0 ] && [ "$worst" = 0 ]; then
    worst=$rc
  fi
done
exit "$worst"

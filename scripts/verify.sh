#!/usr/bin/env bash
# A long verification run (docs/verification.md): a 3-node cluster under
# faults for N minutes, every client operation recorded, then the checker.
#
#   scripts/verify.sh [--minutes N] [--out DIR] [tkv-verify flags...]
#
# Writes DIR/history.jsonl, DIR/report.txt, DIR/summary.json and
# DIR/latency.png (when gnuplot is installed). DIR defaults to
# var/verify-<date>. Exit: the checker's (0 valid, 1 anomaly, 2 unknown).
# Partitions and one-way cuts need root (network namespaces); without them
# the run says so and injects the process faults only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
minutes=10
out=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
out=${out:-$root/var/verify-$(date +%Y%m%d-%H%M%S)}

bash scripts/install-deps.sh
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null

netns=()
if bash tests/verify/netns.sh check; then
  netns=(--netns)
  trap 'bash tests/verify/netns.sh reap' EXIT   # what a killed tkv-verify left
fi
build/tests/tkv-verify --dir "$out" --seconds $((minutes * 60)) "${netns[@]}" "${extra[@]}"
set +e
python3 tests/verify/tunekv-check --time-limit 900 --summary "$out/summary.json" \
  "$out/history.jsonl" | tee "$out/report.txt"
rc=${PIPESTATUS[0]}
set -e
if command -v gnuplot >/dev/null && [ -x tests/verify/chart.py ]; then
  python3 tests/verify/chart.py "$out/history.jsonl" "$out/latency.png" \
    --title "tunekv verify: $minutes min, $(date +%Y-%m-%d)" || true
fi
echo "verify: history, report and chart in $out (checker exit $rc)"
exit "$rc"

#!/usr/bin/env bash
# The verification harness proves it can fail (docs/verification.md): a
# run of a real cluster under faults with no bug must be judged valid, and
# a run with each planted bug (tunekvd-planted) must be judged invalid by
# the check that bug breaks.
#
#   tests/verify/test_verify.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

# run NAME EXPECTED_EXIT CHECK [tkv-verify flags...]: CHECK must report
# anomalies when EXPECTED_EXIT is 1.
run() {
  local name=$1 want=$2 check=$3 rc
  shift 3
  echo "== $name: tkv-verify $*"
  if ! "$build/tests/tkv-verify" --dir "$work/$name" "$@" >"$work/$name.out" 2>&1; then
    cat "$work/$name.out"
    echo "FAIL $name: tkv-verify could not run the cluster"
    failed=1
    return
  fi
  tail -1 "$work/$name.out"
  set +e
  python3 "$src/tests/verify/tunekv-check" --time-limit 60 --summary "$work/$name/summary.json" \
    "$work/$name/history.jsonl" >"$work/$name/report.txt" 2>&1
  rc=$?
  set -e
  if [ "$rc" != "$want" ]; then
    cat "$work/$name/report.txt"
    echo "FAIL $name: tunekv-check exited $rc, expected $want"
    failed=1
    return
  fi
  if [ "$want" = 1 ] && ! python3 - "$work/$name/summary.json" "$check" <<'PY'; then
import json, sys
summary = json.load(open(sys.argv[1]))
found = summary["checks"][sys.argv[2]]["anomalies"]
print(f"   {sys.argv[2]}: {found} anomalies")
sys.exit(0 if found > 0 else 1)
PY
    cat "$work/$name/report.txt"
    echo "FAIL $name: the $check check reported nothing"
    failed=1
    return
  fi
  echo "ok   $name (tunekv-check exit $rc)"
}

# Partitions and one-way cuts need network namespaces (root); elsewhere
# the run says so and injects the process faults only.
netns=()
if bash "$src/tests/verify/netns.sh" check; then
  netns=(--netns)
else
  echo "note: no network namespaces here: partitions are not injected"
fi
run clean 0 - --seconds 30 --seed 11 "${netns[@]}"
run lin-follower 1 linearizable --seconds 8 --faults none --bug lin-follower --seed 12
run ignore-token 1 session --seconds 5 --faults none --bug ignore-token --seed 13
run early-ack 1 linearizable --seconds 8 --faults none --bug early-ack --seed 14
run seq-no-ts 1 sequential --seconds 5 --faults none --bug seq-no-ts --seed 15
run tombstone-off 1 tombstones --seconds 5 --faults none --bug tombstone-off --seed 16
run watch-skip 1 watch --seconds 5 --faults none --bug watch-skip --seed 17
exit $failed

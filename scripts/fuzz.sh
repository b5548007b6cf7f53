#!/usr/bin/env bash
# Build the libFuzzer targets (tests/fuzz) with ASan+UBSan and run each on a
# copy of its checked-in seed corpus, so new inputs found during a run do not
# land in the tree. Prints executions and executions per second per target,
# and exits non-zero if any target crashed, leaked, hung or tripped an oracle
# (its reproducer is then under build-fuzz/artifacts/).
#
#   scripts/fuzz.sh [--minutes N | --seconds N] [target...]
#
# Targets are named with or without the fuzz_ prefix (request, token, ...);
# none means all. Default: 1 minute each. Needs clang-14 (CC overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=60
targets=()
all=(raftwire request peerauth command snapshot token pbwire config client_response auth cmap)

while [ $# -gt 0 ]; do
  case $1 in
  --minutes) seconds=$(($2 * 60)); shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
  *) targets+=("${1#fuzz_}"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
cc=${CC:-clang-14}
if ! command -v "$cc" >/dev/null; then
  echo "fuzz.sh: $cc not found (apt-get install clang-14)" >&2
  exit 2
fi

build=$root/build-fuzz
mkdir -p "$build/artifacts"
echo "== fuzz: building ${build#"$root"/} ($cc, ASan+UBSan)"
CC=$cc cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTKV_FUZZ=ON \
  -DTKV_ASAN=ON -DTKV_UBSAN=ON -DTKV_TESTS=OFF >"$build/configure.log"
if ! nice -n 10 cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" \
  --target "${targets[@]/#/fuzz_}" >"$build/build.log" 2>&1; then
  grep -E -B2 -A6 "error|Error" "$build/build.log" | head -60 >&2
  echo "fuzz.sh: build failed (full log: build-fuzz/build.log)" >&2
  exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=()
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One target: its run, then its line (or its failure) in $work/$t.out and
# its exit code in $work/$t.rc. Targets run side by side, one per core.
fuzz_one() {
  local t=$1 corpus=$work/$1 log=$build/fuzz_$1.log rc=0 execs rate cov
  mkdir -p "$corpus"
  cp -r "$root/tests/fuzz/corpus/$t/." "$corpus/"
  nice -n 10 "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/fuzz_$t-" "$corpus" >"$log" 2>&1 ||
    rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 || true)
  if [ "$rc" -ne 0 ]; then
    {
      echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} execs; log: build-fuzz/fuzz_$t.log"
      grep -E -A12 "ERROR|SUMMARY|Test unit written|deadly signal" "$log" | head -40 || true
    } >"$work/$t.out"
  else
    printf 'fuzz_%-16s %5s s  %10s execs  %7s exec/s  %s\n' "$t" "$seconds" "${execs:-?}" \
      "${rate:-?}" "$cov" >"$work/$t.out"
  fi
  echo "$rc" >"$work/$t.rc"
}
parallel=$(nproc 2>/dev/null || echo 2)
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n || true
  done
  fuzz_one "$t" &
done
wait
for t in "${targets[@]}"; do
  if [ "$(cat "$work/$t.rc")" -ne 0 ]; then
    failed+=("$t")
    cat "$work/$t.out" >&2
  else
    cat "$work/$t.out"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi

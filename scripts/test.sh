#!/usr/bin/env bash
# Build tunekv twice (normal, and with AddressSanitizer + UBSan) and run every
# test in both: cmocka unit tests, integration tests against real tunekvd
# processes, and the CLI test (and, in the normal build, the Python client's
# tests: python/run-tests.sh, and the Debian packages: scripts/package.sh,
# tests/packaging/test_packages.sh); then run every libFuzzer target for a few
# seconds on its seed corpus (build-fuzz, clang-14; skipped without it).
# Exits non-zero on any failure.
#
#   scripts/test.sh            everything
#   scripts/test.sh --fast     normal build only, and the fuzz smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

bash scripts/install-deps.sh
bash scripts/format.sh
python3 scripts/check-layers.py

build() { # dir, cmake args...
  local dir=$1
  shift
  echo "== building $dir $*"
  cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTKV_WERROR=ON "$@" >/dev/null
  if ! cmake --build "$root/$dir" -j "$jobs" >"$root/$dir/build.log" 2>&1; then
    grep -E -B2 -A6 "error|Error" "$root/$dir/build.log" | head -60 >&2
    echo "test.sh: build of $dir failed (full log: $dir/build.log)" >&2
    exit 1
  fi
}

run() { # dir, label
  local dir=$1 label=$2 t0
  t0=$(date +%s)
  echo "== $label: unit and integration tests"
  # Twice as many tests as cores: most of an integration test's time is
  # spent waiting (elections, fsync, deadlines), so this keeps the cores
  # busy; the suite took 886 s at one test per core, 2026-12-07.
  (cd "$root/$dir" && ctest --output-on-failure --timeout 600 -j "$((jobs * 2))")
  echo "== $label: done in $(($(date +%s) - t0)) s"
}

# Each fuzz target for a few seconds on its checked-in corpus: the seeds
# still parse, no oracle trips on them, and the targets build. Long runs:
# scripts/fuzz.sh --minutes N. fuzz.sh creates build-fuzz itself.
fuzz_smoke() {
  local t0
  if ! command -v clang-14 >/dev/null ||
    ! compgen -G "$(clang-14 -print-runtime-dir)/libclang_rt.fuzzer-*.a" >/dev/null; then
    echo "== fuzz smoke: SKIPPED: clang-14 with libFuzzer (clang-14, libclang-rt-14-dev) not installed"
    return 0
  fi
  t0=$(date +%s)
  echo "== fuzz smoke: every libFuzzer target for ${TKV_FUZZ_SMOKE_SECONDS:-1} s"
  CC=clang-14 bash scripts/fuzz.sh --seconds "${TKV_FUZZ_SMOKE_SECONDS:-1}"
  echo "== fuzz smoke: done in $(($(date +%s) - t0)) s"
}

# The normal build is also the Debian packages' (Debian's hardening flags,
# prefix /usr): scripts/package.sh packages it rather than building again,
# so that ctest's test_packages only installs and checks them.
(
  eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
  export CFLAGS="$CFLAGS $CPPFLAGS"
  build build -DCMAKE_INSTALL_PREFIX=/usr -DTKV_SYSTEMD_UNITDIR=/lib/systemd/system
)
echo "== building the Debian packages (scripts/package.sh --build-dir build)"
bash scripts/package.sh --build-dir build
# The Python client's tests run in ctest (test_python); say so when they
# cannot, rather than let ctest's "Skipped" pass unnoticed.
py_rc=0
bash python/run-tests.sh build --collect-only >/dev/null 2>&1 || py_rc=$?
if [ "$py_rc" = 77 ]; then
  echo "== python client tests: SKIPPED: no python3 with python3-protobuf and python3-pytest"
fi
run build "normal build"

if [ "${1:-}" != "--fast" ]; then
  # Leaks are errors; raft's own allocations are freed by raft.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  build build-san -DTKV_ASAN=ON -DTKV_UBSAN=ON
  run build-san "ASan+UBSan build"
fi

fuzz_smoke

echo "== all tests passed in $(($(date +%s) - start)) s"

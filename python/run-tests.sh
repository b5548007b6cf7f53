#!/usr/bin/env bash
# Run the Python client's tests (pytest) against tunekvd from BUILD_DIR.
#   usage: python/run-tests.sh BUILD_DIR [pytest args...]
# Runs mypy (strict) over the package first, when python3-mypy is installed.
# Uses the first of python3, /usr/bin/python3 that has python3-protobuf and
# python3-pytest (a python3 of pyenv or a venv may lack Debian's packages).
# Exits 77 (ctest: skipped) with a message when there is none: install them
# with scripts/install-deps.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run-tests.sh BUILD_DIR [pytest args]}" && pwd)
shift
py=""
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null &&
    "$cand" -c 'import google.protobuf, pytest' 2>/dev/null; then
    py=$cand
    break
  fi
done
if [ -z "$py" ]; then
  echo "python client tests: SKIPPED: no python3 with python3-protobuf and python3-pytest" \
    "(scripts/install-deps.sh installs them)"
  exit 77
fi
export TUNEKV_BUILD_DIR=$build PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$here
cd "$here"
# Type check first (mypy --strict, configured in pyproject.toml): a type
# error fails the tests. mypy comes from Debian (python3-mypy), so it may be
# in /usr/bin/python3 only; its cache stays in the build dir.
mypy_py=""
for cand in "$py" /usr/bin/python3; do
  if "$cand" -c 'import mypy' 2>/dev/null; then
    mypy_py=$cand
    break
  fi
done
if [ -n "$mypy_py" ]; then
  "$mypy_py" -m mypy --cache-dir "$build/mypy-cache" || {
    echo "python client: mypy found type errors" >&2
    exit 1
  }
else
  echo "python client: mypy not installed (python3-mypy): types not checked"
fi
# No cache dir or bytecode in the source tree. pytest from Debian has no
# per-test timeout: the ctest TIMEOUT bounds the run, and every client call
# in the tests has a deadline.
exec "$py" -m pytest -p no:cacheprovider -q --durations=5 tests "$@"

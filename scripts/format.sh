#!/usr/bin/env bash
# Check (default) or fix (--fix) the layout of every C file against
# .clang-format. Generated code is not ours and is not checked.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests -name '*.[ch]')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/tunekv-format.$$; then
  head -40 /tmp/tunekv-format.$$ >&2
  rm -f /tmp/tunekv-format.$$
  echo "format: run scripts/format.sh --fix" >&2
  exit 1
fi
rm -f /tmp/tunekv-format.$$

#!/usr/bin/env bash
# The installed libtunekv.a: every object of IN linked into one (ld -r),
# and every symbol not marked TKV_API (hidden visibility) made local, so
# that a program linking it sees tkv_* only, as with the shared library,
# and cannot collide with libtunekv's internals (buffer_*, frame_*, ...).
#   scripts/static-lib.sh IN.a OUT.a
set -euo pipefail
in=$(readlink -f "$1")
out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/objs"
(cd "$tmp/objs" && ar x "$in")
ld -r -o "$tmp/tunekv.o" "$tmp"/objs/*.o
objcopy --localize-hidden "$tmp/tunekv.o"
rm -f "$out"
ar rcs "$out" "$tmp/tunekv.o"

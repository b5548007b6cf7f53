#!/usr/bin/env bash
# The Debian packages of scripts/package.sh, installed into this system and
# used as an operator and a developer would: lintian finds no error (when
# installed); files land where the FHS and Debian say, the example config is
# a conffile; tunekvd --version gives CMake's version; the manual pages are
# found; postinst created the tunekv user and /var/lib/tunekv; the installed
# unit verifies; an installed tunekvd, run as tunekv with the installed
# example config, serves the installed CLI, a C program built with
# `pkg-config --cflags --libs tunekv` (and one linked with libtunekv.a) and
# the installed Python client. Then `dpkg --purge` leaves none of their
# files behind, only the tunekv user (Debian policy 9.2.2), which this test
# then deletes if it created it.
#
# Root only, on a machine where none of the packages is installed already
# (a developer's installed packages are not this test's to purge), and with
# dpkg not locked; else skipped (77). The cleanup trap purges whatever it
# installed, also after a failure.
#   usage: test_packages.sh BUILD_DIR
set -euo pipefail
bin=$(cd "${1:?build dir}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
pkgs=(tunekvd tunekv-tools libtunekv0 libtunekv-dev python3-tunekv)
skip() {
  echo "test_packages: SKIPPED: $*"
  exit 77
}
fail() {
  echo "test_packages: FAIL: $*" >&2
  [ -f "${dir:-/nonexistent}/log" ] && tail -20 "$dir/log" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || skip "not root (the test installs the packages into this system)"
if ! command -v dpkg-shlibdeps >/dev/null; then skip "dpkg-dev not installed"; fi
for p in "${pkgs[@]}"; do
  if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
    skip "$p is installed already (this test would purge it)"
  fi
done
# dpkg takes fcntl locks: ask for them the same way, without waiting.
python3 -c 'import fcntl, sys
for f in sys.argv[1:]:
    fcntl.lockf(open(f, "a"), fcntl.LOCK_EX | fcntl.LOCK_NB)' \
  /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock 2>/dev/null || skip "dpkg is locked"

version=$(sed -n 's/^#define TKV_VERSION "\(.*\)"$/\1/p' "$bin/include/tunekv_version.h")
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-packages-XXXXXX")
pid=""
had_user=0
getent passwd tunekv >/dev/null && had_user=1
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
  if [ "$had_user" = 0 ] && getent passwd tunekv >/dev/null; then userdel tunekv || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

t0=$(date +%s)
# This build when it is configured as the packages' (scripts/test.sh's
# normal build), else package.sh's own build in build/pkg/build.
pkg_args=()
grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr$' "$bin/CMakeCache.txt" && pkg_args=(--build-dir "$bin")
bash "$src/scripts/package.sh" "${pkg_args[@]}" >"$dir/package.log" 2>&1 ||
  fail "package.sh: $(cat "$dir/package.log")"
debs=()
for p in "${pkgs[@]}"; do
  f=$(ls "$src/build/pkg/${p}_${version}_"*.deb 2>/dev/null) || fail "no $p $version package"
  debs+=("$f")
done
echo "test_packages: built in $(($(date +%s) - t0)) s"

if command -v lintian >/dev/null; then
  # Warnings are shown, errors fail. The info tag suppressed is about
  # sysvinit scripts, which tunekvd does not ship.
  rc=0
  lintian --fail-on error --suppress-tags package-supports-alternative-init-but-no-init.d-script \
    "${debs[@]}" >"$dir/lintian" 2>&1 || rc=$?
  grep -v 'running with root privileges' "$dir/lintian" || true
  [ "$rc" = 0 ] || fail "lintian found errors"
else
  echo "test_packages: lintian not installed: packages not checked by it"
fi

dpkg -i "${debs[@]}" >"$dir/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$dir/dpkg.log")"
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for f in /usr/bin/tunekvd /usr/bin/tunekv /usr/bin/tunekv-bench /etc/tunekv/tunekv.conf \
  /lib/systemd/system/tunekvd.service /usr/lib/sysusers.d/tunekv.conf \
  /usr/lib/tmpfiles.d/tunekv.conf "/usr/lib/$ma/libtunekv.so.0" "/usr/lib/$ma/libtunekv.so" \
  "/usr/lib/$ma/libtunekv.a" "/usr/lib/$ma/pkgconfig/tunekv.pc" \
  "/usr/lib/$ma/cmake/tunekv/tunekvConfig.cmake" /usr/include/tunekv.h \
  /usr/include/tunekv_version.h /usr/share/man/man8/tunekvd.8.gz /usr/share/tunekv/tunekv.proto \
  /usr/lib/python3/dist-packages/tunekv/__init__.py /usr/share/doc/tunekvd/copyright; do
  [ -e "$f" ] || fail "$f not installed"
done
dpkg -L "${pkgs[@]}" >"$dir/files"
! grep -E '^/(usr/local|usr/etc|opt|home)(/|$)' "$dir/files" || fail "files outside the FHS places"
dpkg-query -W -f='${Conffiles}\n' tunekvd | grep -q '^ /etc/tunekv/tunekv.conf ' ||
  fail "/etc/tunekv/tunekv.conf is not a conffile"
[ "$(tunekvd --version)" = "tunekvd $version" ] || fail "tunekvd --version: $(tunekvd --version)"
[ "$(dpkg-query -W -f='${Version}' tunekvd)" = "$version" ] || fail "package version"
for page in tunekvd tunekv.conf tunekv tunekv-bench; do
  man -w "$page" >/dev/null || fail "man -w $page"
done
getent passwd tunekv | grep -q ':/var/lib/tunekv:' || fail "no tunekv user with home /var/lib/tunekv"
[ "$(stat -c '%U %a' /var/lib/tunekv)" = "tunekv 750" ] || fail "/var/lib/tunekv: $(stat -c '%U %a' /var/lib/tunekv)"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/tunekvd.service >"$dir/verify" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$dir/verify")"
fi

# The installed daemon as its unit runs it: user tunekv, the installed
# config (its flags override addresses and data dir: ports of node.sh).
mkdir -p "$dir/bin"
printf '#!/bin/sh\nexec setpriv --reuid=tunekv --regid=tunekv --init-groups /usr/bin/tunekvd --config /etc/tunekv/tunekv.conf "$@"\n' >"$dir/bin/tunekvd"
chmod 755 "$dir/bin/tunekvd"
chown tunekv: "$dir"
# shellcheck source=tests/integration/node.sh
. "$src/tests/integration/node.sh"
start_node "$dir/bin" "$dir"
[ -n "$pid" ] || fail "the installed tunekvd did not start"
[ "$(ps -o user= -p "$pid")" = tunekv ] || fail "tunekvd runs as $(ps -o user= -p "$pid")"
export TUNEKV_ENDPOINTS=127.0.0.1:$port
tunekv put pkg-cli hello >/dev/null || fail "tunekv put"
tunekv get pkg-cli | grep -q '^hello$' || fail "tunekv get: $(tunekv get pkg-cli)"

cat >"$dir/prog.c" <<'EOF'
/* A user of the installed libtunekv: put, get, compare. */
#include <stdio.h>
#include <string.h>
#include <tunekv.h>

int main(int argc, char **argv)
{
        struct tkv_client *c = NULL;
        struct tkv_result r;
        char err[256];
        int ok;

        if (argc < 2 || tkv_client_create(&(struct tkv_options){.endpoints = argv[1]}, &c, err,
                                          sizeof err) != TKV_OK) {
                fprintf(stderr, "create: %s\n", argc < 2 ? "no endpoint" : err);
                return 1;
        }
        if (tkv_put(c, "pkg-c", 5, TKV_VERSION, strlen(TKV_VERSION), NULL, &r) != TKV_OK) {
                fprintf(stderr, "put: %s\n", r.message);
                return 1;
        }
        tkv_result_release(&r);
        ok = tkv_get(c, "pkg-c", 5, NULL, &r) == TKV_OK && r.found &&
             r.value_len == strlen(TKV_VERSION) && memcmp(r.value, TKV_VERSION, r.value_len) == 0;
        if (!ok)
                fprintf(stderr, "get: %s\n", r.message);
        tkv_result_release(&r);
        tkv_client_destroy(c);
        return ok ? 0 : 1;
}
EOF
# shellcheck disable=SC2046 # pkg-config's words are separate flags
cc -std=c11 -Wall -Werror -o "$dir/prog" "$dir/prog.c" $(pkg-config --cflags --libs tunekv) ||
  fail "cc with pkg-config --cflags --libs tunekv"
# Not `ldd | grep -q`: the loader writes ldd's lines one by one, and grep -q
# leaving at the first match can end it with SIGPIPE (pipefail: a failure).
ldd "$dir/prog" >"$dir/ldd.out" || fail "ldd prog"
grep -q "libtunekv.so.0 => /" "$dir/ldd.out" || fail "prog does not use libtunekv.so.0: $(cat "$dir/ldd.out")"
"$dir/prog" "$TUNEKV_ENDPOINTS" || fail "the C program against the installed library"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$dir/prog-static" "$dir/prog.c" $(pkg-config --cflags tunekv) \
  "/usr/lib/$ma/libtunekv.a" $(pkg-config --libs libprotobuf-c libxxhash libssl libcrypto) ||
  fail "cc with libtunekv.a"
"$dir/prog-static" "$TUNEKV_ENDPOINTS" || fail "the C program linked with libtunekv.a"
# The same program from a CMake project: find_package(tunekv), both targets.
mkdir -p "$dir/cm"
cat >"$dir/cm/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(tunekv 0.1 REQUIRED)
add_executable(prog-cmake $dir/prog.c)
target_link_libraries(prog-cmake tunekv::tunekv)
add_executable(prog-cmake-static $dir/prog.c)
target_link_libraries(prog-cmake-static tunekv::tunekv_static)
EOF
(cmake -S "$dir/cm" -B "$dir/cm/build" && cmake --build "$dir/cm/build") >"$dir/cm.log" 2>&1 ||
  fail "a CMake project with find_package(tunekv): $(tail -5 "$dir/cm.log")"
"$dir/cm/build/prog-cmake" "$TUNEKV_ENDPOINTS" || fail "the CMake-built program (tunekv::tunekv)"
"$dir/cm/build/prog-cmake-static" "$TUNEKV_ENDPOINTS" ||
  fail "the CMake-built program (tunekv::tunekv_static)"
(cd / && env -u PYTHONPATH /usr/bin/python3 - <<'EOF') || fail "the installed Python client"
import os, tunekv
assert tunekv.__file__.startswith("/usr/lib/python3/dist-packages/"), tunekv.__file__
with tunekv.Client(os.environ["TUNEKV_ENDPOINTS"]) as c:
    assert c.get(b"pkg-cli").value == b"hello"
EOF

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || fail "tunekvd exit status $rc after SIGTERM"

dpkg --purge "${pkgs[@]}" >"$dir/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$dir/dpkg.log")"
for p in "${pkgs[@]}"; do
  ! dpkg -L "$p" >/dev/null 2>&1 || fail "dpkg -L $p still lists files"
done
left=$(while read -r f; do if [ -e "$f" ] && [ ! -d "$f" ]; then echo "$f"; fi; done <"$dir/files")
[ -z "$left" ] || fail "left after purge: $left"
for d in /etc/tunekv /var/lib/tunekv /usr/share/tunekv /usr/lib/python3/dist-packages/tunekv \
  /usr/share/doc/tunekvd; do
  [ ! -e "$d" ] || fail "$d left after purge"
done
! grep -rqs tunekvd /var/lib/systemd/deb-systemd-helper-enabled || fail "unit state left after purge"
echo "test_packages: all passed in $(($(date +%s) - t0)) s"

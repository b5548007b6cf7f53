#!/usr/bin/env bash
# Build tunekv's Debian packages into build/pkg/:
#
#   tunekvd         the daemon, its unit, sysusers/tmpfiles files, manual pages,
#                   /etc/tunekv/tunekv.conf (a conffile)
#   tunekv-tools    the CLI `tunekv` and `tunekv-bench`
#   libtunekv0      the shared client library
#   libtunekv-dev   header, static library (tkv_* symbols only), .so link, tunekv.pc
#   python3-tunekv  the Python client (python/)
#
#   scripts/package.sh          build (incrementally) and package
#   scripts/package.sh --build-dir DIR
#                               package DIR's build instead (scripts/test.sh:
#                               its normal build, configured as below)
#
# How: a build of its own in build/pkg/build (prefix /usr, Debian's
# hardening flags from dpkg-buildflags, no tests), `cmake --install` into a
# staging tree, each staged file assigned to one package (a file that no
# package claims is an error, so a new install() rule cannot be forgotten),
# then what debhelper would add (stripped binaries, compressed manual
# pages, copyright, changelog, md5sums, dependencies from dpkg-shlibdeps)
# and dpkg-deb. The version is CMake's project version (tunekv_version.h);
# python/pyproject.toml must agree. Needs dpkg-dev (build-essential).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/build/pkg
bld=$out/build
stage=$out/stage
work=$out/work # dpkg-shlibdeps wants debian/control and debian/<package>/
maintainer="tunekv maintainers <maintainers@users.noreply.r-seed-18a8ec2a.example>"
arch=$(dpkg --print-architecture)

# Debian's flags, as dpkg-buildpackage would export them; CMake reads
# CFLAGS and LDFLAGS, not CPPFLAGS (_FORTIFY_SOURCE).
# A reused build must have been configured with these flags, prefix /usr
# and the unit dir below (scripts/test.sh does).
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
export CFLAGS="$CFLAGS $CPPFLAGS"
mkdir -p "$out"
if [ "${1:-}" = --build-dir ]; then
  bld=$(cd "${2:?--build-dir needs a directory}" && pwd)
  grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr$' "$bld/CMakeCache.txt" || {
    echo "package.sh: $bld is not configured with CMAKE_INSTALL_PREFIX=/usr" >&2
    exit 1
  }
else
  cmake -S "$root" -B "$bld" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DTKV_TESTS=OFF -DTKV_SYSTEMD_UNITDIR=/lib/systemd/system >/dev/null
  if ! cmake --build "$bld" -j "$(nproc 2>/dev/null || echo 2)" >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log" >&2
    echo "package.sh: build failed (full log: build/pkg/build.log)" >&2
    exit 1
  fi
fi
version=$(sed -n 's/^#define TKV_VERSION "\(.*\)"$/\1/p' "$bld/include/tunekv_version.h")
[ -n "$version" ] || {
  echo "package.sh: no TKV_VERSION in $bld/include/tunekv_version.h" >&2
  exit 1
}
pyversion=$(sed -n 's/^version = "\(.*\)"$/\1/p' python/pyproject.toml)
[ "$pyversion" = "$version" ] || {
  echo "package.sh: python/pyproject.toml says $pyversion, CMakeLists.txt $version" >&2
  exit 1
}

rm -rf "$stage" "$work"
DESTDIR=$stage cmake --install "$bld" >/dev/null
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
lib=usr/lib/$multiarch
mkdir -p "$work/debian"
{
  printf 'Source: tunekv\n'
  for p in tunekvd tunekv-tools libtunekv0 libtunekv-dev; do printf '\nPackage: %s\nArchitecture: any\n' "$p"; done
} >"$work/debian/control"

# take PACKAGE PATH...: move staged paths (relative to /) into a package.
take() {
  local p=$1 f
  shift
  for f in "$@"; do
    [ -e "$stage/$f" ] || [ -L "$stage/$f" ] || {
      echo "package.sh: $f was not installed" >&2
      exit 1
    }
    mkdir -p "$work/debian/$p/$(dirname "$f")"
    mv "$stage/$f" "$work/debian/$p/$f"
  done
}

take tunekvd usr/bin/tunekvd etc/tunekv/tunekv.conf lib/systemd/system/tunekvd.service \
  usr/lib/sysusers.d/tunekv.conf usr/lib/tmpfiles.d/tunekv.conf \
  usr/share/man/man8/tunekvd.8 usr/share/man/man5/tunekv.conf.5
take tunekv-tools usr/bin/tunekv usr/bin/tunekv-bench usr/share/man/man1/tunekv.1 \
  usr/share/man/man1/tunekv-bench.1
take libtunekv0 "$lib/libtunekv.so.$version" "$lib/libtunekv.so.0"
take libtunekv-dev "$lib/libtunekv.so" "$lib/libtunekv.a" "$lib/pkgconfig/tunekv.pc" \
  "$lib/cmake/tunekv/tunekvConfig.cmake" "$lib/cmake/tunekv/tunekvConfigVersion.cmake" \
  usr/include/tunekv.h usr/include/tunekv_version.h usr/share/tunekv/tunekv.proto
left=$(find "$stage" ! -type d | sed "s|^$stage/||")
[ -z "$left" ] || {
  echo "package.sh: installed but in no package: $left" >&2
  exit 1
}
mkdir -p "$work/debian/tunekvd/usr/share/doc/tunekvd/examples"
cp conf/tunekv-3node.conf "$work/debian/tunekvd/usr/share/doc/tunekvd/examples/"
cp conf/grafana/tunekv.json "$work/debian/tunekvd/usr/share/doc/tunekvd/examples/grafana-tunekv.json"
py=$work/debian/python3-tunekv/usr/lib/python3/dist-packages/tunekv
mkdir -p "$py"
cp python/tunekv/*.py python/tunekv/*.pyi python/tunekv/py.typed "$py/"

# control PACKAGE: the package's own fields; @SHLIBS@ becomes what
# dpkg-shlibdeps finds its binaries need.
control() {
  case $1 in
  tunekvd)
    cat <<EOF
Section: database
Depends: @SHLIBS@
Recommends: systemd
Suggests: tunekv-tools
Description: replicated key-value server with per-request consistency
 tunekv partitions keys over Raft groups (canonical/raft) and lets every
 read choose its consistency: linearizable, session, causal, bounded
 staleness or eventual, with a receipt saying what was served.
 .
 This package holds the daemon, tunekvd, its systemd unit (installed,
 not enabled), the tunekv system user and /var/lib/tunekv, and the
 configuration in /etc/tunekv/tunekv.conf.
EOF
    ;;
  tunekv-tools)
    cat <<EOF
Section: database
Depends: @SHLIBS@
Description: command-line client and load generator for tunekv
 tunekv reads and writes keys of a tunekv cluster at any consistency
 level and reports the cluster's health (exit code 0, 1 or 2, for
 scripts); tunekv-bench measures throughput and latency.
EOF
    ;;
  libtunekv0)
    cat <<EOF
Section: libs
Multi-Arch: same
Depends: @SHLIBS@
Description: client library for tunekv
 libtunekv routes requests to partition leaders, pipelines them, retries
 writes idempotently and carries session tokens, with a blocking and a
 non-blocking API. This package holds the shared library.
EOF
    ;;
  libtunekv-dev)
    cat <<EOF
Section: libdevel
Multi-Arch: same
Depends: libtunekv0 (= $version), libprotobuf-c-dev, libxxhash-dev, libssl-dev
Description: client library for tunekv (development files)
 libtunekv routes requests to partition leaders, pipelines them, retries
 writes idempotently and carries session tokens, with a blocking and a
 non-blocking API. This package holds the header, the static library,
 the pkg-config file and the protocol's .proto file.
EOF
    ;;
  python3-tunekv)
    cat <<EOF
Section: python
Depends: python3:any (>= 3.9), python3-protobuf (>= 3.20)
Recommends: python3-xxhash
Description: Python client for tunekv (blocking and asyncio)
 The same model as libtunekv in pure Python: routing to leaders,
 pipelined requests, idempotent retries, session tokens, every read
 level with its receipt.
EOF
    ;;
  esac
}

# docs PACKAGE DIR: copyright and changelog, which every package carries.
docs() {
  local p=$1 d=$2 when
  mkdir -p "$d/usr/share/doc/$p"
  {
    printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
    printf 'Upstream-Name: tunekv\n\nFiles: *\nCopyright: tunekv authors\nLicense: Expat\n'
    sed -e 's/^$/./' -e 's/^/ /' LICENSE
  } >"$d/usr/share/doc/$p/copyright"
  when=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
  printf 'tunekv (%s) unstable; urgency=medium\n\n  * %s\n\n -- %s  %s\n' "$version" \
    "Built from the tunekv tree by scripts/package.sh." "$maintainer" "$(date -R -d "@$when")" |
    gzip -9n >"$d/usr/share/doc/$p/changelog.gz"
}

# finish PACKAGE: what debhelper would add to the tree, then the .deb.
finish() {
  local p=$1 d=$work/debian/$1 a=$arch f shlibs=""
  [ "$p" = python3-tunekv ] && a=all
  mkdir -p "$d/DEBIAN"
  # Debug info goes (there is no -dbgsym package); the static library
  # keeps its symbol table, which linking needs.
  find "$d" -type f \( -path '*/bin/*' -o -name '*.so.*' \) -print0 |
    xargs -0 -r strip --remove-section=.comment --remove-section=.note --strip-unneeded
  find "$d" -type f -name '*.a' -print0 |
    xargs -0 -r strip --strip-debug --remove-section=.comment --enable-deterministic-archives
  find "$d" -path '*/share/man/*' -type f ! -name '*.gz' -print0 | xargs -0 -r gzip -9n
  docs "$p" "$d"
  if [ "$a" != all ]; then
    shlibs=$(cd "$work" && find "debian/$p" -type f \( -path '*/bin/*' -o -name '*.so.*' \) \
      -print0 | xargs -0 dpkg-shlibdeps -O -e 2> >(grep -v "should already be installed" >&2) |
      sed -n 's/^shlibs:Depends=//p')
  fi
  for f in postinst prerm postrm; do
    if [ -f "conf/debian/$p.$f" ]; then install -m 0755 "conf/debian/$p.$f" "$d/DEBIAN/$f"; fi
  done
  if [ -d "$d/etc" ]; then (cd "$d" && find etc -type f | sed 's|^|/|') >"$d/DEBIAN/conffiles"; fi
  if [ "$p" = libtunekv0 ]; then
    echo "libtunekv 0 libtunekv0 (>= $version)" >"$d/DEBIAN/shlibs"
    echo "activate-noawait ldconfig" >"$d/DEBIAN/triggers"
  fi
  find "$d" -type d -exec chmod 0755 {} +
  find "$d" -type f ! -path '*/bin/*' ! -path '*/DEBIAN/p*' -exec chmod 0644 {} +
  (cd "$d" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$d/DEBIAN/md5sums"
  {
    printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\n' \
      "$p" "$version" "$a" "$maintainer"
    printf 'Installed-Size: %s\nPriority: optional\n' "$(du -sk --exclude=DEBIAN "$d" | cut -f1)"
    control "$p" | sed "s/@SHLIBS@/$shlibs/"
  } >"$d/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz --build "$d" "$out/${p}_${version}_$a.deb" >/dev/null
}

rm -f "$out"/*.deb
for p in tunekvd tunekv-tools libtunekv0 libtunekv-dev python3-tunekv; do
  finish "$p"
done
for f in "$out"/*_"$version"_*.deb; do echo "package.sh: build/pkg/${f##*/}"; done

#!/usr/bin/env bash
# Install the Debian packages tunekv needs to build and test; do nothing when
# they are all present. Run as root (or with sudo) on Debian bookworm.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libuv1-dev libprotobuf-c-dev protobuf-c-compiler libraft-dev
  liblz4-dev libcmocka-dev libxxhash-dev libinih-dev libssl-dev
  clang-format python3 clang-14 libclang-rt-14-dev
  iproute2 iptables iputils-ping libnetfilter-queue-dev gnuplot-nox libfaketime faketime man-db
  python3-protobuf protobuf-compiler python3-pytest python3-xxhash python3-pip python3-setuptools
  libsystemd-dev libmicrohttpd-dev python3-prometheus-client
  dpkg-dev lintian python3-mypy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

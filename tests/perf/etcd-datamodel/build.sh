#!/usr/bin/env bash
# Build etcd-datamodel (main.go here) against Debian's packaged Go sources
# (golang-go 1.19, golang-etcd-server-dev 3.4.23 in /usr/share/gocode), in
# GOPATH mode, as ../shared/bench-anchors/etcd/build.sh builds the kit's
# generator. Prints the binary's path: ${DATAMODEL_BIN:-/tmp/etcd-datamodel-bin}/etcd-datamodel
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${DATAMODEL_BIN:-/tmp/etcd-datamodel-bin}
mkdir -p "$out"
cd "$here"
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=${GOCACHE:-/tmp/etcd-datamodel-gocache} \
  go build -o "$out/etcd-datamodel" .
echo "$out/etcd-datamodel"

#!/usr/bin/env bash
# Regenerate python/tunekv/tunekv_pb2.py, and its type stub tunekv_pb2.pyi
# (what mypy reads: the messages' fields and enums), from proto/tunekv.proto
# with protoc (Debian: protobuf-compiler). Both are checked in
# (python/README.md says why); tests/test_offline.py fails when the module
# is stale.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protoc -I "$here/../proto" --python_out "$here/tunekv" --pyi_out "$here/tunekv" \
  "$here/../proto/tunekv.proto"
echo "wrote $here/tunekv/tunekv_pb2.py and tunekv_pb2.pyi"

#!/usr/bin/env bash
# Regenerate python/tunekv/tunekv_pb2.py from proto/tunekv.proto with protoc
# (Debian: protobuf-compiler). The file is checked in (python/README.md says
# why); tests/test_offline.py fails when it is stale.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protoc -I "$here/../proto" --python_out "$here/tunekv" "$here/../proto/tunekv.proto"
echo "wrote $here/tunekv/tunekv_pb2.py"

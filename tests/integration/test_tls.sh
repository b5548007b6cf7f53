#!/usr/bin/env bash
# TLS on the client port, with real tunekvd processes and the real CLI and
# bench tool (docs/security.md, "TLS"). Each failure is checked on both
# sides: what the client prints and what the node logs.
#   usage: test_tls.sh BUILD_DIR CERT_DIR   (CERT_DIR from scripts/tls-certs.sh --test)
set -euo pipefail
bin=$(cd "${1:?build dir}" && pwd)
certs=$(cd "${2:?cert dir}" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-tls-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "test_tls: FAIL: $*" >&2
  for l in "$dir"/*/log; do echo "== $l" >&2; tail -20 "$l" >&2; done
  exit 1
}
. "$(dirname "$0")/node.sh"

# node NAME [flags...]: a fresh node in $dir/NAME; sets $port.
node() {
  local name=$1
  shift
  mkdir -p "$dir/$name"
  start_node "$bin" "$dir/$name" "$@"
  [ -n "$pid" ] || fail "tunekvd $name did not start"
  pids+=("$pid")
}
# expect_fail OUT_FILE TEXT CMD...: CMD fails and says TEXT.
expect_fail() {
  local out=$1 text=$2
  shift 2
  if "$@" >"$out" 2>&1; then fail "succeeded: $*"; fi
  grep -qF -- "$text" "$out" || fail "'$*' did not say '$text': $(cat "$out")"
}
# logged NAME TEXT: node NAME's log says TEXT (within 2 s).
logged() {
  for _ in $(seq 40); do
    grep -qF -- "$2" "$dir/$1/log" && return 0
    sleep 0.05
  done
  fail "node $1 did not log '$2'"
}

ca=(--cacert "$certs/ca.pem")
cli() { "$bin/tunekv" --timeout-ms 1000 "$@"; }

# 1. A TLS client port: the CLI and the bench tool work through it.
node tls --cert-file "$certs/node1.pem" --key-file "$certs/node1.key" --frame-timeout-ms 300 \
  --metrics-addr @METRICS@
grep -q "(clients, TLS)" "$dir/tls/log" || fail "ready line does not say TLS"
tls=127.0.0.1:$port
cli --endpoints $tls "${ca[@]}" put k1 v1 >/dev/null || fail "put over TLS"
[ "$(cli --endpoints $tls "${ca[@]}" get k1 | head -1)" = v1 ] || fail "get over TLS"
[ "$(cli --endpoints localhost:${tls#*:} "${ca[@]}" get k1 | head -1)" = v1 ] || fail "by name"
TUNEKV_CACERT=$certs/ca.pem cli --endpoints $tls get k1 >/dev/null || fail "TUNEKV_CACERT"
"$bin/tunekv-bench" --endpoints $tls "${ca[@]}" -c 16 -n 2000 --warmup 0 --mix put=50,get=50 \
  --value-size 1000 --json >"$dir/bench.json" 2>"$dir/bench.err" || fail "bench over TLS"
grep -q '"errors": *0\|"errors":0' "$dir/bench.json" || fail "bench errors: $(cat "$dir/bench.json")"

# 2. A plaintext client at the TLS port: told to use TLS; the node logs it.
expect_fail "$dir/o2" "this port speaks TLS" cli --endpoints $tls get k1
logged tls "plaintext on the TLS client port"

# 3. A client that trusts another CA, or expects another name: refused by
#    the client, and the node hears why (the client's alert).
expect_fail "$dir/o3" "unable to get local issuer certificate" \
  cli --endpoints $tls --cacert "$certs/other-ca.pem" get k1
logged tls "alert unknown ca"
expect_fail "$dir/o3b" "hostname mismatch" cli --endpoints $tls "${ca[@]}" --server-name db.example get k1

# 4. A connection that never finishes its handshake is closed after
#    frame_timeout_ms (300 ms here), and counted.
python3 - "${tls#*:}" <<'PY' || fail "silent connection not closed"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
t = time.monotonic()
assert s.recv(1) == b"", "expected the node to close"
assert time.monotonic() - t < 4, "closed too late"
PY

# Each failure was counted, in the metric a dashboard sees (rebuilt each
# second: wait for it).
python3 - "${tls#*:}" <<'PY' || fail "tls_failed not counted"
import sys, time, urllib.request
url = "http://127.0.0.1:%d/metrics" % (int(sys.argv[1]) + 2)
for _ in range(50):
    for line in urllib.request.urlopen(url).read().decode().splitlines():
        if line.startswith('tunekv_connections_total{event="tls_failed"}'):
            if float(line.split()[-1]) >= 3:
                sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY

# 5. An expired server certificate: the client says so, the node hears it.
node expired --cert-file "$certs/expired.pem" --key-file "$certs/expired.key"
expect_fail "$dir/o5" "certificate has expired" cli --endpoints 127.0.0.1:$port "${ca[@]}" get k1
logged expired "certificate expired"

# 6. Mutual TLS: no client certificate, or one from another CA, or an
#    expired one: refused, both sides say why; ours from the CA: served.
node mtls --cert-file "$certs/node1.pem" --key-file "$certs/node1.key" \
  --ca-file "$certs/ca.pem" --client-cert-auth 1
grep -q "client certificates required" "$dir/mtls/log" || fail "ready line lacks mTLS"
m=127.0.0.1:$port
expect_fail "$dir/o6" "certificate required" cli --endpoints $m "${ca[@]}" get k1
logged mtls "peer did not return a certificate"
expect_fail "$dir/o6b" "unknown ca" \
  cli --endpoints $m "${ca[@]}" --cert "$certs/other.pem" --key "$certs/other.key" get k1
expect_fail "$dir/o6c" "certificate expired" \
  cli --endpoints $m "${ca[@]}" --cert "$certs/expired.pem" --key "$certs/expired.key" get k1
logged mtls "certificate has expired"
cli --endpoints $m "${ca[@]}" --cert "$certs/client.pem" --key "$certs/client.key" put k2 v2 \
  >/dev/null || fail "mTLS put"

# 7. A TLS client at a plaintext port: told the server does not speak
#    TLS; the node logs a TLS client on its plaintext port.
node plain
expect_fail "$dir/o7" "answered without TLS" cli --endpoints 127.0.0.1:$port "${ca[@]}" get k1
logged plain "a TLS client on the plaintext client port"

# 8. SIGHUP reads the certificate files again (renewed under the same
#    names): new connections get the new one; a bad one is refused and the
#    previous stays.
mkdir -p "$dir/rel"
cp "$certs/node1.pem" "$dir/rel/cert.pem"
cp "$certs/node1.key" "$dir/rel/key.pem"
node rel --cert-file "$dir/rel/cert.pem" --key-file "$dir/rel/key.pem"
r=127.0.0.1:$port
rel_pid=$pid
cli --endpoints $r "${ca[@]}" get k1 >/dev/null 2>&1 || [ $? = 1 ] || fail "TLS before reload"
# reload N: SIGHUP, then wait for the Nth "read again" or "keep" line.
reload() {
  kill -HUP "$rel_pid"
  for _ in $(seq 100); do
    [ "$(grep -c 'TLS files read again\|keep the previous TLS' "$dir/rel/log")" -ge "$1" ] && return 0
    sleep 0.05
  done
  fail "no reload logged"
}
cp "$certs/expired.pem" "$dir/rel/cert.pem"
cp "$certs/expired.key" "$dir/rel/key.pem"
reload 1
expect_fail "$dir/o8" "certificate has expired" cli --endpoints $r "${ca[@]}" get k1
cp "$certs/node2.key" "$dir/rel/key.pem" # does not match the certificate
reload 2
grep -q "key values mismatch; new client connections keep the previous TLS" "$dir/rel/log" ||
  fail "bad key not refused on reload"
expect_fail "$dir/o8b" "certificate has expired" cli --endpoints $r "${ca[@]}" get k1
cp "$certs/node1.pem" "$dir/rel/cert.pem"
cp "$certs/node1.key" "$dir/rel/key.pem"
reload 3
cli --endpoints $r "${ca[@]}" put k3 v3 >/dev/null || fail "TLS after reload"

# 9. Bad settings stop the node with the file or key named.
if "$bin/tunekvd" --node-id 1 --data-dir "$dir/bad" --cert-file "$certs/node1.pem" \
  --key-file "$certs/node2.key" >"$dir/bad.out" 2>&1; then fail "mismatched key accepted"; fi
grep -q "node2.key: key values mismatch" "$dir/bad.out" || fail "bad key: $(cat "$dir/bad.out")"
if "$bin/tunekvd" --node-id 1 --data-dir "$dir/bad" --client-cert-auth 1 \
  >"$dir/bad.out" 2>&1; then fail "client_cert_auth without TLS accepted"; fi
grep -q "tls.client_cert_auth needs TLS" "$dir/bad.out" || fail "$(cat "$dir/bad.out")"
echo "test_tls: OK"

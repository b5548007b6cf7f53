#!/usr/bin/env bash
# TLS on the peer port ([tls] peer_*), with three real tunekvd processes
# (docs/security.md, "TLS on the peer port"):
#  - a plaintext cluster first, as the control: a marker value written
#    through the cluster is seen in clear on the peer ports (so the capture
#    works, and the TLS half below could fail);
#  - the same with peer TLS: every write is replicated and forwarded, the
#    peer ports carry traffic, and the marker never appears on them;
#  - a plaintext peer, and a TLS peer whose certificate another CA signed,
#    get nothing, and the node says why.
# The capture needs raw sockets (root): without them that part is skipped
# and said so; the rest still runs.
#   usage: test_peer_tls.sh BUILD_DIR CERT_DIR   (CERT_DIR from scripts/tls-certs.sh --test)
set -euo pipefail
bin=$(cd "${1:?build dir}" && pwd)
certs=$(cd "${2:?cert dir}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-peertls-XXXXXX")
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$dir"' EXIT
fail() {
  echo "test_peer_tls: FAIL: $*" >&2
  for l in "$dir"/*/node*.log; do echo "== $l" >&2; tail -15 "$l" >&2; done
  exit 1
}

# cluster NAME TLS(0|1): three nodes on fresh ports; sets $base.
cluster() {
  local name=$1 tls=$2 i attempt
  for attempt in 1 2 3; do
    base=$((20000 + RANDOM % 9000))
    mkdir -p "$dir/$name"
    {
      echo "[cluster]"
      echo "secret = $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
      echo "partitions = 3"
      for i in 1 2 3; do
        echo "[node.$i]"
        echo "client_addr = 127.0.0.1:$((base + i))"
        echo "peer_addr = 127.0.0.1:$((base + 10 + i))"
      done
    } >"$dir/$name/conf"
    for i in 1 2 3; do
      flags=()
      # Node 1's files are copies: the reload test below renews them.
      mkdir -p "$dir/peer$i"
      cp "$certs/node$i.pem" "$dir/peer$i/cert.pem"
      cp "$certs/node$i.key" "$dir/peer$i/key.pem"
      [ "$tls" = 1 ] && flags=(--peer-cert-file "$dir/peer$i/cert.pem"
        --peer-key-file "$dir/peer$i/key.pem" --peer-ca-file "$certs/ca.pem")
      "$bin/tunekvd" --config "$dir/$name/conf" --node-id $i --bootstrap 1 \
        --data-dir "$dir/$name/d$i" "${flags[@]}" --ready-fd 3 3>"$dir/$name/ready$i" \
        2>"$dir/$name/node$i.log" &
      pids+=($!)
    done
    local ok=1
    for i in 1 2 3; do
      for _ in $(seq 300); do grep -q ready "$dir/$name/ready$i" 2>/dev/null && break; sleep 0.05; done
      grep -q ready "$dir/$name/ready$i" 2>/dev/null || ok=0
    done
    [ $ok = 1 ] && return 0
    stop_all
    rm -rf "${dir:?}/$name"
  done
  fail "cluster $name did not start"
}
eps() { echo "127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"; }

# write_marked NAME: with a capture of the peer ports running, write a
# marker value through every node (replication and forwarding both cross
# peer ports) and read it back from every replica; prints the capture file
# or "" when raw sockets are not allowed.
write_marked() {
  local name=$1 cap="$dir/$1/capture" i
  python3 "$here/sniff.py" 4 "$cap" $((base + 11)) $((base + 12)) $((base + 13)) \
    2>"$dir/$name/sniff.err" &
  local sniffer=$!
  for _ in $(seq 100); do [ -f "$cap.ready" ] && break; kill -0 $sniffer 2>/dev/null || break; sleep 0.02; done
  for i in 1 2 3 4 5 6; do
    "$bin/tunekv" --endpoints "127.0.0.1:$((base + (i % 3) + 1))" put "marked-$i" \
      "MARKER-7f3a9c-$i-value" >/dev/null || fail "$name: put marked-$i"
  done
  # Every node's own replica gets every key (3 replicas): replication
  # crossed the peer ports (polled: a follower applies a moment later).
  for i in 1 2 3; do
    for k in 1 2 3 4 5 6; do
      for _ in $(seq 100); do
        "$bin/tunekv" --endpoints "127.0.0.1:$((base + i))" --node $i get marked-$k \
          --consistency eventual >/dev/null 2>&1 && break
        sleep 0.05
      done
      "$bin/tunekv" --endpoints "127.0.0.1:$((base + i))" --node $i get marked-$k \
        --consistency eventual >/dev/null || fail "$name: node $i lacks marked-$k"
    done
  done
  if wait $sniffer; then echo "$cap"; else echo ""; fi
}

# 1. The control: plaintext peers, the marker in clear.
cluster plain 0
cap=$(write_marked plain)
stop_all
if [ -z "$cap" ]; then
  echo "test_peer_tls: capture skipped (no raw sockets here): $(cat "$dir/plain/sniff.err")"
else
  grep -q "MARKER-7f3a9c" "$cap" || fail "control: the marker is not seen on plaintext peer ports"
fi

# 2. Peer TLS: everything works, the marker never crosses in clear.
cluster tls 1
grep -q "(peers, TLS)" "$dir/tls/node1.log" || fail "ready line does not say peers TLS"
cap=$(write_marked tls)
if [ -n "$cap" ]; then
  [ "$(stat -c %s "$cap")" -gt 1000 ] || fail "no traffic captured on TLS peer ports"
  if grep -q "MARKER-7f3a9c" "$cap"; then fail "the marker crossed a TLS peer port in clear"; fi
fi
! grep -h "tlsrelay" "$dir"/tls/node*.log || fail "TLS failures between genuine nodes"

# 3. A plaintext peer (a handshake's first bytes in clear), then a TLS
#    peer whose certificate another CA signed: each is closed, gets no
#    byte of the handshake, and the node logs why. (TLS failures are
#    logged at most once a second: the second impostor comes after that.)
impostor() {
  python3 - $((base + 11)) "$certs" "$1" <<'PY'
import socket, ssl, sys
port, certs, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
raw = socket.create_connection(("127.0.0.1", port))
raw.settimeout(5)
hello = b"\x00" * 64  # where a real HELLO would start
if kind == "plaintext":
    raw.sendall(hello)
    got = raw.recv(100)
    # the node closes; at most a TLS alert comes back, never a CHALLENGE
    assert got == b"" or got[:1] == b"\x15", f"a plaintext peer got {got!r}"
    sys.exit(0)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(f"{certs}/other.pem", f"{certs}/other.key")
try:
    with ctx.wrap_socket(raw) as c:
        c.sendall(hello)
        got = c.recv(100)
        assert got == b"", f"an untrusted peer got {got!r}"
except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
    pass  # refused during the handshake: TLS 1.3 tells the client late
PY
}
# logged TEXT: node 1 of the TLS cluster logged TEXT (within 2 s).
logged() {
  for _ in $(seq 40); do
    grep -q "$1" "$dir/tls/node1.log" && return 0
    sleep 0.05
  done
  fail "node 1 did not log '$1'"
}
impostor plaintext || fail "plaintext impostor"
logged "plaintext on the TLS peer port"
sleep 1.1 # the log's rate limit
impostor other-ca || fail "other-CA impostor"
logged "certificate verify failed: unable to get local issuer certificate"
"$bin/tunekv" --endpoints "$(eps)" put after-impostors ok >/dev/null || fail "cluster broken after impostors"

# 4. SIGHUP renews node 1's peer certificate (here: node 2's, valid for the
#    same address): a new connection to its peer port is shown the new one;
#    a key that does not match is refused and the previous stays.
node1=${pids[0]} # the TLS cluster's (stop_all emptied the list before it)
shown() { # the subject node 1's peer port shows a new connection now
  timeout 5 openssl s_client -connect "127.0.0.1:$((base + 11))" </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null || true
}
reloaded() { # wait for the Nth reload line of node 1 matching $1
  for _ in $(seq 100); do
    [ "$(grep -c "$1" "$dir/tls/node1.log")" -ge "$2" ] && return 0
    sleep 0.05
  done
  fail "node 1 did not log '$1' ($2)"
}
[ "$(shown)" = "subject=CN = node1" ] || fail "node 1 shows '$(shown)', not node1"
cp "$certs/node2.pem" "$dir/peer1/cert.pem"
cp "$certs/node2.key" "$dir/peer1/key.pem"
kill -HUP "$node1"
reloaded "peer port TLS files read again" 1
[ "$(shown)" = "subject=CN = node2" ] || fail "after SIGHUP node 1 shows '$(shown)'"
cp "$certs/node1.key" "$dir/peer1/key.pem" # node 2's certificate, node 1's key
kill -HUP "$node1"
reloaded "new peer connections keep the previous TLS settings" 1
[ "$(shown)" = "subject=CN = node2" ] || fail "a bad key replaced the certificate: '$(shown)'"
cp "$certs/node1.pem" "$dir/peer1/cert.pem"
kill -HUP "$node1"
reloaded "peer port TLS files read again" 2
[ "$(shown)" = "subject=CN = node1" ] || fail "node 1 shows '$(shown)' after renewing back"
"$bin/tunekv" --endpoints "$(eps)" put after-reload ok >/dev/null || fail "cluster broken after reloads"
echo "test_peer_tls: OK"

#!/usr/bin/env bash
# examples/lock.c against a real tunekvd (docs/recipes.md, "A lock"): two
# processes contend for one lock and only one holds it; the waiter polls
# with backoff; killing the holder with SIGKILL frees the lock once its
# lease expires, and the waiter takes it; a release (revoke) deletes the
# lock key at once.
set -euo pipefail
bin=$1
dir=$(mktemp -d /tmp/tkv-lock.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}" ${pid:-}; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "test_lock: FAIL: $*" >&2; tail -20 "$dir/log" >&2 || true; exit 1; }

. "$(dirname "$0")/node.sh"
start_node "$bin" "$dir" --partitions 4 --lease-ttl-min-ms 200
[ -n "$pid" ] || fail "tunekvd did not start"
export TUNEKV_ENDPOINTS=127.0.0.1:$port
lock=$bin/examples/lock

# Wait (up to 30 s) until FILE has a line matching RE: the processes print
# as things happen, nothing else announces them.
wait_line() { # file, regex
  for _ in $(seq 600); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

"$lock" job alice 2000 0 >"$dir/alice" 2>"$dir/alice.err" &
alice=$!; pids+=("$alice")
wait_line "$dir/alice" '^acquired version=[0-9]+' || fail "alice did not acquire: $(cat "$dir/alice" "$dir/alice.err")"

"$lock" job bob 2000 500 >"$dir/bob" 2>"$dir/bob.err" &
bob=$!; pids+=("$bob")
# bob contends: he waits (polling) while alice keeps her lease alive ...
wait_line "$dir/bob" '^waiting$' || fail "bob did not wait: $(cat "$dir/bob" "$dir/bob.err")"
for _ in $(seq 6); do
  wait_line "$dir/bob" '^waiting$'
  sleep 0.5
  grep -q acquired "$dir/bob" && fail "bob acquired while alice holds the lock"
done
[ "$("$bin/tunekv" get '{job}:lock' | sed -n 1p)" = alice ] || fail "the lock key is not alice's"

# ... until alice dies without releasing: her lease expires, bob takes it.
kill -9 "$alice"
wait "$alice" 2>/dev/null || true
wait_line "$dir/bob" '^acquired version=[0-9]+' || fail "bob did not acquire after alice died: $(cat "$dir/bob" "$dir/bob.err")"
[ "$("$bin/tunekv" get '{job}:lock' | sed -n 1p)" = bob ] || fail "the lock key is not bob's"
v_alice=$(sed -n 's/^acquired version=\([0-9]*\).*/\1/p' "$dir/alice")
v_bob=$(sed -n 's/^acquired version=\([0-9]*\).*/\1/p' "$dir/bob")
[ "$v_bob" -gt "$v_alice" ] || fail "fencing tokens do not grow: $v_alice then $v_bob"

# bob holds it for 0.5 s, then releases: the key is deleted with his lease.
wait "$bob" || fail "bob exited $?: $(cat "$dir/bob.err")"
grep -q '^released$' "$dir/bob" || fail "bob did not release"
rc=0; "$bin/tunekv" get '{job}:lock' >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "the lock key outlived its release (get exited $rc)"
echo "test_lock: ok"

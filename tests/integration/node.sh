# Sourced by the shell tests: start one tunekvd on fresh loopback ports.
#
#   start_node BIN DIR [tunekvd flags...]
#
# Picks a port P (client), P + 1 (peer) and P + 2 (free for a metrics
# address: the flags may name it as "@METRICS@"), starts BIN/tunekvd with
# its data dir, log (DIR/log) and readiness file under DIR, waits up to 15 s
# for "ready", and retries with other ports if the daemon exits first (a
# port taken meanwhile). Sets $pid and $port; $pid is empty on failure.
start_node() {
  local bin=$1 dir=$2 attempt i flags fresh=0
  shift 2
  pid=""
  # A new node whose first start failed (a port taken) may have written its
  # identity, and a data dir with an identity and no Raft state is refused:
  # the retry starts it new again. An existing data dir is never touched.
  [ -e "$dir/data" ] || fresh=1
  for attempt in 1 2 3 4 5; do
    [ "$attempt" = 1 ] || [ "$fresh" = 0 ] || rm -rf "$dir/data"
    port=$((12000 + RANDOM % 18000))
    flags=()
    for i in "$@"; do flags+=("${i//@METRICS@/127.0.0.1:$((port + 2))}"); done
    "$bin/tunekvd" --node-id 1 --client-addr 127.0.0.1:$port \
      --peer-addr 127.0.0.1:$((port + 1)) --data-dir "$dir/data" "${flags[@]}" \
      --ready-fd 3 3>"$dir/ready" 2>"$dir/log" &
    pid=$!
    for _ in $(seq 300); do
      grep -q ready "$dir/ready" 2>/dev/null && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    pid=""
  done
}

#!/usr/bin/env bash
# tunekv's data model beside etcd's, in one run (issue 19, "Performance";
# docs/performance.md, "Data model beside etcd"): a 3-member etcd 3.4 and a
# 3-node tunekv (3 partitions x 3 replicas), both on loopback, both up for
# the whole run, and cells of each system alternating, so that the
# machine's other work falls on both:
#
#   range100  100 keys of 100 bytes by prefix, out of 100 prefixes:
#             etcd Range serializable  | tunekv SCAN SEQUENTIAL and EVENTUAL,
#                                        untagged prefix (3 partitions) and
#                                        hash-tagged prefix (1 partition)
#             etcd Range linearizable  | tunekv SCAN LINEARIZABLE, both shapes
#   txn       2 compares (mod revision != 1, they hold) and 2 puts, 100-byte
#             values: etcd Txn         | tunekv TXN on {KEY}:a, {KEY}:b
#   watch     W watchers on one key, one writer at R puts a second, for each
#             W@R in WATCH; put issue to event arrival, p50/p99:
#             etcd Watch               | tunekv WATCH (tkv-watchlat), served
#                                        by the key's leader, and by a follower
#
# x CONCURRENCY requests in flight for range100 and txn. etcd is driven by
# tests/perf/etcd-datamodel (Go, built against Debian's etcd sources), tunekv
# by tunekv-bench. Each cell's JSON line (the bench-anchors' fields, plus
# system, cell, variant and the load average before it) goes to
# OUT/datamodel.jsonl; the table to OUT/datamodel.md.
#
#   scripts/measure-vs-etcd-datamodel.sh [--duration S] [--warmup S]
#       [--concurrency "1 16"] [--watch "1@100 1000@10 1000@100"] [--out DIR]
#
# Environment: BIN (tunekv build dir, default build), BASE (tunekv ports:
# BASE+1.. clients, +101.. peers, +201.. metrics; default 24100), ETCD_BASE
# (etcd: ETCD_BASE+1.. clients, +11.. peers; default 24170), QUIET_MAX_PCT
# and QUIET_MAX_WAIT (each cell first waits up to 60 s for the machine to be
# below 15 % of a core busy). Both clusters'
# data live under OUT (on disk, fsync on). Everything started is stopped by
# PID on exit. Needs etcd, etcdctl and go (the bench-anchors kit's
# install-deps.sh installs them). Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
duration=5
warmup=1
concurrency="1 16"
watch="1@100 1000@10 1000@100"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --watch) watch=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--warmup S] [--concurrency LIST] [--watch "W@R ..."] [--out DIR]" >&2; exit 2 ;;
  esac
done
bin=${BIN:-$root/build}
base=${BASE:-24100}
etcd_base=${ETCD_BASE:-24170}
out=${out:-$root/var/datamodel-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
jsonl=$out/datamodel.jsonl
: >"$jsonl"

for tool in etcd etcdctl go; do
  command -v "$tool" >/dev/null || {
    echo "measure-vs-etcd-datamodel: no $tool; run ../shared/bench-anchors/install-deps.sh" >&2
    exit 2
  }
done
for p in $(seq $((base + 1)) $((base + 3))) $(seq $((base + 101)) $((base + 103))) \
  $(seq $((etcd_base + 1)) $((etcd_base + 3))) $(seq $((etcd_base + 11)) $((etcd_base + 13))); do
  if [ -n "$(ss -ltnH "sport = :$p" 2>/dev/null)" ]; then
    echo "measure-vs-etcd-datamodel: port $p is taken; set BASE / ETCD_BASE" >&2
    exit 3
  fi
done

cmake -S "$root" -B "$bin" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$bin" -j2 --target tunekvd tunekv_cli tunekv_bench >/dev/null
edm=$(bash tests/perf/etcd-datamodel/build.sh | tail -1)

# ---- the two clusters ----

etcd_pids=()
etcd_eps=""
etcd_up() {
  local n cluster="" dir=$out/etcd
  rm -rf "$dir"
  mkdir -p "$dir"
  for n in 1 2 3; do cluster="${cluster:+$cluster,}m$n=http://127.0.0.1:$((etcd_base + 10 + n))"; done
  for n in 1 2 3; do
    etcd --name "m$n" --data-dir "$dir/m$n" \
      --listen-client-urls "http://127.0.0.1:$((etcd_base + n))" \
      --advertise-client-urls "http://127.0.0.1:$((etcd_base + n))" \
      --listen-peer-urls "http://127.0.0.1:$((etcd_base + 10 + n))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_base + 10 + n))" \
      --initial-cluster "$cluster" --initial-cluster-token "datamodel-$$" \
      --initial-cluster-state new --logger zap --log-outputs "$dir/m$n.log" \
      </dev/null >"$dir/m$n.out" 2>&1 &
    etcd_pids+=($!)
    etcd_eps="${etcd_eps:+$etcd_eps,}http://127.0.0.1:$((etcd_base + n))"
  done
  for _ in $(seq 150); do
    ETCDCTL_API=3 etcdctl --endpoints "$etcd_eps" --dial-timeout 1s --command-timeout 2s \
      endpoint health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "measure-vs-etcd-datamodel: etcd not healthy after 30 s; logs in $dir" >&2
  return 1
}

tunekv() { VAR=$out/tunekv BASE=$base BIN=$bin bash scripts/cluster.sh "$@"; }
cleanup() {
  local p
  tunekv down >/dev/null 2>&1 || true
  for p in "${etcd_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${etcd_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

etcd_up
rm -rf "$out/tunekv"
tunekv up >/dev/null
tkv_eps="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
etcd_cpu=$(IFS=,; echo "${etcd_pids[*]}")
tkv_cpu=$(cat "$out"/tunekv/node*.pid | paste -sd,)
echo "etcd $etcd_eps (pids $etcd_cpu); tunekv $tkv_eps (pids $tkv_cpu); results -> $out"

# The same 10 000 keys (100 prefixes of 100) in etcd and, in both shapes, in
# tunekv; TXN keys are not preloaded on either side.
"$edm" -endpoints "$etcd_eps" -cell preload -clients 16 -conns 3 >/dev/null
tkv_bench=("$bin/tunekv-bench" --endpoints "$tkv_eps" --keys 10000 --value-size 100 -q)
"${tkv_bench[@]}" -c 64 -n 1 --warmup 0 --mix put=100 --preload >/dev/null
"${tkv_bench[@]}" -c 64 -n 1 --warmup 0 --mix put=100 --preload --tagged-prefixes >/dev/null

# ---- the cells ----

# stat_busy A B: the machine's busy CPU between two first lines of
# /proc/stat, in % of one core (200 = both cores); iowait counts as idle.
stat_busy() {
  awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " ");
    for (i = 2; i <= 9; i++) { d = y[i] - x[i]; t += d; if (i == 5 || i == 6) idle += d }
    printf "%.0f\n", (t > 0 ? (t - idle) / t * 100 * n : 0) }'
}
# snap: "BUSY TOTAL KTHREADS IRQ STEAL": the machine's busy and total
# jiffies (first line of /proc/stat), the CPU ticks of all kernel threads so
# far, the jiffies spent in interrupts (loopback networking's softirqs are
# there, charged to no process) and stolen by the hypervisor.
snap() {
  python3 - <<'PY'
import os
with open("/proc/stat") as f:
    v = [int(x) for x in f.readline().split()[1:]]
k = 0
for e in os.listdir("/proc"):
    try:
        with open(f"/proc/{e}/stat") as f:
            s = f.read()
    except OSError:
        continue
    t = s[s.rindex(")") + 2:].split()
    if e == "2" or t[1] == "2":
        k += int(t[11]) + int(t[12])
print(sum(v[:8]) - v[3] - v[4], sum(v[:8]), k, v[5] + v[6], v[7])
PY
}
busy() {
  local a
  a=$(head -1 /proc/stat)
  sleep 1
  stat_busy "$a" "$(head -1 /proc/stat)"
}
# quiet: wait (at most QUIET_MAX_WAIT seconds, default 60) until the machine
# is below QUIET_MAX_PCT % of a core busy (default 15, as the bench-anchors
# kit; the two idle clusters use a few %); prints the last reading. A cell
# run after the wait gave up says so in its line (quiet_before 0).
quiet() {
  local b waited=0
  while :; do
    b=$(busy)
    if [ "$b" -le "${QUIET_MAX_PCT:-15}" ] || [ "$waited" -ge "${QUIET_MAX_WAIT:-60}" ]; then
      echo "$b"
      return
    fi
    sleep 1
    waited=$((waited + 2))
  done
}
meta() { # SYSTEM CELL VARIANT CLIENTS
  local b
  b=$(quiet)
  printf '{"system":"%s","cell":"%s","variant":"%s","clients":%s,"pre_busy_pct":%s,"quiet_before":%s,"load1":%s}' \
    "$1" "$2" "$3" "$4" "$b" "$([ "$b" -le "${QUIET_MAX_PCT:-15}" ] && echo 1 || echo 0)" \
    "$(cut -d' ' -f1 /proc/loadavg)"
}
# record LINE SNAP0 SNAP1: append a cell's JSON line to the results with,
# over the whole run of its tool (warm-up included), the machine's busy CPU,
# the share of kernel threads (the disk writes' work is there) and of
# interrupts (loopback networking), the CPU stolen by the hypervisor, and
# what was none of these nor the servers or the generator (cpu_pct_other:
# the other system's idle cluster and other people's jobs, which compete for
# the same 2 cores), and print a digest.
record() {
  if [ -z "$1" ]; then
    echo "measure-vs-etcd-datamodel: a cell produced no result" >&2
    return 0
  fi
  python3 - "$1" "$2" "$3" "$jsonl" "$(nproc)" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
b0, t0, k0, i0, s0 = (int(x) for x in sys.argv[2].split())
b1, t1, k1, i1, s1 = (int(x) for x in sys.argv[3].split())
ncpu, hz = int(sys.argv[5]), int(sys.argv[6])
secs = max(1, t1 - t0) / ncpu / hz  # wall time of the run from /proc/stat's jiffies
r["busy_during_pct"] = (b1 - b0) / max(1, t1 - t0) * 100 * ncpu
r["kthreads_during_pct"] = (k1 - k0) / hz / secs * 100
r["irq_during_pct"] = (i1 - i0) / hz / secs * 100
r["steal_during_pct"] = (s1 - s0) / hz / secs * 100
r["cpu_pct_other"] = (r["busy_during_pct"] - r["kthreads_during_pct"] - r["irq_during_pct"]
                      - r["steal_during_pct"] - r.get("cpu_pct_servers_sum", 0)
                      - r.get("cpu_pct_loadgen", 0))
with open(sys.argv[4], "a") as f:
    f.write(json.dumps(r) + "\n")
a = r["all"]
print(f"{r['system']:<6} {r['cell']:<8} {r['variant']:<22} c={r['clients']:<4} "
      f"{r['ops_per_s']:>9.0f} /s  p50 {a['p50_us']/1000:.3f} ms  p99 {a['p99_us']/1000:.3f} ms"
      f"  errors {r.get('errors', 0)}  load {r['load1']} busy {r['pre_busy_pct']}%"
      f" kthreads {r['kthreads_during_pct']:.0f}% irq {r['irq_during_pct']:.0f}%"
      f" steal {r['steal_during_pct']:.0f}% other {r['cpu_pct_other']:.0f}%", flush=True)
PY
}
etcd_cell() { # CELL VARIANT CLIENTS ARGS...
  local cell=$1 variant=$2 c=$3 m s0 line
  shift 3
  m=$(meta etcd "$cell" "$variant" "$c")
  s0=$(snap)
  line=$("$edm" -endpoints "$etcd_eps" -cell "$cell" -clients "$c" -conns $((c < 16 ? c : 16)) \
    -duration "${duration}s" -warmup "${warmup}s" -cpu-pids "$etcd_cpu" -meta "$m" "$@" \
    2>>"$out/etcd-datamodel.log" | sed -n 's/^RESULT //p')
  record "$line" "$s0" "$(snap)"
}
tkv_cell() { # CELL VARIANT CLIENTS ARGS...
  local cell=$1 variant=$2 c=$3 m s0 line
  shift 3
  m=$(meta tunekv "$cell" "$variant" "$c")
  s0=$(snap)
  line=$("${tkv_bench[@]}" --json -c "$c" -d "$duration" --warmup "$warmup" \
    --cpu-pids "$tkv_cpu" --meta "$m" "$@" 2>>"$out/tunekv-bench.log" | grep '"op":"all"' || true)
  record "$line" "$s0" "$(snap)"
}

# tkv_watch_cell WATCHERS RATE leader|follower: tkv-watchlat's line in the
# cells' shape (events/s as ops_per_s, put->event as all.*).
tkv_watch_cell() {
  local w=$1 rate=$2 where=$3 m s0 raw leader node
  "$bin/tunekv" --endpoints "$tkv_eps" put watchlat/key 0 >/dev/null
  leader=$("$bin/tunekv" --endpoints "$tkv_eps" get watchlat/key -v 2>/dev/null |
    sed -n 's/^served by node \([0-9]*\).*/\1/p' || true)
  [ -n "$leader" ] || leader=1
  node=$([ "$where" = leader ] && echo "$leader" || echo $((leader % 3 + 1)))
  m=$(meta tunekv watch "w$w@$rate-$where" 1)
  s0=$(snap)
  raw=$("$bin/tests/tkv-watchlat" "127.0.0.1:$((base + 1))" "$w" $((w < 16 ? w : 16)) \
    $((rate * (duration + warmup))) $((1000 / rate)) "127.0.0.1:$((base + node))" 2>>"$out/watchlat.log")
  record "$(python3 - "$raw" "$m" "$w" "$rate" <<'PY'
import json, sys
r, m = json.loads(sys.argv[1]), json.loads(sys.argv[2])
m.update({"watchers": int(sys.argv[3]), "rate": float(sys.argv[4]),
          "puts_per_s": r["puts"] / r["elapsed_s"], "ops_per_s": r["events"] / r["elapsed_s"],
          "events_received": r["events"], "events_expected": r["events"] + r["missing"],
          "all": {k: r[k] for k in ("p50_us", "p90_us", "p99_us", "max_us")}})
print(json.dumps(m))
PY
)" "$s0" "$(snap)"
}

for c in $concurrency; do
  etcd_cell range100 serializable "$c" -consistency serializable
  tkv_cell range100 sequential "$c" --mix scan=100 --consistency sequential --route any
  tkv_cell range100 sequential-tagged "$c" --mix scan=100 --consistency sequential --route any \
    --tagged-prefixes
  tkv_cell range100 eventual "$c" --mix scan=100 --consistency eventual --route any
  tkv_cell range100 eventual-tagged "$c" --mix scan=100 --consistency eventual --route any \
    --tagged-prefixes
  etcd_cell range100 linearizable "$c" -consistency linearizable
  tkv_cell range100 linearizable "$c" --mix scan=100 --consistency linearizable
  tkv_cell range100 linearizable-tagged "$c" --mix scan=100 --consistency linearizable \
    --tagged-prefixes
  etcd_cell txn txn "$c"
  tkv_cell txn txn "$c" --mix txn=100
done
for wr in $watch; do
  w=${wr%@*} rate=${wr#*@}
  etcd_cell watch "w$w@$rate" 1 -watchers "$w" -rate "$rate" -conns $((w < 16 ? w : 16))
  # tunekv: tkv-watchlat, the same shape in one process (w watchers on
  # min(w, 16) connections, one writer at $rate puts a second); served by
  # the key's leader (where libtunekv opens a one-key watch by default) and,
  # as a second row, by a follower (which hears of a commit with the next
  # append: its stream trails by the gap between writes).
  tkv_watch_cell "$w" "$rate" leader
  tkv_watch_cell "$w" "$rate" follower
done

python3 tests/perf/datamodel_report.py "$jsonl" >"$out/datamodel.md"
cat "$out/datamodel.md"
echo "measure-vs-etcd-datamodel: $jsonl, $out/datamodel.md"

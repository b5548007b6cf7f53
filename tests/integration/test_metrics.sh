#!/usr/bin/env bash
# /metrics, /healthz and /readyz of a real tunekvd ([node] metrics_addr):
# after a short load every family is there, parses as Prometheus text
# (python3-prometheus-client's parser), and the counters the load moved are
# non-zero; the health endpoints answer; other paths and methods are
# refused; the Grafana dashboard's expressions name only exported series.
# Skipped (77) without python3-prometheus-client.
#   usage: test_metrics.sh BUILD_DIR
set -euo pipefail
bin=$(cd "${1:?build dir}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
py=""
for cand in python3 /usr/bin/python3; do # a pyenv python3 may lack Debian's packages
  if command -v "$cand" >/dev/null && "$cand" -c 'import prometheus_client' 2>/dev/null; then
    py=$cand
    break
  fi
done
[ -n "$py" ] || {
  echo "test_metrics: SKIPPED: python3-prometheus-client not installed"
  exit 77
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/tkv-metrics-XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "test_metrics: FAIL: $*" >&2; cat "$dir/log" >&2 || true; exit 1; }

. "$(dirname "$0")/node.sh"
start_node "$bin" "$dir" --metrics-addr @METRICS@ --partitions 4
[ -n "$pid" ] || fail "tunekvd did not start"
export TUNEKV_ENDPOINTS=127.0.0.1:$port
for i in $(seq 20); do
  "$bin/tunekv" put "k$i" "v$i" >/dev/null
  "$bin/tunekv" get "k$i" --consistency eventual >/dev/null
  "$bin/tunekv" get "k$i" >/dev/null
done

"$py" - "http://127.0.0.1:$((port + 2))" "$src/conf/grafana/tunekv.json" <<'PY' || fail "metrics"
import sys, time, urllib.error, urllib.request
from prometheus_client.parser import text_string_to_metric_families
base = sys.argv[1]
def get(path, method="GET"):
    req = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), ""
assert get("/healthz")[0] == 200
assert get("/nothing")[0] == 404
assert get("/metrics", "POST")[0] == 405
# The exposition is rebuilt every second, all of it at one instant: wait
# until it shows the load's last request (the 20th linearizable GET; the
# CLI ran them one after the other, so everything before it is in the same
# picture). Counting requests alone is not enough: each CLI run also asks
# CLUSTER_INFO, so 60 requests can be seen before the last PUTs.
def last_get_counted(fams):
    f = fams.get("tunekv_request_duration_seconds")
    return f is not None and any(
        s.name.endswith("_count") and s.labels.get("op") == "get"
        and s.labels.get("level") == "linearizable" and s.value >= 20 for s in f.samples)
for _ in range(50):
    code, text, ctype = get("/metrics")
    assert code == 200 and ctype.startswith("text/plain; version=0.0.4"), (code, ctype)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    if last_get_counted(fams):
        break
    time.sleep(0.2)
else:
    raise SystemExit("the load's last GET never counted: " + text[:2000])
want = ["tunekv_build_info", "tunekv_uptime_seconds", "tunekv_resident_memory_bytes",
        "tunekv_data_dir_free_bytes", "tunekv_client_connections", "tunekv_client_buffer_bytes",
        "tunekv_connections", "tunekv_requests", "tunekv_request_errors",
        "tunekv_forwarded_requests", "tunekv_loop_lag_seconds", "tunekv_raft_term",
        "tunekv_raft_commit_index", "tunekv_raft_applied_index", "tunekv_raft_last_index",
        "tunekv_raft_is_leader", "tunekv_raft_elections_won", "tunekv_raft_snapshots",
        "tunekv_raft_snapshot_restores", "tunekv_raft_log_bytes", "tunekv_store_keys",
        "tunekv_store_bytes", "tunekv_read_fences", "tunekv_staleness_seconds",
        "tunekv_lag_entries", "tunekv_reads", "tunekv_request_duration_seconds",
        "tunekv_network_receive_bytes", "tunekv_network_transmit_bytes", "tunekv_leases",
        "tunekv_lease_keys", "tunekv_leases_expired"]
missing = [w for w in want if w not in fams]
assert not missing, missing
def total(name, **labels):
    return sum(s.value for s in fams[name].samples
               if all(s.labels.get(k) == v for k, v in labels.items()))
assert total("tunekv_store_keys") == 20, total("tunekv_store_keys")
assert total("tunekv_raft_is_leader") == 4
assert total("tunekv_leases") == 0 and total("tunekv_lease_keys") == 0
assert total("tunekv_connections", event="accepted") >= 60
assert total("tunekv_reads", level="eventual", outcome="served") == 20
assert total("tunekv_reads", level="linearizable", outcome="served") == 20
assert total("tunekv_resident_memory_bytes") > 0
assert total("tunekv_build_info") == 1
# 20 puts of "kN"/"vN" and 40 gets: at least that many bytes each way.
assert total("tunekv_network_receive_bytes", **{"from": "clients"}) > 60 * 8
assert total("tunekv_network_transmit_bytes", to="clients") > 60 * 8
def hist(name, suffix, **labels):
    return [s for s in fams[name].samples if s.name == name + suffix
            and all(s.labels.get(k) == v for k, v in labels.items())]
for op, level in (("put", None), ("get", "eventual"), ("get", "linearizable")):
    labels = {"op": op} if level is None else {"op": op, "level": level}
    count = hist("tunekv_request_duration_seconds", "_count", **labels)
    assert count and count[0].value == 20, (op, level, count)
    buckets = hist("tunekv_request_duration_seconds", "_bucket", **labels)
    values = [s.value for s in buckets]
    assert values == sorted(values) and values[-1] == 20, values  # cumulative, +Inf = count
    assert hist("tunekv_request_duration_seconds", "_sum", **labels)[0].value > 0
assert get("/readyz")[0] == 200

# The Grafana dashboard (conf/grafana/tunekv.json) asks only for series this
# daemon exports, grouped by labels they carry: every PromQL expression's
# metric names (what is left after strings, label matchers, ranges,
# grouping clauses, numbers and function calls are taken out) and every
# `by (...)` label.
import json, re
dash = json.load(open(sys.argv[2]))
assert dash["schemaVersion"] >= 36, dash["schemaVersion"]
assert [i["name"] for i in dash["__inputs"]] == ["DS_PROMETHEUS"], dash["__inputs"]
series = {}
for f in fams.values():
    for s in f.samples:
        series.setdefault(s.name, set()).update(s.labels)
scrape_labels = {"instance", "job"}  # added by Prometheus when it scrapes
exprs = []
panels = list(dash["panels"])
for p in panels:
    panels.extend(p.get("panels", []))
    if p["type"] == "row":
        continue
    assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
    assert p["targets"], p["title"]
    exprs += [(p["title"], t["expr"]) for t in p["targets"]]
for v in dash["templating"]["list"]:
    exprs.append((v["name"], re.sub(r"^label_values\((.*), *\w+\)$", r"\1", v["definition"])))
ids = [p["id"] for p in panels]
assert len(ids) == len(set(ids)), ids
for title, expr in exprs:
    rest = re.sub(r'"[^"]*"', "", expr)
    rest = re.sub(r"\{[^}]*\}|\[[^]]*\]|\$\w+", "", rest)
    groups = re.findall(r"\b(?:by|without) *\(([^)]*)\)", rest)
    rest = re.sub(r"\b(?:by|without) *\([^)]*\)", "", rest)
    rest = re.sub(r"\b\d+(?:\.\d+)?\b", "", rest)
    names = [m.group(1) for m in re.finditer(r"([A-Za-z_:][\w:]*)\s*(\()?", rest)
             if not m.group(2)]
    assert names, (title, expr)
    unknown = [n for n in names if n not in series]
    assert not unknown, f"dashboard panel {title!r}: not exported: {unknown} in {expr}"
    have = set().union(*(series[n] for n in names)) | scrape_labels | {"le"}
    for g in groups:
        for label in filter(None, (x.strip() for x in g.split(","))):
            assert label in have, f"dashboard panel {title!r}: no label {label!r} in {expr}"
print(f"dashboard: {len(exprs)} expressions over exported series")
PY
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
echo "test_metrics: all passed"

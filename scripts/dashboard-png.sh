#!/usr/bin/env bash
# A picture of the Grafana dashboard's main panels (conf/grafana/tunekv.json)
# drawn from real data without Grafana (docs/operations.md, "Dashboard"):
# a 3-node scripts/cluster.sh cluster under tunekv-bench load for 30 s
# (10 s put/get, 10 s eventual gets, 10 s puts with node 2 killed at 20 s),
# every node's /metrics scraped each second, the panels' expressions
# evaluated over those scrapes (tests/perf/dashboard_series.py) and drawn
# with gnuplot into OUT (default docs/dashboard.png).
#   scripts/dashboard-png.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/dashboard.png}")
var=$(mktemp -d /tmp/tkv-dash-XXXXXX)
export VAR=$var BASE=${BASE:-26000}
scraper=""
trap '[ -n "$scraper" ] && kill "$scraper" 2>/dev/null; bash scripts/cluster.sh down >/dev/null 2>&1 || true; rm -rf "$var"' EXIT
bash scripts/cluster.sh up >/dev/null
eps=127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))
metrics=http://127.0.0.1:$((BASE + 201))/metrics,http://127.0.0.1:$((BASE + 202))/metrics,http://127.0.0.1:$((BASE + 203))/metrics
/usr/bin/python3 tests/perf/dashboard_series.py scrape "$metrics" 34 "$var/scrapes.jsonl" &
scraper=$!
sleep 1
bench() { ./build/tunekv-bench --endpoints "$eps" --warmup 0 "$@" >/dev/null 2>&1 || true; }
bench -c 32 -d 10 --mix put=50,get=50 --value-size 200
bench -c 64 -d 10 --mix get=100 --consistency eventual
bench -c 32 -d 10 --mix put=100 --value-size 200 &
sleep 5
kill -KILL "$(cat "$var/node2.pid")"
wait %1 2>/dev/null || true
wait "$scraper"
scraper=""
/usr/bin/python3 tests/perf/dashboard_series.py series "$var/scrapes.jsonl" "$var"
gnuplot <<GP
set terminal pngcairo size 1500,900 font "sans,10"
set output "$out"
set multiplot layout 2,3 title "tunekv dashboard panels from /metrics of a 3-node cluster: put/get, eventual gets, puts; node 2 killed during the puts (scripts/dashboard-png.sh)"
set key top left
set grid
set xlabel "s"
set title "Requests / s by operation"
plot for [c=2:4] "$var/requests.dat" using 1:c with lines lw 2 title columnhead
set title "Latency p99 (ms) by operation"
plot for [c=2:4] "$var/p99.dat" using 1:c with lines lw 2 title columnhead
set title "Raft term by partition"
plot for [c=2:4] "$var/term.dat" using 1:c with steps lw 2 title columnhead
set title "Partitions led, by node"
plot for [c=2:4] "$var/leaders.dat" using 1:c with steps lw 2 title columnhead
set title "Latency p50 (ms) by operation"
plot for [c=2:4] "$var/p50.dat" using 1:c with lines lw 2 title columnhead
set title "Bytes in / s from clients"
plot "$var/bytes.dat" using 1:2 with lines lw 2 title "clients"
unset multiplot
GP
echo "dashboard-png: $out"

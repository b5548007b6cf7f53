"""The dashboard's main panels (conf/grafana/tunekv.json) evaluated over
scrapes of real nodes, for scripts/dashboard-png.sh.

  dashboard_series.py scrape URL[,URL...] SECONDS OUT.jsonl
      scrape every URL's /metrics once a second for SECONDS seconds; one
      JSON line per scrape: {"t": seconds since start, "node": i,
      "samples": [[name, {labels}, value], ...]} (a node that does not
      answer has no line for that second)
  dashboard_series.py series IN.jsonl DIR
      the panels' expressions, one gnuplot data file each in DIR:
      requests.dat (rate of tunekv_request_duration_seconds_count by op),
      p99.dat and p50.dat (histogram_quantile(0.99 and 0.5) of its buckets
      by op, in ms),
      term.dat (max tunekv_raft_term by partition), leaders.dat (sum of
      tunekv_raft_is_leader by node), bytes.dat (rate of
      tunekv_network_receive_bytes_total by from), forwarded.dat (rate of
      tunekv_forwarded_requests_total)
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections import defaultdict
from typing import Dict, List, Tuple

from prometheus_client.parser import text_string_to_metric_families

KEEP = (
    "tunekv_request_duration_seconds",
    "tunekv_raft_term",
    "tunekv_raft_is_leader",
    "tunekv_network_receive_bytes",
    "tunekv_forwarded_requests",
)


def scrape(urls: List[str], seconds: int, out: str) -> None:
    start = time.monotonic()
    with open(out, "w") as f:
        for tick in range(seconds):
            for node, url in enumerate(urls, 1):
                try:
                    text = urllib.request.urlopen(url, timeout=0.5).read().decode()
                except OSError:
                    continue
                samples = []
                for fam in text_string_to_metric_families(text):
                    if fam.name.startswith(KEEP):
                        samples += [[s.name, s.labels, s.value] for s in fam.samples]
                f.write(json.dumps({"t": tick, "node": node, "samples": samples}) + "\n")
            f.flush()
            time.sleep(max(0.0, start + tick + 1 - time.monotonic()))


Scrape = Dict[int, Dict[int, List[Tuple[str, Dict[str, str], float]]]]


def load(path: str) -> Scrape:
    by_t: Scrape = defaultdict(dict)
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            by_t[o["t"]][o["node"]] = [tuple(s) for s in o["samples"]]
    return by_t


def total(samples, name: str, **match: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == m for k, m in match.items()))


def quantile(q: float, buckets: Dict[float, float]) -> float:
    """histogram_quantile over cumulative bucket counts {le: count}."""
    les = sorted(buckets)
    if not les or buckets[les[-1]] <= 0:
        return float("nan")
    rank = q * buckets[les[-1]]
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = buckets[le]
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return les[-1]


def series(path: str, out: str) -> None:
    by_t = load(path)
    ts = sorted(by_t)
    ops = ("get", "put")
    files = {k: open(f"{out}/{k}.dat", "w")
             for k in ("requests", "p99", "p50", "term", "leaders", "bytes", "forwarded")}
    files["requests"].write("t get put all\n")
    files["p99"].write("t get put all\n")
    files["p50"].write("t get put all\n")
    files["term"].write("t p0 p1 p2\n")
    files["leaders"].write("t node1 node2 node3\n")
    files["bytes"].write("t clients nodes\n")
    files["forwarded"].write("t forwarded\n")
    for a, b in zip(ts, ts[1:]):
        # Rates over nodes that answered both scrapes (a killed node drops out).
        nodes = [n for n in by_t[b] if n in by_t[a]]
        req = []
        p99 = []
        p50 = []
        for op in ops + (None,):
            m = {"op": op} if op else {}
            req.append(sum(total(by_t[b][n], "tunekv_request_duration_seconds_count", **m)
                           - total(by_t[a][n], "tunekv_request_duration_seconds_count", **m) for n in nodes))
            buckets: Dict[float, float] = defaultdict(float)
            for n in nodes:
                for name, lab, v in by_t[b][n]:
                    if name == "tunekv_request_duration_seconds_bucket" and (op is None or lab.get("op") == op):
                        buckets[float(lab["le"])] += v
                for name, lab, v in by_t[a][n]:
                    if name == "tunekv_request_duration_seconds_bucket" and (op is None or lab.get("op") == op):
                        buckets[float(lab["le"])] -= v
            p99.append(quantile(0.99, buckets) * 1000)
            p50.append(quantile(0.5, buckets) * 1000)
        files["requests"].write(f"{b} " + " ".join(f"{x:.0f}" for x in req) + "\n")
        files["p99"].write(f"{b} " + " ".join("NaN" if x != x else f"{x:.3f}" for x in p99) + "\n")
        files["p50"].write(f"{b} " + " ".join("NaN" if x != x else f"{x:.3f}" for x in p50) + "\n")
        terms = [max((total(by_t[b][n], "tunekv_raft_term", partition=str(p)) for n in by_t[b]), default=0)
                 for p in range(3)]
        files["term"].write(f"{b} " + " ".join(f"{x:.0f}" for x in terms) + "\n")
        lead = [total(by_t[b].get(n, []), "tunekv_raft_is_leader") for n in (1, 2, 3)]
        files["leaders"].write(f"{b} " + " ".join(f"{x:.0f}" for x in lead) + "\n")
        byt = [sum(total(by_t[b][n], "tunekv_network_receive_bytes_total", **{"from": k})
                   - total(by_t[a][n], "tunekv_network_receive_bytes_total", **{"from": k}) for n in nodes)
               for k in ("clients", "nodes")]
        files["bytes"].write(f"{b} " + " ".join(f"{x:.0f}" for x in byt) + "\n")
        fwd = sum(total(by_t[b][n], "tunekv_forwarded_requests_total")
                  - total(by_t[a][n], "tunekv_forwarded_requests_total") for n in nodes)
        files["forwarded"].write(f"{b} {fwd:.0f}\n")
    for f in files.values():
        f.close()


if __name__ == "__main__":
    if sys.argv[1] == "scrape":
        scrape(sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "series":
        series(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

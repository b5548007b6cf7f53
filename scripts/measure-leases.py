"""Lease measurements (docs/performance.md, "Leases"): a local 3-node
cluster (3 partitions x 3 replicas, random loopback ports, python/tests/
cluster.py) driven by the Python client, sequentially.

    /usr/bin/python3 scripts/measure-leases.py [BUILD_DIR]
"""
import os, sys, tempfile, time, statistics
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "python")); sys.path.insert(0, os.path.join(root, "python", "tests"))
import tunekv
from cluster import LocalCluster

def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))]

def rss_kb(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])

tmp = tempfile.mkdtemp(prefix="tkv-leasem-")
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
c = LocalCluster(os.path.join(build, "tunekvd"), tmp, extra_conf=["[limits]", "lease_ttl_min_ms = 200", "leases_max = 100000"])
c.start()
try:
    cl = tunekv.Client(c.endpoints, timeout=10.0)
    for _ in range(100):
        try:
            cl.put(b"warm", b"x"); break
        except tunekv.TunekvError:
            time.sleep(0.1)
    # 1. latencies of grant, keepalive, put with lease, revoke (sequential)
    lat = {"grant": [], "keepalive": [], "put_lease": [], "put_plain": [], "revoke": []}
    for i in range(500):
        t = time.perf_counter(); l = cl.lease_grant(60000, b"{m}"); lat["grant"].append(time.perf_counter() - t)
        t = time.perf_counter(); cl.lease_keepalive(l.id); lat["keepalive"].append(time.perf_counter() - t)
        t = time.perf_counter(); cl.put(b"{m}:k%d" % i, b"v", lease=l.id); lat["put_lease"].append(time.perf_counter() - t)
        t = time.perf_counter(); cl.put(b"{m}:p%d" % i, b"v"); lat["put_plain"].append(time.perf_counter() - t)
        t = time.perf_counter(); cl.lease_revoke(l.id); lat["revoke"].append(time.perf_counter() - t)
    for k, v in lat.items():
        print(f"{k:10s} p50 {pct(v, .5)*1e3:.2f} ms  p99 {pct(v, .99)*1e3:.2f} ms  ({len(v)} sequential, Python client)")
    # 2. expiry lateness: TTL 500 ms, time from the grant's answer to the key's absence
    late = []
    for i in range(10):
        l = cl.lease_grant(500, b"{e}")
        t0 = time.monotonic()
        cl.put(b"{e}:k", b"v", lease=l.id)
        while cl.get(b"{e}:k").found:
            time.sleep(0.002)
        late.append((time.monotonic() - t0) * 1e3 - 500)
    print(f"expiry: key gone {statistics.median(late):.0f} ms (median; min {min(late):.0f}, max {max(late):.0f}) after the 500 ms TTL (10 runs)")
    # 3. memory: RSS of every node before/after 10000 leases with 2 keys each
    before = [rss_kb(p.pid) for p in c.procs.values()]
    ids = []
    t = time.perf_counter()
    for i in range(10000):
        l = cl.lease_grant(600000, b"{mem%d}" % (i % 64))
        ids.append(l.id)
        cl.put(b"{mem%d}:a%d" % (i % 64, i), b"v" * 16, lease=l.id)
        cl.put(b"{mem%d}:b%d" % (i % 64, i), b"v" * 16, lease=l.id)
    dt = time.perf_counter() - t
    after = [rss_kb(p.pid) for p in c.procs.values()]
    print(f"memory: 10000 leases x 2 keys (+20000 keys of 16 B values): RSS per node {[a - b for a, b in zip(after, before)]} KiB more ({dt:.1f} s to create)")
    t = time.perf_counter()
    for x in ids:
        cl.lease_revoke(x)
    print(f"revoke 10000 leases: {time.perf_counter() - t:.1f} s")
    cl.close()
finally:
    print(c.stop())

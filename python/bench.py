#!/usr/bin/env python3
"""A small benchmark of the Python client: operations per second from one
Python process.

    python3 python/bench.py --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
    python3 python/bench.py --cluster build     # starts its own 3-node cluster

Runs, one after the other: blocking PUTs, blocking LINEARIZABLE GETs, and
the same through AsyncClient with --concurrency requests in flight (one
connection per node, pipelined). Keys are spread over --keys keys, values
are --value-size bytes. Prints one line per phase. Then watch phases
(AsyncClient.watch): the time from a PUT being sent to its event arriving
at a watch of the key in the same process (one PUT at a time, each
event awaited before the next PUT; p50 and p99), with the watch on the
key's leader and on a follower; and the events a prefix watch delivers
while --concurrency PUTs are in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "tests"))

import tunekv  # noqa: E402


def phase(name: str, n: int, seconds: float) -> None:
    print(f"{name:<40} {n:>7} ops in {seconds:6.2f} s  {n / seconds:>9.0f} ops/s  "
          f"{seconds / n * 1e6:>8.0f} us/op")


def blocking(endpoints, ops: int, keys: int, value: bytes) -> None:
    with tunekv.Client(endpoints) as c:
        c.put(b"bench/warm", value)
        t = time.monotonic()
        for i in range(ops):
            c.put(b"bench/%d" % (i % keys), value)
        phase("blocking put", ops, time.monotonic() - t)
        t = time.monotonic()
        for i in range(ops):
            c.get(b"bench/%d" % (i % keys))
        phase("blocking get (linearizable)", ops, time.monotonic() - t)


async def pipelined(endpoints, ops: int, keys: int, value: bytes, concurrency: int) -> None:
    async with tunekv.AsyncClient(endpoints) as c:
        await c.put(b"bench/warm", value)

        async def worker(w: int, op) -> None:
            for i in range(w, ops, concurrency):
                await op(b"bench/%d" % (i % keys))

        for name, op in (
            ("put", lambda k: c.put(k, value)),
            ("get (linearizable)", lambda k: c.get(k)),
        ):
            t = time.monotonic()
            await asyncio.gather(*(worker(w, op) for w in range(concurrency)))
            phase(f"asyncio {name}, {concurrency} in flight", ops, time.monotonic() - t)


async def put_to_event(c, w, name: str, ops: int, value: bytes) -> None:
    """One put at a time, its event awaited before the next put."""
    samples = []
    for i in range(ops):
        t = time.monotonic()
        await c.put(b"wbench/lat", value)
        while True:
            ev = await w.next(timeout=10.0)
            if ev is None:
                raise RuntimeError(f"no event within 10 s: {w.errmsg}")
            if ev.key == b"wbench/lat":
                break
        samples.append(time.monotonic() - t)
    await w.close()
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[min(len(samples) - 1, len(samples) * 99 // 100)]
    print(f"{name:<40} {ops:>7} puts   p50 {p50 * 1e6:>7.0f} us  p99 {p99 * 1e6:>7.0f} us")


async def watching(endpoints, ops: int, value: bytes, concurrency: int) -> None:
    async with tunekv.AsyncClient(endpoints) as c:
        # Put -> event latency, the watch on the key's leader (LINEARIZABLE
        # starts there), then on a follower (EVENTUAL, node_id).
        p = (await c.put(b"wbench/lat", value)).partition
        info = await c.cluster_info()
        leader = info.partitions[p].leader_id
        follower = next(r for r in info.partitions[p].replicas if r != leader)
        w = await c.watch(b"wbench/lat", consistency=tunekv.Consistency.LINEARIZABLE)
        await put_to_event(c, w, "asyncio watch on the leader: put -> event", ops, value)
        w = await c.watch(b"wbench/lat", consistency=tunekv.Consistency.EVENTUAL, node_id=follower)
        await put_to_event(c, w, "asyncio watch on a follower: put -> event", ops, value)

        # Delivery: a prefix watch (every partition) while puts run pipelined.
        w = await c.watch(prefix=b"wbench/d/")
        got = 0

        async def reader() -> None:
            nonlocal got
            while got < ops:
                if await w.next(timeout=10.0) is None:
                    raise RuntimeError(f"events stopped at {got}: {w.errmsg}")
                got += 1

        async def writer(k: int) -> None:
            for i in range(k, ops, concurrency):
                await c.put(b"wbench/d/%d" % i, value)

        t = time.monotonic()
        await asyncio.gather(reader(), *(writer(k) for k in range(concurrency)))
        phase(f"asyncio watch: events, {concurrency} puts in flight", got, time.monotonic() - t)
        await w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", help="host:port,... (default $TUNEKV_ENDPOINTS)")
    ap.add_argument("--cluster", metavar="BUILD_DIR", help="start a 3-node cluster of BUILD_DIR/tunekvd")
    ap.add_argument("--ops", type=int, default=5000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=64)
    a = ap.parse_args()
    value = b"v" * a.value_size
    cluster = tmp = None
    endpoints = a.endpoints
    if a.cluster:
        from cluster import LocalCluster

        tmp = tempfile.mkdtemp(prefix="tkv-pybench-")
        cluster = LocalCluster(os.path.join(os.path.abspath(a.cluster), "tunekvd"), tmp)
        cluster.start()
        time.sleep(3)  # leaders move to their preferred nodes after the first elections
        endpoints = cluster.endpoints
    try:
        print(f"tunekv Python client, {sys.version.split()[0]}, xxh64 from "
              f"{'python3-xxhash' if tunekv._xxh64.xxh64 is not tunekv._xxh64.xxh64_pure else 'pure Python'}; "
              f"{a.value_size}-byte values over {a.keys} keys")
        blocking(endpoints, a.ops, a.keys, value)
        asyncio.run(pipelined(endpoints, a.ops, a.keys, value, a.concurrency))
        asyncio.run(watching(endpoints, min(a.ops, 2000), value, a.concurrency))
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

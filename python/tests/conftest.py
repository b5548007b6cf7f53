"""pytest fixtures: one 3-node cluster for the whole run (tests/cluster.py).

TUNEKV_BUILD_DIR names the build directory that holds tunekvd (default:
the tree's build/). Without tunekvd the cluster tests are skipped and say
so; scripts/test.sh always builds it first.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from cluster import LocalCluster, find_tunekvd  # noqa: E402

import tunekv  # noqa: E402


def run_cluster(prefix, extra_conf=()):
    """A generator for fixtures: a 3-node cluster in a fresh temporary dir
    (its config plus extra_conf lines), yielded once every partition has a
    leader, then stopped; every node must shut down cleanly. A node a test
    left stopped (SIGSTOP) is continued first. Logs are kept when it fails
    or with TUNEKV_KEEP_LOGS."""
    tunekvd = find_tunekvd()
    if tunekvd is None:
        pytest.skip("tunekvd not built: set TUNEKV_BUILD_DIR or build the tree into build/")
    tmp = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR"))
    c = LocalCluster(tunekvd, tmp, extra_conf=extra_conf)
    bad = []
    try:
        c.start()
        settle(c)
        yield c
    finally:
        for p in c.procs.values():
            p.send_signal(signal.SIGCONT)
        bad = c.stop()
        if os.environ.get("TUNEKV_KEEP_LOGS") or bad:
            print(f"cluster logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    # Every node shuts down cleanly after the Python clients' traffic.
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="session")
def cluster():
    yield from run_cluster("tkv-py-")


@pytest.fixture
def client(cluster):
    c = tunekv.Client(cluster.endpoints, timeout=10.0)
    yield c
    c.close()


def pytest_collection_modifyitems(config, items):
    # The failover test kills and restarts a node: run it last, so that the
    # other tests see a cluster that is whole and settled.
    items.sort(key=lambda item: "failover" in item.nodeid)


def settle(cluster, timeout: float = 15.0) -> None:
    """Wait until every node names, for every partition, the same leader,
    the partition's preferred one (the first of its replicas): a fresh
    cluster moves leaders there after its first elections, and a test that
    picks "the leader" or "a follower" must not race that move."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = []
        for addr in cluster.endpoints:
            try:
                with tunekv.Client([addr], timeout=2.0) as c:
                    views.append(c.cluster_info())
            except tunekv.TunekvError:
                views.append(None)
        if all(v is not None for v in views):
            leaders = [tuple(p.leader_id for p in v.partitions) for v in views]
            want = tuple(p.replicas[0] for p in views[0].partitions)
            if all(ls == want for ls in leaders):
                return
        time.sleep(0.1)

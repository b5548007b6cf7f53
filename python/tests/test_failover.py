"""Failover: the leader of a key's partition is killed (SIGKILL) while a
client writes; every write still succeeds, once.

The writes are CAS increments of one counter from one client: each CAS
expects the version the previous one returned. A CAS applied twice (its
resend not recognized as the same write) would fail its second application
with CONDITION_FAILED, and a lost one would leave the counter short; the
client must resend a write whose answer was lost with the same (client_id,
seq) and retry=True, and the servers answer that resend with the first
result.
"""

import signal
import threading
import time

import tunekv


def test_writes_survive_leader_kill(cluster):
    key = b"failover/counter"
    with tunekv.Client(cluster.endpoints, timeout=15.0) as c:
        w = c.put(key, b"0")
        leader = c.cluster_info().partitions[w.partition].leader_id
        version, count = w.index, 0
        stop = threading.Event()
        errors = []

        def writer():
            nonlocal version, count
            try:
                while not stop.is_set():
                    r = c.cas(key, version, b"%d" % (count + 1))
                    version, count = r.index, count + 1
            except Exception as e:  # reported below
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.5)
        killed_at = count
        cluster.kill(leader, signal.SIGKILL)
        # Keep writing through the election and for a while after it.
        deadline = time.monotonic() + 20
        while count < killed_at + 50 and time.monotonic() < deadline and not errors:
            time.sleep(0.05)
        stop.set()
        t.join(timeout=30)
        assert not t.is_alive()
        assert not errors, f"a write failed after the leader was killed: {errors[0]!r}"
        assert count >= killed_at + 50, f"only {count - killed_at} writes after the kill"
        # Nothing lost, nothing applied twice.
        r = c.get(key)
        assert r.value == b"%d" % count and r.mod_index == version
        # The partition has another leader now, and the client found it.
        assert r.receipt.node_id != leader
        st = c.stats
        print(f"after the kill: {count - killed_at} writes; {st}")
        # Some attempt went to the dead leader and was resent.
        assert st.retries > 0
    cluster.restart(leader)


def test_lost_answer_is_resent_once(cluster, monkeypatch):
    """A write whose connection breaks after it was sent is resent with
    retry=True and the same (client_id, seq), and answered with its first
    result: a CAS, which would fail if applied twice, succeeds."""
    from tunekv import aio

    key = b"failover/lost-answer"
    with tunekv.Client(cluster.endpoints, timeout=10.0) as c:
        w = c.put(key, b"a")
        real_send = aio._Conn.send
        dropped = []

        def send_then_drop(self, req):
            fut = real_send(self, req)
            if req.WhichOneof("body") == "cas" and not dropped:
                dropped.append(req.id)
                # The request is written (close flushes it); the answer is
                # lost with the connection.
                self._fail("test: connection dropped after the write was sent")
            return fut

        monkeypatch.setattr(aio._Conn, "send", send_then_drop)
        r = c.cas(key, w.index, b"b")
        monkeypatch.undo()
        assert dropped and c.stats.resent_maybe_applied >= 1
        got = c.get(key)
        assert got.value == b"b" and got.mod_index == r.index

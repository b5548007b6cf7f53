"""WATCH from Python, on a 3-node cluster of its own (3 partitions, a
change history of HISTORY changes per partition, progress frames every
100 ms; its own because one test stops a node). Proves, as
tests/integration/test_watch.c does for libtunekv:

- a key's watch, served by a follower, delivers every acknowledged write
  and delete of that key exactly once, in index order, with its value,
  and nothing of other keys;
- a prefix watch over every partition delivers every write under the
  prefix, in index order per partition, and none outside it;
- a watch closed and opened again after its positions delivers exactly
  the changes made meanwhile; positions count only what was handed out,
  whole log entries (a TXN's three changes); a start given as one index (every
  partition) does the same for a key;
- a start older than the history raises Compacted with the partition and
  the index after which it is complete, and a start there is accepted; a
  watch whose node stopped while the history passed its position raises
  Compacted from next(), and on every later call;
- a watch whose node stops (SIGSTOP) resumes by itself on another node,
  and still every acknowledged write arrives exactly once, in order;
- a BOUNDED_STALENESS stream whose replica goes over its bound (its
  leader stopped) is ended by the node and resumes where the bound holds,
  with every acknowledged write once;
- a caller that pauses longer than silence_ms between two calls does not
  lose its stream for it;
- a watch of one partition starts on its leader (route LEADER, the
  default), on the endpoints in turn with another route;
- a LINEARIZABLE watch sent to a follower follows the NOT_LEADER hint to
  the leader; keys_only events carry no value; bad arguments are
  UsageError before anything is sent;
- the asyncio watch does the same through `async for`; a closed watch,
  and one whose client closed, refuse next().
"""

import asyncio
import signal
import time

import pytest
from conftest import run_cluster, settle

import tunekv
from tunekv import Ack, Consistency, EventType

HISTORY = 200
QUIET = 0.3  # seconds a watch is asked for one more event that must not come


@pytest.fixture(scope="module")
def wcluster():
    conf = ["[history]", f"history_changes_max = {HISTORY}", "watch_progress_ms = 100"]
    yield from run_cluster("tkv-py-watch-", conf)


@pytest.fixture
def wclient(wcluster):
    c = tunekv.Client(wcluster.endpoints, timeout=10.0)
    yield c
    c.close()


def change(c, key, value, ack=Ack.ALL_REPLICAS):
    """Write key = value (None: delete); returns (index, partition)."""
    r = c.put(key, value, ack=ack) if value is not None else c.delete(key, ack=ack)
    return r.index, r.partition


def expect_events(w, want):
    """The next len(want) events of w are want's (key, value or None for a
    delete, index, partition): each once, each partition's in index order
    (partitions may interleave)."""
    left = {(p, i): (k, v) for k, v, i, p in want}
    last = {}
    for n in range(len(want)):
        ev = w.next(timeout=10.0)
        assert ev is not None, f"event {n + 1} of {len(want)} did not come: {w.errmsg}"
        assert ev.index > last.get(ev.partition, 0), f"out of order or twice: {ev}"
        last[ev.partition] = ev.index
        k, v = left.pop((ev.partition, ev.index), (None, None))
        assert k is not None, f"unexpected event {ev}"
        assert ev.key == k
        if v is None:
            assert ev.type == EventType.DELETE and ev.value is None
        else:
            assert ev.type == EventType.PUT and ev.value == v
    assert w.next(timeout=QUIET) is None


def leader_of(c, partition):
    return c.cluster_info().partitions[partition].leader_id


def test_key_watch_on_a_follower(wclient):
    key = b"w/key"
    # Applied on every replica: the follower's stream starts after it.
    p = wclient.put(key, b"first", ack=Ack.ALL_REPLICAS).partition
    follower = leader_of(wclient, p) % 3 + 1
    with wclient.watch(key, consistency=Consistency.EVENTUAL, node_id=follower, silence_ms=1500) as w:
        assert w.info.node_id == follower and w.info.level == Consistency.EVENTUAL
        assert list(w.positions) == [p]
        want = []
        for i in range(40):
            change(wclient, b"w/key2", b"other")  # another key: never an event
            v = None if i % 7 == 6 else b"v%d" % i
            want.append((key, v) + change(wclient, key, v))
        expect_events(w, want)
        assert w.positions[p] >= want[-1][2]
        assert w.info.resumes == 0


def test_prefix_watch_every_partition(wclient):
    with wclient.watch(prefix=b"pw/", silence_ms=1500) as w:
        assert sorted(w.positions) == [0, 1, 2]
        want = []
        for i in range(60):
            change(wclient, b"px/outside", b"no")
            k = b"pw/%d" % i
            want.append((k, b"%d" % i) + change(wclient, k, b"%d" % i))
        assert len({p for _, _, _, p in want}) == 3  # the keys span every partition
        expect_events(w, want)


def test_resume_after_close(wclient):
    w = wclient.watch(prefix=b"rs/", silence_ms=1500)
    want = [(b"rs/%d" % i, b"a%d" % i) + change(wclient, b"rs/%d" % i, b"a%d" % i) for i in range(10)]
    expect_events(w, want)
    pos = w.positions
    w.close()
    want = []
    for i in range(10, 30):  # while nobody watches; rs/2 and rs/7 deleted once each
        k = b"rs/%d" % (i % 10)
        v = None if i in (12, 17) else b"b%d" % i
        want.append((k, v) + change(wclient, k, v))
    with wclient.watch(prefix=b"rs/", start=pos, silence_ms=1500) as w:
        expect_events(w, want)
    # One index for every partition: a key's changes after it.
    key = b"rs/1"
    after = [x for x in want if x[0] == key][0][2]
    with wclient.watch(key, start=after, silence_ms=1500) as w:
        expect_events(w, [x for x in want if x[0] == key and x[2] > after])


def test_pause_is_not_silence(wclient):
    """A caller busy for longer than silence_ms between two next() finds
    the frames sent meanwhile: its node is not taken as gone for that."""
    key = b"pause/key"
    with wclient.watch(key, silence_ms=1500) as w:
        want = [(key, b"a") + change(wclient, key, b"a")]
        time.sleep(2.0)  # the caller's own work, not a wait for an event
        expect_events(w, want)
        assert w.info.resumes == 0, w.errmsg


def test_starts_on_the_leader(wcluster, wclient):
    """A watch of one partition (a key, a prefix holding a whole hash tag)
    starts on that partition's leader, where events come first; with a
    route other than LEADER, on the endpoints in turn (the first here)."""
    first = 1  # the client's first endpoint
    assert wcluster.endpoints[0] == wcluster.client_addr[first]
    key = next(b"ld/%d" % i for i in range(100) if leader_of(wclient, wclient.put(b"ld/%d" % i, b"v").partition) != first)
    p = wclient.put(key, b"v").partition
    with wclient.watch(key) as w:
        assert w.info.node_id == leader_of(wclient, p)
    tag = next(b"{t%d}/" % i for i in range(100) if leader_of(wclient, wclient.put(b"{t%d}/x" % i, b"v").partition) != first)
    with wclient.watch(prefix=tag) as w:
        assert list(w.positions) == [wclient.put(tag + b"x", b"v").partition]
        assert w.info.node_id == leader_of(wclient, list(w.positions)[0])
    with wclient.watch(key, route=tunekv.Route.ANY) as w:
        assert w.info.node_id == first


def test_positions_count_what_was_handed_out(wclient):
    """positions cover only events handed out, whole log entries: with one
    of a TXN's three changes taken, a watch reopened from them gets all
    three (its index is not complete yet); with all three taken, none."""
    from tunekv import Op

    tag = b"{txw}"
    with wclient.watch(prefix=tag) as w:
        t = wclient.txn([], [Op.put(tag + b"a", b"1"), Op.put(tag + b"b", b"2"), Op.put(tag + b"c", b"3")])
        ev = w.next(timeout=10.0)
        assert ev is not None and ev.index == t.index
        pos = w.positions
        assert pos[t.partition] < t.index  # one of three: the index is not whole yet
        rest = [w.next(timeout=10.0) for _ in range(2)]
        assert all(e is not None and e.index == t.index for e in rest)
        assert w.positions == {t.partition: t.index}
    with wclient.watch(prefix=tag, start=pos) as w:
        again = [w.next(timeout=10.0) for _ in range(3)]
        assert sorted(e.key for e in again if e is not None) == [tag + b"a", tag + b"b", tag + b"c"]
        assert w.next(timeout=QUIET) is None
    with wclient.watch(prefix=tag, start={t.partition: t.index}) as w:
        assert w.next(timeout=QUIET) is None


def test_keys_only(wclient):
    with wclient.watch(b"ko/key", keys_only=True) as w:
        index, p = change(wclient, b"ko/key", b"a value")
        ev = w.next(timeout=10.0)
        assert ev is not None and ev.type == EventType.PUT and ev.value is None
        assert (ev.key, ev.index, ev.partition) == (b"ko/key", index, p)
        assert ev.create_index > 0 and ev.timestamp > 0


def test_compacted(wclient):
    key = b"cp/key"
    first, p = change(wclient, key, b"v", ack=Ack.COMMITTED)
    for _ in range(HISTORY + 50):
        last, _ = change(wclient, key, b"v", ack=Ack.COMMITTED)
    with pytest.raises(tunekv.Compacted) as e:
        wclient.watch(key, start={p: first - 1})
    assert e.value.compacted_partition == p
    assert first <= e.value.compacted_index <= last
    # From there on the history is complete: the resume is accepted.
    with wclient.watch(key, start={p: e.value.compacted_index}) as w:
        ev = w.next(timeout=10.0)
        assert ev is not None and ev.index > e.value.compacted_index


def test_compacted_while_away(wcluster, wclient):
    """The stream's node stops; while the watch is away the key changes
    more often than the history keeps: its resume is refused, and next()
    raises Compacted, then again on every call (it ended for good)."""
    key = b"{away}key"
    with wclient.watch(key, consistency=Consistency.EVENTUAL, node_id=2, silence_ms=1500) as w:
        assert w.info.node_id == 2
        p = list(w.positions)[0]
        wcluster.procs[2].send_signal(signal.SIGSTOP)
        try:
            first, _ = change(wclient, key, b"v", ack=Ack.COMMITTED)
            for _ in range(HISTORY + 50):
                change(wclient, key, b"v", ack=Ack.COMMITTED)
            with pytest.raises(tunekv.Compacted) as e:
                while w.next(timeout=10.0) is not None:
                    pass
            assert e.value.compacted_partition == p and e.value.compacted_index >= first
            assert (w.info.compacted_partition, w.info.compacted_index) == (p, e.value.compacted_index)
            with pytest.raises(tunekv.Compacted):
                w.next(timeout=0)
        finally:
            wcluster.procs[2].send_signal(signal.SIGCONT)
            settle(wcluster)  # leaders back where the other tests expect them


def test_resume_on_another_node(wcluster, wclient):
    key = b"{node}fail"
    with wclient.watch(key, consistency=Consistency.EVENTUAL, node_id=3, silence_ms=1500) as w:
        assert w.info.node_id == 3
        expect_events(w, [(key, b"x%d" % i) + change(wclient, key, b"x%d" % i) for i in range(5)])
        # Node 3 stops answering; the writes go on through the others.
        wcluster.procs[3].send_signal(signal.SIGSTOP)
        try:
            want = [(key, b"y%d" % i) + change(wclient, key, b"y%d" % i, Ack.COMMITTED) for i in range(15)]
            expect_events(w, want)
            assert w.info.node_id != 3
            assert w.info.resumes >= 1
        finally:
            wcluster.procs[3].send_signal(signal.SIGCONT)
            settle(wcluster)


def await_new_leader(c, partition, old, timeout=30.0):
    """Until the node c asks names a leader of partition other than old."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if leader_of(c, partition) not in (0, old):
                return
        except tunekv.TunekvError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"partition {partition} has no leader but {old} after {timeout} s")


def test_bounded_staleness_moves_on(wcluster, wclient):
    """A BOUNDED_STALENESS stream on a follower whose leader stops goes
    over its bound: the node ends it (BOUND_UNMET), and the watch resumes
    where the bound holds again, every acknowledged write once, in order.
    Failed rounds meanwhile (the stopped node, stale replicas) are raised
    by next() as retryable errors, and the next call goes on."""
    key = b"{bs}key"
    p = change(wclient, key, b"0")[1]
    leader = leader_of(wclient, p)
    follower = leader % 3 + 1
    # A short client timeout: a try at the stopped node costs that much.
    with tunekv.Client(wcluster.endpoints, timeout=2.0) as wc:
        w = wc.watch(key, consistency=Consistency.BOUNDED_STALENESS, max_staleness_ms=500, node_id=follower)
        assert w.info.node_id == follower
        expect_events(w, [(key, b"a%d" % i) + change(wclient, key, b"a%d" % i) for i in range(3)])
        wcluster.procs[leader].send_signal(signal.SIGSTOP)
        try:
            # Writes go to the new leader (a write sent to a stopped one
            # could only end OutcomeUnknown), through the live nodes.
            live = [a for n, a in wcluster.client_addr.items() if n != leader]
            with tunekv.Client(live, timeout=10.0) as writer:
                await_new_leader(writer, p, leader)
                want = [(key, b"b%d" % i) + change(writer, key, b"b%d" % i, Ack.COMMITTED) for i in range(10)]
            got, failures, deadline = [], [], time.monotonic() + 60
            while len(got) < len(want) and time.monotonic() < deadline:
                try:
                    ev = w.next(timeout=10.0)
                except (tunekv.BoundUnmet, tunekv.Timeout, tunekv.ConnectFailed, tunekv.Unavailable,
                        tunekv.NotLeader, tunekv.NoQuorum, tunekv.Busy) as e:
                    failures.append(e)
                    continue
                assert ev is not None, w.errmsg
                got.append((ev.key, ev.value, ev.index, ev.partition))
            assert got == want, f"after {len(failures)} failed rounds: {failures[-3:]}"
            assert w.info.resumes >= 1 and w.info.node_id != leader
            w.close()
        finally:
            wcluster.procs[leader].send_signal(signal.SIGCONT)
            settle(wcluster)


def test_linearizable_follows_the_leader(wcluster, wclient):
    key = b"lin/key"
    p = wclient.put(key, b"0").partition
    leader = leader_of(wclient, p)
    follower = leader % 3 + 1
    # The follower is the only endpoint: its NOT_LEADER hint is the one way
    # to the leader.
    with tunekv.Client([wcluster.client_addr[follower]], timeout=10.0) as c:
        with c.watch(key, consistency=Consistency.LINEARIZABLE) as w:
            assert w.info.node_id == leader
            assert w.info.level == Consistency.LINEARIZABLE
            expect_events(w, [(key, b"1") + change(wclient, key, b"1")])


def test_bad_arguments(wclient):
    for kw in ({}, {"key": b"k", "prefix": b"p"}, {"key": b""}, {"key": b"k", "start": -1},
               {"key": b"k", "start": {0: -1}}, {"key": b"k", "silence_ms": -1}):
        with pytest.raises(tunekv.UsageError):
            wclient.watch(**kw)
    # The server's refusal: a start in a partition the key is not in.
    p = wclient.put(b"bad/key", b"v").partition
    with pytest.raises(tunekv.InvalidArgument):
        wclient.watch(b"bad/key", start={(p + 1) % 3: 1})


def test_asyncio(wcluster):
    async def main():
        async with tunekv.AsyncClient(wcluster.endpoints, timeout=10.0) as c:
            w = await c.watch(prefix=b"aio/")
            want = []
            for i in range(20):
                r = await c.put(b"aio/%d" % i, b"%d" % i)
                want.append((r.partition, r.index, b"aio/%d" % i, b"%d" % i))
            got = []
            async for ev in w:
                got.append((ev.partition, ev.index, ev.key, ev.value))
                if len(got) == len(want):
                    break
            assert sorted(got) == sorted(want)
            assert await w.next(timeout=QUIET) is None
            await w.close()
            with pytest.raises(tunekv.UsageError):
                await w.next()
            # The client closes the watches it opened.
            w2 = await c.watch(b"aio/0")
        with pytest.raises(tunekv.UsageError):
            await w2.next()

    asyncio.run(main())

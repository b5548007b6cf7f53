"""GET_MANY: keys of any partitions read at one timestamp, against a real
3-node cluster."""

import pytest

import tunekv
from tunekv import Consistency


def test_get_many_reads_every_partition_at_one_timestamp(client):
    keys = [b"gm-%d" % i for i in range(12)]  # all three partitions
    writes = [client.put(k, b"v-" + k) for k in keys[:10]]
    r = client.get_many(keys)
    assert r.level == Consistency.SEQUENTIAL
    assert len(r.items) == 12 and len({i.partition for i in r.items}) == 3
    for k, it, w in zip(keys, r.items, writes):
        assert it.found and it.value == b"v-" + k and it.mod_index == w.index
        assert 0 < it.timestamp <= r.timestamp  # each item is its key's state at T
    assert not r.items[10].found and r.items[10].value is None
    # The session's later reads do not go back from T.
    g = client.get(keys[0], level=Consistency.SEQUENTIAL)
    assert g.receipt.timestamp >= r.timestamp


def test_get_many_levels(client):
    client.put(b"gm-b", b"x")
    r = client.get_many([b"gm-b"], level=Consistency.BOUNDED_STALENESS, max_staleness_ms=1000)
    assert r.level == Consistency.BOUNDED_STALENESS and r.items[0].value == b"x"
    e = client.get_many([b"gm-b"], level=Consistency.EVENTUAL)
    assert e.level == Consistency.EVENTUAL
    lin = client.get_many([b"gm-b", b"gm-absent"], level=Consistency.LINEARIZABLE)
    assert lin.level == Consistency.LINEARIZABLE and lin.items[0].value == b"x"
    assert not lin.items[1].found
    with pytest.raises(tunekv.UsageError):
        client.get_many([])


def test_reads_at_a_past_timestamp_and_tombstones(client):
    w1 = client.put(b"at-k", b"one")
    w2 = client.put(b"at-k", b"two")
    d = client.delete(b"at-k")
    # A GET at each write's timestamp sees the state that write left.
    assert client.get(b"at-k", level=Consistency.EVENTUAL, at_timestamp=w1.timestamp).value == b"one"
    assert client.get(b"at-k", level=Consistency.SEQUENTIAL, at_timestamp=w2.timestamp).value == b"two"
    gone = client.get(b"at-k", level=Consistency.EVENTUAL, at_timestamp=d.timestamp)
    assert not gone.found and gone.deleted_index == d.index
    # The current state names its delete too; GET_MANY at a timestamp.
    assert client.get(b"at-k").deleted_index == d.index
    m = client.get_many([b"at-k"], at_timestamp=w1.timestamp)
    assert m.timestamp == w1.timestamp and m.items[0].value == b"one"
    with pytest.raises(tunekv.InvalidArgument):
        client.get(b"at-k", at_timestamp=w1.timestamp)  # LINEARIZABLE: refused

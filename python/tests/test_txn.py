"""TXN and hash tags against a real 3-node cluster."""

import pytest

import tunekv
from tunekv import Compare, CompareOp, Op, TxnOpType


def test_txn_branches(client):
    w = client.put(b"{py1}:n", b"1")
    t = client.txn(
        [Compare.version(b"{py1}:n", w.index), Compare.exists(b"{py1}:lock", False)],
        [Op.put(b"{py1}:n", b"2"), Op.put(b"{py1}:log", b"+1"), Op.get(b"{py1}:n")],
        [Op.get(b"{py1}:n")],
    )
    assert t.succeeded and not t.replayed and t.index > w.index
    assert [r.type for r in t.results] == [TxnOpType.PUT, TxnOpType.PUT, TxnOpType.GET]
    assert t.results[0].found and not t.results[1].found
    assert t.results[2].value == b"2" and t.results[2].mod_index == t.index
    assert client.get(b"{py1}:log").mod_index == t.index
    # The version moved: the failure branch runs, alone.
    t2 = client.txn([Compare.version(b"{py1}:n", w.index)], [Op.delete(b"{py1}:n")], [Op.get(b"{py1}:n")])
    assert not t2.succeeded and len(t2.results) == 1 and t2.results[0].value == b"2"
    assert client.get(b"{py1}:n").value == b"2"
    # Value compares; a GET of a deleted key finds nothing.
    t3 = client.txn([Compare.value_of(b"{py1}:n", b"3", CompareOp.LESS)], [Op.delete(b"{py1}:n"), Op.get(b"{py1}:n")])
    assert t3.succeeded and t3.results[0].found and not t3.results[1].found


def test_txn_across_partitions_is_refused(client):
    # With 3 partitions, one of these keys is in another partition than "a".
    ops = [Op.put(k, b"v") for k in (b"a", b"b", b"c", b"d", b"e")]
    with pytest.raises(tunekv.InvalidArgument) as e:
        client.txn([], ops)
    assert "different partitions" in str(e.value)
    assert not client.get(b"a").found


def test_txn_empty_is_a_usage_error(client):
    with pytest.raises(tunekv.UsageError):
        client.txn()


def test_txn_limits_in_status(client):
    lim = client.status().limits
    assert (lim.txn_ops_max, lim.txn_compares_max, lim.txn_bytes_max) == (128, 32, 1 << 20)
    # The lease limits, at their defaults.
    assert (lim.leases_max, lim.lease_keys_max) == (10000, 1000)
    assert (lim.lease_ttl_min_ms, lim.lease_ttl_max_ms) == (1000, 3600000)

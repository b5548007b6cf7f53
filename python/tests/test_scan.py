"""SCAN: the keys of a prefix or range in key order, a page at a time,
against a real 3-node cluster."""

import pytest

import tunekv
from tunekv import Consistency


def test_scan_pages_every_key_once_in_order(client):
    keys = [b"sc/%02d" % i for i in range(25)]
    writes = {k: client.put(k, b"v-" + k) for k in keys}
    client.put(b"sc", b"not under the prefix")
    pages = list(client.scan(b"sc/", limit=10))
    assert [p.count for p in pages] == [10, 10, 5]
    assert [p.more for p in pages] == [True, True, False]
    got = [i for p in pages for i in p.items]
    assert [i.key for i in got] == keys
    for i in got:
        assert i.value == b"v-" + i.key and i.mod_index == writes[i.key].index
        assert i.create_index == writes[i.key].index
    for p in pages:
        assert p.level == Consistency.SEQUENTIAL
        assert len(p.receipts) == 3 and sorted(r.partition for r in p.receipts) == [0, 1, 2]
        assert all(0 < i.timestamp <= p.timestamp for i in p.items)


def test_scan_range_keys_only_count(client):
    for i in range(12):
        client.put(b"sr/%02d" % i, b"x")
    page = client.scan_page(start=b"sr/03", end=b"sr/07", keys_only=True)
    assert [i.key for i in page.items] == [b"sr/03", b"sr/04", b"sr/05", b"sr/06"]
    assert all(i.value == b"" for i in page.items) and not page.more
    counted = client.scan_page(b"sr/", count_only=True, level=Consistency.EVENTUAL)
    assert counted.count == 12 and counted.items == [] and counted.level == Consistency.EVENTUAL


def test_scan_refusals(client):
    with pytest.raises(tunekv.InvalidArgument):
        client.scan_page(start=b"b", end=b"a")
    # LINEARIZABLE over every partition is served (a double collect).
    assert client.scan_page(b"sc/", level=Consistency.LINEARIZABLE).level == Consistency.LINEARIZABLE
    with pytest.raises(tunekv.InvalidArgument):
        client.scan_page(b"sc/", cursor=b"zz")  # not a key of the prefix

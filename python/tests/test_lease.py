"""Leases against a real 3-node cluster (docs/protocol.md §4.11)."""

import time

import pytest

import tunekv
from tunekv import Op


def wait_gone(client, key, timeout=30.0):
    """Poll (linearizable GETs) until key is gone: nothing announces an
    expiry (watches come later)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if not client.get(key).found:
            return True
        time.sleep(0.05)
    return False


def test_lease_grant_attach_info_revoke(client):
    lease = client.lease_grant(60000, b"{pyl}")
    assert lease.id != 0 and lease.ttl_ms == 60000
    client.put(b"{pyl}:a", b"1", lease=lease.id)
    client.cas(b"{pyl}:b", 0, b"2", lease=lease.id)
    info = client.lease_info(lease.id)
    assert sorted(info.keys) == [b"{pyl}:a", b"{pyl}:b"] and info.keys_total == 2
    assert 0 < info.remaining_ms <= 60000 and info.partition == lease.partition
    assert lease.id in [x.id for x in client.lease_list(lease.partition)]
    assert client.lease_keepalive(lease.id).ttl_ms == 60000
    client.lease_revoke(lease.id)
    assert not client.get(b"{pyl}:a").found and not client.get(b"{pyl}:b").found
    with pytest.raises(tunekv.NotFound):
        client.lease_keepalive(lease.id)
    with pytest.raises(tunekv.NotFound):
        client.put(b"{pyl}:a", b"again", lease=lease.id)


def test_lease_expires_without_keepalive(client):
    lease = client.lease_grant(1000, b"{pyx}")
    client.put(b"{pyx}:k", b"v", lease=lease.id)
    client.put(b"{pyx}:plain", b"v")
    assert wait_gone(client, b"{pyx}:k")
    assert client.get(b"{pyx}:plain").found


def test_lease_refusals(client):
    with pytest.raises(tunekv.InvalidArgument):
        client.lease_grant(1, b"{pyr}")
    with pytest.raises(tunekv.NotFound):
        client.lease_keepalive(12345)


def test_txn_put_with_lease(client):
    lease = client.lease_grant(60000, b"{pyt}")
    t = client.txn([], [Op.put(b"{pyt}:a", b"1", lease=lease.id), Op.put(b"{pyt}:plain", b"2")])
    assert t.succeeded
    assert client.lease_info(lease.id).keys == [b"{pyt}:a"]
    client.lease_revoke(lease.id)
    assert not client.get(b"{pyt}:a").found and client.get(b"{pyt}:plain").found
    # The lease is gone: the whole TXN is refused, naming it.
    with pytest.raises(tunekv.NotFound) as e:
        client.txn([], [Op.put(b"{pyt}:b", b"3"), Op.put(b"{pyt}:a", b"4", lease=lease.id)])
    assert str(lease.id) in str(e.value)
    assert not client.get(b"{pyt}:b").found

"""PUT, GET, DELETE, CAS, write acknowledgements, STATUS and CLUSTER_INFO
against a real 3-node cluster."""

import time

import pytest

import tunekv
from tunekv import Ack, Consistency, Role


def test_put_get_delete(client):
    w = client.put(b"kv/a", b"hello")
    assert w.found and w.index > 0 and w.ack == Ack.COMMITTED and w.durable
    r = client.get(b"kv/a")
    assert r.found and r.value == b"hello"
    assert r.mod_index == w.index == r.version and r.create_index == w.index
    assert r.receipt.level == Consistency.LINEARIZABLE and r.receipt.role == Role.LEADER
    assert r.receipt.partition == w.partition
    # A str is UTF-8; an empty value is a value.
    client.put("kv/é", "")
    r = client.get("kv/é")
    assert r.found and r.value == b""
    d = client.delete(b"kv/a")
    assert d.found and d.index > w.index
    r = client.get(b"kv/a")
    assert not r.found and r.value is None and r.receipt.node_id != 0
    # A DELETE of a missing key still takes an index; it is not an error.
    d2 = client.delete(b"kv/a")
    assert not d2.found and d2.index > d.index
    with pytest.raises(tunekv.NotFound):
        client.get_value(b"kv/a")


def test_overwrite_keeps_create_index(client):
    w1 = client.put(b"kv/over", b"1")
    w2 = client.put(b"kv/over", b"2")
    r = client.get(b"kv/over")
    assert r.value == b"2" and r.create_index == w1.index and r.mod_index == w2.index


def test_cas(client):
    client.delete(b"kv/cas")
    w = client.cas(b"kv/cas", 0, b"first")  # 0: the key must not exist
    assert client.get_value(b"kv/cas") == b"first"
    with pytest.raises(tunekv.ConditionFailed) as e:
        client.cas(b"kv/cas", 0, b"again")
    assert e.value.current_version == w.index and e.value.status == tunekv.Status.CONDITION_FAILED
    w2 = client.cas(b"kv/cas", w.index, b"second")
    assert w2.index > w.index
    with pytest.raises(tunekv.ConditionFailed) as e:
        client.cas(b"kv/cas", w.index, b"stale")
    assert e.value.current_version == w2.index
    assert client.get_value(b"kv/cas") == b"second"


def test_write_acks(client):
    a = client.put(b"kv/ack", b"1", ack=Ack.LEADER_ACCEPTED)
    assert a.ack == Ack.LEADER_ACCEPTED and not a.durable and a.index > 0
    b = client.put(b"kv/ack", b"2", ack=Ack.ALL_REPLICAS)
    # ALL_REPLICAS may come back COMMITTED when a replica is slow; durable
    # either way.
    assert b.ack in (Ack.ALL_REPLICAS, Ack.COMMITTED) and b.durable
    c = client.put(b"kv/ack", b"3", ack=Ack.COMMITTED)
    assert c.ack == Ack.COMMITTED and c.durable


def test_status_and_cluster_info(client, cluster):
    # The cluster map is written just after the metadata group's first
    # election: polled, no event says when this node applied it.
    for _ in range(500):
        ci = client.cluster_info()
        if ci.epoch:
            break
        time.sleep(0.02)
    assert ci.epoch == 1 and all(n.state == "voter" and n.zone == "" for n in ci.nodes), ci
    assert ci.partition_count == 3 and len(ci.nodes) == 3
    assert {n.client_addr for n in ci.nodes} == set(cluster.endpoints)
    assert all(len(p.replicas) == 3 and p.leader_id in p.replicas for p in ci.partitions)
    for node in (1, 2, 3):
        st = client.status(node)
        assert st.node_id == node and st.partition_count == 3 and len(st.partitions) == 3
        assert st.limits.key_bytes_max > 0 and st.limits.request_timeout_max_ms >= st.limits.request_timeout_ms
        assert st.version
    assert client.status().node_id in (1, 2, 3)


def test_writes_go_to_leaders(client):
    # Every keyed request goes straight to its partition's leader: no
    # NOT_LEADER answers, and the partition the server reports is the one
    # the client computed with xxh64.
    from tunekv._xxh64 import xxh64

    before = client.stats.not_leader
    for i in range(60):
        k = b"route/%d" % i
        w = client.put(k, b"x")
        assert w.partition == xxh64(k) % 3
    assert client.stats.not_leader == before

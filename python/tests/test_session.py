"""Session tokens: read-your-writes on a follower, a session carried to
another client, and tokens the servers refuse."""

import pytest

import tunekv
from tunekv import Consistency, Role, SessionFlag, TokenOrder


def _follower(client, key):
    w = client.put(key, b"0")
    p = client.cluster_info().partitions[w.partition]
    return next(n for n in p.replicas if n != p.leader_id)


def test_read_your_writes_on_a_follower(client):
    key = b"ryw/k"
    follower = _follower(client, key)
    # Each read waits for the follower to learn the commit (a heartbeat,
    # 100 ms): 20 rounds are enough to catch a read that does not wait.
    for i in range(20):
        v = b"v%d" % i
        w = client.put(key, v)
        r = client.get(key, level=Consistency.EVENTUAL, session_flags=SessionFlag.READ_YOUR_WRITES,
                       node_id=follower)
        # The follower waited for the token's W entry before it answered.
        assert r.value == v and r.mod_index == w.index
        assert r.receipt.node_id == follower and r.receipt.role == Role.FOLLOWER
        assert r.receipt.applied_index >= w.index


def test_token_carried_to_another_client(client, cluster):
    key = b"ryw/carried"
    follower = _follower(client, key)
    with tunekv.Client(cluster.endpoints, timeout=10.0) as other:
        for i in range(10):
            v = b"c%d" % i
            w = client.put(key, v)
            tok = client.token()
            assert tok and isinstance(tok, bytes)
            other.set_token(tok)  # as a web tier would pass it on
            assert tunekv.token_compare(tok, other.token()) == TokenOrder.EQUAL
            r = other.get(key, level=Consistency.SESSION, node_id=follower)
            assert r.value == v and r.mod_index == w.index
            # The reader's token now covers the writer's.
            assert tunekv.token_compare(tok, other.token()) in (TokenOrder.EQUAL, TokenOrder.BEFORE)


def test_token_merge_and_reset(client, cluster):
    client.put(b"tok/a", b"1")
    a = client.token()
    with tunekv.Client(cluster.endpoints) as other:
        other.put(b"tok/b", b"2")
        other.merge_token(a)
        assert tunekv.token_compare(a, other.token()) in (TokenOrder.EQUAL, TokenOrder.BEFORE)
        other.reset_token()
        assert other.token() == b""
    with pytest.raises(tunekv.UsageError):
        client.set_token(b"\x02\x00\x00\x00")


def test_forged_token_is_refused(client, cluster):
    client.put(b"tok/forged", b"1")
    tok = bytearray(client.token())
    tok[-1] ^= 0xFF  # the last entry's MAC
    with tunekv.Client(cluster.endpoints) as other:
        other.set_token(bytes(tok))  # it parses: only a server can check the MAC
        with pytest.raises(tunekv.InvalidArgument):
            other.put(b"tok/forged", b"2")  # writes verify every entry

"""Errors: each failure raises its exception class."""

import socket

import pytest

import tunekv
from tunekv import Consistency


def test_status_classes():
    for status in tunekv.Status:
        if status == tunekv.Status.OK:
            continue
        cls = tunekv.errors.error_class(status)
        assert cls.status == status and issubclass(cls, tunekv.TunekvError)
    assert issubclass(tunekv.Timeout, TimeoutError)
    assert issubclass(tunekv.InvalidArgument, ValueError)
    assert issubclass(tunekv.ConnectFailed, ConnectionError)


def test_too_large_key(client):
    limit = client.status().limits.key_bytes_max
    with pytest.raises(tunekv.TooLarge):
        client.put(b"k" * (limit + 1), b"v")
    with pytest.raises(tunekv.TooLarge):
        client.get(b"k" * (limit + 1))


def test_invalid_arguments(client):
    with pytest.raises(tunekv.UsageError):
        client.put(b"", b"v")  # never sent
    # timeout_ms above request_timeout_max_ms (60 s): refused by the server.
    with pytest.raises(tunekv.InvalidArgument):
        client.get(b"err/k", timeout=61)
    with pytest.raises(tunekv.UsageError):
        tunekv.Client("no-port")


def test_nothing_listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with tunekv.Client(f"127.0.0.1:{port}", timeout=0.5) as c:
        with pytest.raises(tunekv.ConnectFailed):
            c.put(b"k", b"v")
        with pytest.raises(tunekv.ConnectFailed):
            c.get(b"k")
        with pytest.raises(tunekv.ConnectFailed):
            c.status()


def test_closed_client(cluster):
    c = tunekv.Client(cluster.endpoints)
    c.close()
    c.close()
    with pytest.raises(tunekv.UsageError):
        c.get(b"k", level=Consistency.EVENTUAL)


def test_dead_endpoint_is_skipped(cluster):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    with tunekv.Client([dead] + cluster.endpoints, timeout=5.0) as c:
        c.put(b"err/dead-endpoint", b"x")
        assert c.get(b"err/dead-endpoint").value == b"x"
        assert c.status().node_id in (1, 2, 3)  # the first endpoint that connects


def test_blocking_client_inside_a_loop(cluster):
    import asyncio

    c = tunekv.Client(cluster.endpoints)

    async def inside():
        with pytest.raises(tunekv.UsageError):
            c.get(b"k")

    asyncio.run(inside())
    c.close()


def test_cancelled_request_leaves_the_client_usable(cluster):
    import asyncio

    async def main():
        async with tunekv.AsyncClient(cluster.endpoints) as c:
            await c.put(b"err/cancel", b"x")
            # A read parked on a bound no replica meets, cancelled.
            t = asyncio.ensure_future(c.get(b"err/cancel", level=Consistency.SEQUENTIAL, min_index=10**12,
                                                 timeout=1.0))
            await asyncio.sleep(0.1)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert (await c.get(b"err/cancel")).value == b"x"
            assert all(not conn.pending for conn in c._conns.values())

    asyncio.run(main())

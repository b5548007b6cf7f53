"""The asyncio API: many requests in flight on one connection per node."""

import asyncio

import tunekv
from tunekv import Consistency


def test_pipelined_requests(cluster):
    async def main():
        async with tunekv.AsyncClient(cluster.endpoints, timeout=10.0) as c:
            n = 300
            writes = await asyncio.gather(*(c.put(b"aio/%d" % i, b"v%d" % i) for i in range(n)))
            assert all(w.durable for w in writes)
            reads = await asyncio.gather(
                *(c.get(b"aio/%d" % i, level=Consistency.SESSION) for i in range(n))
            )
            assert [r.value for r in reads] == [b"v%d" % i for i in range(n)]
            # One connection per node, each carrying many requests at once.
            assert len(c._conns) <= 3
            assert c.stats.attempts >= 2 * n
            missing = await c.get(b"aio/missing")
            assert not missing.found
            try:
                await c.cas(b"aio/0", 0, b"x")
            except tunekv.ConditionFailed as e:
                assert e.current_version == writes[0].index
            else:
                raise AssertionError("cas with a stale version succeeded")
            st = await c.status()
            assert st.node_id in (1, 2, 3)

    asyncio.run(main())

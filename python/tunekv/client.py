"""The blocking client of tunekv: Client.

Client runs an AsyncClient (aio.py) on an event loop of its own, one call
at a time: each method sends its request, with the same routing, retries,
idempotent writes and session token, and returns when it completes. One
implementation of the protocol serves both APIs, so they cannot drift.
A Client is not thread-safe (use one per thread, as libtunekv's struct
tkv_client), and its methods cannot be called from inside a running event
loop (use AsyncClient there).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Coroutine, Iterator, List, Optional, Sequence, TypeVar

from ._codec import Bytes
from .aio import AsyncClient, Endpoints
from .errors import UsageError
from .watch import Start, Watch
from .types import (
    Ack,
    ClusterInfo,
    Compare,
    Consistency,
    GetManyResult,
    GetResult,
    Grant,
    Lease,
    UserRoleOp,
    UserRoleResult,
    NodeStatus,
    OnUnmet,
    Op,
    ReadOptions,
    Route,
    ScanPage,
    Stats,
    TxnResult,
    WriteResult,
)

T = TypeVar("T")


class Client:
    """A blocking tunekv client. Arguments as AsyncClient's."""

    def __init__(
        self,
        endpoints: Endpoints = None,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        max_inflight: int = 1024,
        token: bytes = b"",
        user: Optional[str] = None,
        password: Optional[str] = None,
        tls: Optional[ssl.SSLContext] = None,
        zone: Optional[str] = None,
    ):
        self._aio = AsyncClient(
            endpoints, timeout, connect_timeout, max_inflight, token, user, password, tls, zone
        )
        self._loop = asyncio.new_event_loop()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coro.close()
            raise UsageError("the client is closed")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop.run_until_complete(coro)
        coro.close()
        raise UsageError("Client cannot be called inside a running event loop: use AsyncClient")

    @property
    def client_id(self) -> int:
        """The random id every write of this client carries (with its seq)."""
        return self._aio.client_id

    @property
    def stats(self) -> Stats:
        return self._aio.stats

    @property
    def endpoints(self) -> List[str]:
        return list(self._aio.endpoints)

    def get(
        self,
        key: Bytes,
        options: Optional[ReadOptions] = None,
        *,
        level: Consistency = Consistency.LINEARIZABLE,
        session_flags: int = 0,
        min_index: int = 0,
        max_staleness_ms: int = 0,
        max_lag_entries: int = 0,
        route: Route = Route.LEADER,
        on_unmet: OnUnmet = OnUnmet.WAIT,
        max_wait_ms: int = 0,
        strict: bool = False,
        timeout: Optional[float] = None,
        node_id: int = 0,
        at_timestamp: int = 0,
    ) -> GetResult:
        """Read key: see AsyncClient.get."""
        return self._run(
            self._aio.get(
                key,
                options,
                level=level,
                session_flags=session_flags,
                min_index=min_index,
                max_staleness_ms=max_staleness_ms,
                max_lag_entries=max_lag_entries,
                route=route,
                on_unmet=on_unmet,
                max_wait_ms=max_wait_ms,
                strict=strict,
                timeout=timeout,
                node_id=node_id,
                at_timestamp=at_timestamp,
            )
        )

    def get_value(self, key: Bytes, **kw: Any) -> bytes:
        """The value of key; raises NotFound when it does not exist."""
        return self._run(self._aio.get_value(key, **kw))

    def put(
        self, key: Bytes, value: Bytes, *, ack: Ack = Ack.COMMITTED, timeout: Optional[float] = None, lease: int = 0
    ) -> WriteResult:
        return self._run(self._aio.put(key, value, ack=ack, timeout=timeout, lease=lease))

    def delete(self, key: Bytes, *, ack: Ack = Ack.COMMITTED, timeout: Optional[float] = None) -> WriteResult:
        return self._run(self._aio.delete(key, ack=ack, timeout=timeout))

    def cas(
        self,
        key: Bytes,
        expected_version: int,
        value: Bytes,
        *,
        ack: Ack = Ack.COMMITTED,
        timeout: Optional[float] = None,
        lease: int = 0,
    ) -> WriteResult:
        return self._run(self._aio.cas(key, expected_version, value, ack=ack, timeout=timeout, lease=lease))

    def lease_grant(self, ttl_ms: int, tag: Bytes = b"") -> Lease:
        """A lease in the partition of tag (AsyncClient.lease_grant)."""
        return self._run(self._aio.lease_grant(ttl_ms, tag))

    def lease_keepalive(self, lease_id: int) -> Lease:
        return self._run(self._aio.lease_keepalive(lease_id))

    def lease_revoke(self, lease_id: int) -> None:
        self._run(self._aio.lease_revoke(lease_id))

    def lease_info(self, lease_id: int) -> Lease:
        return self._run(self._aio.lease_info(lease_id))

    def lease_list(self, partition: int) -> List[Lease]:
        return self._run(self._aio.lease_list(partition))

    def get_many(self, keys: Sequence[Bytes], **kw: Any) -> GetManyResult:
        """Read keys of any partitions at one timestamp (AsyncClient.get_many)."""
        return self._run(self._aio.get_many(keys, **kw))

    def scan_page(self, prefix: Bytes = b"", **kw: Any) -> ScanPage:
        """One page of a SCAN (AsyncClient.scan_page)."""
        return self._run(self._aio.scan_page(prefix, **kw))

    def scan(self, prefix: Bytes = b"", **kw: Any) -> Iterator[ScanPage]:
        """The pages of a SCAN, a generator: each page is read when the one
        before it was taken, following the cursor (AsyncClient.scan)."""
        cursor = b""
        while True:
            page = self.scan_page(prefix, cursor=cursor, **kw)
            yield page
            if not page.more:
                return
            cursor = page.cursor

    def txn(
        self,
        compares: Sequence[Compare] = (),
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
        *,
        timeout: Optional[float] = None,
    ) -> TxnResult:
        """One TXN in one partition (AsyncClient.txn)."""
        return self._run(self._aio.txn(compares, success, failure, timeout=timeout))

    def user_role(self, op: UserRoleOp, name: str = "", **kw: Any) -> UserRoleResult:
        """User and role management (AsyncClient.user_role)."""
        return self._run(self._aio.user_role(op, name, **kw))

    def user_add(self, name: str, password: Bytes) -> None:
        self.user_role(UserRoleOp.USER_ADD, name, password=password)

    def user_delete(self, name: str) -> None:
        self.user_role(UserRoleOp.USER_DELETE, name)

    def user_passwd(self, name: str, password: Bytes, old_password: Optional[Bytes] = None) -> None:
        """Set name's password: needs admin, or old_password (name's current
        password) when name is the client's own user."""
        self.user_role(UserRoleOp.USER_PASSWD, name, password=password, old_password=old_password)

    def user_grant_role(self, name: str, role: str) -> None:
        self.user_role(UserRoleOp.USER_GRANT_ROLE, name, role=role)

    def user_revoke_role(self, name: str, role: str) -> None:
        self.user_role(UserRoleOp.USER_REVOKE_ROLE, name, role=role)

    def users(self) -> List[str]:
        return self.user_role(UserRoleOp.USER_LIST).names

    def user_roles(self, name: str) -> List[str]:
        return self.user_role(UserRoleOp.USER_GET, name).roles

    def role_add(self, name: str) -> None:
        self.user_role(UserRoleOp.ROLE_ADD, name)

    def role_delete(self, name: str) -> None:
        self.user_role(UserRoleOp.ROLE_DELETE, name)

    def role_grant(self, name: str, permission: str, prefix: Bytes = b"") -> None:
        self.user_role(UserRoleOp.ROLE_GRANT, name, permission=permission, prefix=prefix)

    def role_revoke(self, name: str, prefix: Bytes = b"") -> None:
        self.user_role(UserRoleOp.ROLE_REVOKE, name, prefix=prefix)

    def roles(self) -> List[str]:
        return self.user_role(UserRoleOp.ROLE_LIST).names

    def role_grants(self, name: str) -> List[Grant]:
        return self.user_role(UserRoleOp.ROLE_GET, name).grants

    def watch(
        self,
        key: Optional[Bytes] = None,
        prefix: Optional[Bytes] = None,
        *,
        start: Start = None,
        keys_only: bool = False,
        consistency: Consistency = Consistency.SEQUENTIAL,
        max_staleness_ms: int = 0,
        node_id: int = 0,
        route: Route = Route.LEADER,
        silence_ms: int = 5000,
        timeout: Optional[float] = None,
    ) -> Watch:
        """Watch key, or every key under prefix: a Watch, an iterator of
        its changes that resumes by itself on another node
        (AsyncClient.watch)."""
        aw = self._run(
            self._aio.watch(
                key,
                prefix,
                start=start,
                keys_only=keys_only,
                consistency=consistency,
                max_staleness_ms=max_staleness_ms,
                node_id=node_id,
                route=route,
                silence_ms=silence_ms,
                timeout=timeout,
            )
        )
        return Watch(self, aw)

    def _closed_loop(self) -> bool:
        return self._loop.is_closed()

    def status(self, node_id: int = 0) -> NodeStatus:
        return self._run(self._aio.status(node_id))

    def cluster_info(self) -> ClusterInfo:
        return self._run(self._aio.cluster_info())

    def token(self) -> bytes:
        return self._aio.token()

    def set_token(self, tok: bytes) -> None:
        self._aio.set_token(tok)

    def merge_token(self, tok: bytes) -> None:
        self._aio.merge_token(tok)

    def reset_token(self) -> None:
        self._aio.reset_token()

    def close(self) -> None:
        """Close the connections and the client's event loop."""
        if self._loop.is_closed():
            return
        self._run(self._aio.close())
        self._loop.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

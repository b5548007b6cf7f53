"""The asyncio client of tunekv: AsyncClient.

The same model as libtunekv (include/tunekv.h, src/client/): on the first
keyed request the client fetches the partition map (CLUSTER_INFO) from its
endpoints, then sends every PUT, DELETE, CAS and LINEARIZABLE GET straight
to the leader of the key's partition (XXH64 of the key's hash tag, or of the whole key, % partition_count) with
no_forward set, over one connection per node. Requests from any number of
tasks share that connection: each gets its own id, and a reader task per
connection hands each answer to the request with its id (pipelining;
answers come back in completion order). A GET below LINEARIZABLE with a
route other than LEADER goes to the replica its route picks.

Retries follow _retry.py (libtunekv's retry.c): a NOT_LEADER hint is
followed at once, and transient failures (NOT_LEADER without a hint,
UNAVAILABLE, NO_QUORUM, BUSY, TIMEOUT, a refused or lost connection)
refresh the map (at most every 100 ms) and back off until the request's
deadline. Every write carries the client's random client_id and its own
seq, the same on every attempt, with retry=True once an earlier attempt
may have been applied, so the servers apply it once and answer a resend
with the first result.

The client is one session: it merges the token delta of every answer into
its token and attaches the token to every write and to every read whose
level is not LINEARIZABLE or whose session_flags are set
(token()/set_token()/merge_token() carry a session elsewhere).

An AsyncClient belongs to the event loop it is first used on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import select
import ssl as _ssl
import time
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union, cast

from . import _codec as codec
from . import token as tokens
from . import tunekv_pb2 as pb
from ._retry import Action, End, Retry, wants_refresh
from ._xxh64 import partition_of as _partition_of
from .errors import (
    ConnectFailed,
    ConnectionClosed,
    NoQuorum,
    NotFound,
    NotLeader,
    OutcomeUnknown,
    PermissionDenied,
    ProtocolError,
    Timeout,
    TunekvError,
    Unauthenticated,
    Unavailable,
    UsageError,
    error_class,
)
from .types import (
    Ack,
    ClusterInfo,
    Compare,
    Consistency,
    GetManyResult,
    GetResult,
    Lease,
    NodeStatus,
    OnUnmet,
    Op,
    ReadOptions,
    Route,
    ScanPage,
    Stats,
    Status,
    TxnResult,
    UserRoleOp,
    UserRoleResult,
    WriteResult,
)
from .watch import AsyncWatch, Start

DEFAULT_ENDPOINTS = "127.0.0.1:7001"
GRACE = 0.5  # local give-up after the server's deadline (protocol.md §8.10)
REFRESH_INTERVAL = 0.1  # at most one map fetch started per this
DOWN_INTERVAL = 1.0  # a node that failed this recently is skipped
RTT_STALE = 10.0
RTT_WEIGHT = 8
REPLICAS_MAX = 8
ZONE_MAX = 63  # a zone's length at most, as [node.N] zone

Bytes = codec.Bytes
Endpoints = Union[str, Sequence[str], None]
# A replica _choose considers: node id, leads, down, tried, round trip (s),
# in the client's zone.
_Candidate = Tuple[int, bool, bool, bool, Optional[float], bool]


class _Lost(Exception):
    """The connection broke; sent says whether the attempt had been written."""

    def __init__(self, sent: bool, why: str):
        super().__init__(why)
        self.sent = sent


class _Refused(Exception):
    pass


def _status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"status {status}"


def _split_addr(addr: str) -> Tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"bad address {addr!r}: want host:port")
    return host, int(port)


def parse_endpoints(endpoints: Endpoints) -> List[str]:
    """Endpoints as a list of "host:port": a list, a comma-separated string,
    or None for $TUNEKV_ENDPOINTS, else 127.0.0.1:7001 (as libtunekv)."""
    if endpoints is None:
        endpoints = os.environ.get("TUNEKV_ENDPOINTS") or DEFAULT_ENDPOINTS
    if isinstance(endpoints, str):
        endpoints = [e for e in endpoints.split(",")]
    out = [e.strip() for e in endpoints if e.strip()]
    if not out:
        raise UsageError("no endpoints")
    for e in out:
        _split_addr(e)
    return out


class _Conn:
    """One connection to one node: a writer, and a reader task that hands
    each answer to the future waiting for its id.

    It counts the bytes handed to the transport and remembers where each
    request's frame starts, so that when the connection breaks it can tell
    a request none of whose bytes reached the kernel (still in the
    transport's buffer: sent again as new) from one that may have reached
    the server (a write then may have been applied), as libtunekv does
    (protocol.md §8.11). When the transport dropped its buffer on a write
    error, every request counts as possibly sent: the safe side."""

    def __init__(
        self, addr: str, stats: Stats, max_inflight: int, tls: Optional[_ssl.SSLContext] = None
    ):
        self.addr = addr
        self.tls = tls
        self.stats = stats
        self.pending: Dict[int, Tuple[asyncio.Future[pb.Response], int]] = {}  # id -> (answer, frame start)
        self.written = 0  # bytes handed to the transport
        self.closed = False
        self.why = ""
        self.slots = asyncio.Semaphore(max_inflight)
        self.reader: Optional[asyncio.StreamReader] = None
        self.writer: Optional[asyncio.StreamWriter] = None
        self.task: Optional[asyncio.Task[None]] = None

    async def open(self, timeout: float) -> None:
        host, port = _split_addr(self.addr)
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host, port, ssl=self.tls, server_hostname=host if self.tls is not None else None
                ),
                timeout,
            )
        except (OSError, asyncio.TimeoutError) as e:
            raise _Refused(f"{self.addr}: {e or 'connect timed out'}") from None
        self.task = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        assert self.reader is not None
        why = "connection closed by the server"
        try:
            while True:
                head = await self.reader.readexactly(4)
                n = codec.HEADER.unpack(head)[0]
                if n > codec.RESPONSE_BYTES_MAX:
                    why = f"answer frame of {n} bytes exceeds {codec.RESPONSE_BYTES_MAX}"
                    break
                resp = codec.decode_response(await self.reader.readexactly(n))
                if resp.id == 0:
                    # A connection-level error (protocol.md §2.3); EOF follows.
                    why = f"{_status_name(resp.status)}: {resp.message}"
                    continue
                entry = self.pending.pop(resp.id, None)
                if entry is None:
                    self.stats.late_answers += 1
                elif not entry[0].done():
                    entry[0].set_result(resp)
        except asyncio.IncompleteReadError:
            pass
        except (OSError, ProtocolError) as e:
            why = str(e)
        except asyncio.CancelledError:
            why = "client closed"
        self._fail(why)

    def _fail(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.why = why
        if self.pending:
            self.stats.connections_lost += 1
        accepted = self.written
        if self.writer is not None and self.writer.transport is not None:
            accepted -= self.writer.transport.get_write_buffer_size()
        for fut, start in self.pending.values():
            if not fut.done():
                fut.set_exception(_Lost(start < accepted, why))
        self.pending.clear()
        if self.writer is not None:
            self.writer.close()

    def _peer_gone(self) -> bool:
        """With nothing in flight, anything readable is EOF or an id-0
        error: the server closed (protocol.md §8.12). Checked before a
        request goes on an idle connection, so that a write is not sent
        into a connection that is already closing."""
        if self.writer is None:
            return True
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return True
        p = select.poll()
        p.register(sock.fileno(), select.POLLIN | getattr(select, "POLLRDHUP", 0x2000))
        return bool(p.poll(0))

    def send(self, req: pb.Request) -> asyncio.Future[pb.Response]:
        """Write req; its answer completes the returned future (or _Lost)."""
        if self.closed:
            raise _Lost(False, self.why)
        if not self.pending and self._peer_gone():
            self._fail("connection closed by the server while idle")
            raise _Lost(False, self.why)
        fut: asyncio.Future[pb.Response] = asyncio.get_running_loop().create_future()
        frame = codec.frame(req)
        self.pending[req.id] = (fut, self.written)
        assert self.writer is not None
        try:
            self.writer.write(frame)
            self.written += len(frame)
        except (OSError, RuntimeError) as e:
            self.pending.pop(req.id, None)
            self._fail(str(e))
            raise _Lost(False, self.why) from None
        return fut

    def forget(self, req_id: int) -> None:
        self.pending.pop(req_id, None)

    async def drain(self) -> None:
        if self.writer is not None and self.writer.transport.get_write_buffer_size() > (1 << 20):
            try:
                await self.writer.drain()
            except (OSError, RuntimeError):
                pass

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        self._fail("client closed")
        if self.writer is not None:
            try:
                await self.writer.wait_closed()
            except (OSError, RuntimeError):
                pass


def _fill_txn(r: pb.Request, body: pb.TxnRequest, o: pb.WriteOptions) -> None:
    r.txn.CopyFrom(body)
    r.txn.options.CopyFrom(o)


class _Map:
    """The partition map: partition count, node addresses, each partition's
    leader and replicas. Corrected by leader hints between two fetches."""

    def __init__(self, ci: ClusterInfo):
        self.partition_count = ci.partition_count
        self.nodes: Dict[int, str] = {n.node_id: n.client_addr for n in ci.nodes}
        self.zones: Dict[int, str] = {n.node_id: n.zone for n in ci.nodes}
        self.leaders: List[int] = [0] * ci.partition_count
        self.replicas: List[Tuple[int, ...]] = [()] * ci.partition_count
        for p in ci.partitions:
            self.leaders[p.partition] = p.leader_id
            self.replicas[p.partition] = tuple(p.replicas[:REPLICAS_MAX])

    def partition_of(self, key: bytes) -> int:
        return _partition_of(key, self.partition_count)

    def hint(self, p: int, node_id: int, addr: str) -> None:
        if node_id == 0 or p >= self.partition_count:
            return
        self.leaders[p] = node_id
        if addr:
            self.nodes[node_id] = addr


class _Req:
    """One keyed request from its first attempt to its result."""

    def __init__(self, op: str, key: bytes, write: bool, read: Optional[ReadOptions], deadline: float):
        self.op = op
        self.key = key
        self.write = write
        self.read = read
        self.retry = Retry(write, deadline)
        self.partition = 0
        self.target = 0  # the node of the current attempt (0: an endpoint)
        self.routes = 0  # attempts routed, for "replicas in turn"
        self.tried: Set[int] = set()  # spread reads: replicas failed this round

    @property
    def spread(self) -> bool:
        r = self.read
        return (
            r is not None and r.node_id == 0 and r.level != Consistency.LINEARIZABLE and r.route != Route.LEADER
        )


def tls_context(
    cacert: Optional[str] = None, cert: Optional[str] = None, key: Optional[str] = None
) -> _ssl.SSLContext:
    """A TLS context for AsyncClient/Client(tls=...): the nodes'
    certificates must chain to the CAs in cacert (None: the system's) and
    name the host each endpoint was given by; cert and key are this
    client's, for nodes with client_cert_auth (docs/security.md)."""
    ctx = _ssl.create_default_context(cafile=cacert)
    ctx.minimum_version = _ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


class AsyncClient:
    """A tunekv client for asyncio. Not thread-safe; one per event loop.

    endpoints: "host:port,..." or a list (None: $TUNEKV_ENDPOINTS, else
    127.0.0.1:7001); timeout: default deadline of a request in seconds,
    retries included; connect_timeout: per connection attempt;
    max_inflight: requests in flight per connection (the server's default
    inflight_per_conn_max); token: a session token to start from; user,
    password: AUTH as user on every connection before anything else
    (clusters with [auth] enabled; password None: $TUNEKV_PASSWORD); tls:
    an ssl.SSLContext for nodes whose client port speaks TLS (tls_context()
    makes one), None: plaintext; zone: the zone this client runs in (None:
    $TKV_ZONE, else none), where route NEAREST prefers replicas, as
    libtunekv's tkv_options.zone."""

    def __init__(
        self,
        endpoints: Endpoints = None,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        max_inflight: int = 1024,
        token: bytes = b"",
        user: Optional[str] = None,
        password: Optional[str] = None,
        tls: Optional[_ssl.SSLContext] = None,
        zone: Optional[str] = None,
    ):
        if timeout <= 0 or connect_timeout <= 0 or max_inflight <= 0:
            raise UsageError("timeout, connect_timeout and max_inflight must be positive")
        self.endpoints = parse_endpoints(endpoints)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_inflight = max_inflight
        self.user = user or None
        if password is None:
            password = os.environ.get("TUNEKV_PASSWORD", "")
        self._password = password.encode()
        self.tls = tls
        self.zone: str = zone or os.environ.get("TKV_ZONE") or ""
        if len(self.zone) > ZONE_MAX or not all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in self.zone):
            raise UsageError(f"zone {self.zone!r}: up to {ZONE_MAX} letters, digits, '.', '_' and '-'")
        self.client_id = 0
        while self.client_id == 0:
            self.client_id = secrets.randbits(64)
        self.stats = Stats()
        self._next_id = 1
        self._next_seq = 1
        self._session = tokens.Session()
        if token:
            self.set_token(token)
        self._conns: Dict[str, _Conn] = {}
        self._connecting: Dict[str, asyncio.Future[_Conn]] = {}
        self._map: Optional[_Map] = None
        self._map_task: Optional[asyncio.Task[ClusterInfo]] = None
        self._map_fetched = 0.0
        self._failed: Dict[str, float] = {}  # addr -> when a connection to it failed
        self._unhealthy: Dict[int, float] = {}  # node -> when it answered UNAVAILABLE/BUSY
        self._rtt: Dict[int, Tuple[float, float]] = {}  # node -> (average s, when)
        self._rr = self.client_id
        self._last_endpoint = 0
        self._closed = False
        self._tasks: Set[asyncio.Task[ClusterInfo]] = set()  # map fetches
        self._watches: Set[AsyncWatch] = set()  # open, closed with the client

    # ---- session tokens

    def token(self) -> bytes:
        """The session token (b"" for an empty session): hand it to another
        client (set_token or merge_token) to carry the session there."""
        return self._session.get()

    def set_token(self, tok: bytes) -> None:
        """Replace the session token. Raises UsageError if tok does not
        parse, TooLarge-like UsageError if it exceeds 8 KiB."""
        try:
            self._session.set(tok)
        except (ValueError, OverflowError) as e:
            raise UsageError(f"set_token: {e}") from None

    def merge_token(self, tok: bytes) -> None:
        """Merge another session's token into this one."""
        try:
            self._session.merge(tok, evict=False)
        except (ValueError, OverflowError) as e:
            raise UsageError(f"merge_token: {e}") from None

    def reset_token(self) -> None:
        """Start a new session (empty token)."""
        self._session.reset()

    def _absorb(self, delta: bytes) -> None:
        if not delta:
            return
        try:
            self._session.merge(delta, evict=True)
        except (ValueError, OverflowError):
            self.stats.bad_tokens += 1

    # ---- keyed operations

    async def get(
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
        """Read key. Returns a GetResult (found False for a missing key) with
        the receipt; raises BoundUnmet when the replica could not meet the
        bound, and the other TunekvErrors. options, when given, replaces the
        keyword options."""
        if options is None:
            options = ReadOptions(
                level=Consistency(level),
                session_flags=int(session_flags),
                min_index=min_index,
                max_staleness_ms=max_staleness_ms,
                max_lag_entries=max_lag_entries,
                route=Route(route),
                on_unmet=OnUnmet(on_unmet),
                max_wait_ms=max_wait_ms,
                strict=strict,
                timeout=timeout,
                node_id=node_id,
                at_timestamp=at_timestamp,
            )
        if options.node_id and options.level != Consistency.LINEARIZABLE:
            # The node named serves it: the route is that choice (libtunekv).
            options = dataclasses.replace(options, route=Route.ANY)
        k = self._key(key)
        attach = options.level != Consistency.LINEARIZABLE or options.session_flags != 0
        body = pb.GetRequest(key=k, options=codec.read_options(options, self.token() if attach else b""))
        req = _Req("get", k, False, options, self._deadline(options.timeout))

        def fill(r: pb.Request) -> None:
            r.get.CopyFrom(body)

        resp = await self._keyed(req, fill)
        return codec.get_result(resp)

    async def get_many(
        self,
        keys: Sequence[Bytes],
        *,
        level: Consistency = Consistency.SEQUENTIAL,
        max_staleness_ms: int = 0,
        timeout: Optional[float] = None,
        node_id: int = 0,
        at_timestamp: int = 0,
    ) -> GetManyResult:
        """Read keys of any partitions at one timestamp (docs/protocol.md
        §3.7a): every item is its key's state at the result's timestamp.
        level SEQUENTIAL (default), LINEARIZABLE, BOUNDED_STALENESS with
        max_staleness_ms, or EVENTUAL. Sent where a read of the first key would go (or to
        node_id), which asks the nodes holding the partitions it does not. With
        at_timestamp, the keys' states as of that write timestamp."""
        if not keys:
            raise UsageError("get_many: no keys")
        ks = [self._key(k) for k in keys]
        options = ReadOptions(
            level=Consistency(level),
            max_staleness_ms=max_staleness_ms,
            route=Route.ANY if node_id else Route.LEADER,
            timeout=timeout,
            node_id=node_id,
            at_timestamp=at_timestamp,
        )
        tok = self.token() if options.level == Consistency.SEQUENTIAL else b""
        body = pb.GetManyRequest(keys=ks, options=codec.read_options(options, tok))
        req = _Req("get_many", ks[0], False, options, self._deadline(options.timeout))

        def fill(r: pb.Request) -> None:
            r.get_many.CopyFrom(body)

        return codec.get_many_result(await self._keyed(req, fill))

    async def scan_page(
        self,
        prefix: Bytes = b"",
        *,
        start: Bytes = b"",
        end: Bytes = b"",
        limit: int = 0,
        cursor: Bytes = b"",
        keys_only: bool = False,
        count_only: bool = False,
        level: Consistency = Consistency.SEQUENTIAL,
        max_staleness_ms: int = 0,
        timeout: Optional[float] = None,
        node_id: int = 0,
    ) -> ScanPage:
        """One page of a SCAN (docs/protocol.md, SCAN): the keys under
        prefix, or in [start, end) (end b"": to the last key), in key order,
        after cursor (b"": from the start), at most limit of them (0: the
        server's scan_limit_max). level as get_many takes it. Sent where a
        read of the prefix (or start) would go, or to node_id; that node
        asks the nodes holding the partitions it does not for their share."""
        p, s, e, c = (codec.as_bytes(x) for x in (prefix, start, end, cursor))
        options = ReadOptions(
            level=Consistency(level),
            max_staleness_ms=max_staleness_ms,
            route=Route.ANY if node_id else Route.LEADER,
            timeout=timeout,
            node_id=node_id,
        )
        tok = self.token() if options.level == Consistency.SEQUENTIAL else b""
        body = pb.ScanRequest(
            prefix=p,
            start=s,
            end=e,
            limit=limit,
            cursor=c,
            keys_only=keys_only,
            count_only=count_only,
            options=codec.read_options(options, tok),
        )
        req = _Req("scan", p or s, False, options, self._deadline(options.timeout))

        def fill(r: pb.Request) -> None:
            r.scan.CopyFrom(body)

        return codec.scan_page(await self._keyed(req, fill))

    async def scan(self, prefix: Bytes = b"", **kw: Any) -> AsyncIterator[ScanPage]:
        """The pages of a SCAN (scan_page's arguments but cursor), each
        read when the one before was taken: follows the cursor until no
        keys are left."""
        cursor = b""
        while True:
            page = await self.scan_page(prefix, cursor=cursor, **kw)
            yield page
            if not page.more:
                return
            cursor = page.cursor

    async def get_value(self, key: Bytes, **kw: Any) -> bytes:
        """The value of key; raises NotFound when it does not exist."""
        r = await self.get(key, **kw)
        if not r.found:
            raise NotFound("get: key not found")
        assert r.value is not None
        return r.value

    async def put(
        self,
        key: Bytes,
        value: Bytes,
        *,
        ack: Ack = Ack.COMMITTED,
        timeout: Optional[float] = None,
        lease: int = 0,
    ) -> WriteResult:
        """Set key to value. Returns the WriteResult (index = the new version).
        lease: attach the key to that lease (lease_grant; it must live in the
        key's partition), deleted when it ends; 0 detaches it."""
        k, v = self._key(key), codec.as_bytes(value)
        return await self._write(
            "put", k, ack, timeout, lambda r, o: r.put.CopyFrom(pb.PutRequest(key=k, value=v, options=o, lease=lease))
        )

    async def delete(self, key: Bytes, *, ack: Ack = Ack.COMMITTED, timeout: Optional[float] = None) -> WriteResult:
        """Delete key. WriteResult.found is False when it did not exist."""
        k = self._key(key)
        return await self._write("delete", k, ack, timeout, lambda r, o: r.delete.CopyFrom(pb.DeleteRequest(key=k, options=o)))

    async def cas(
        self,
        key: Bytes,
        expected_version: int,
        value: Bytes,
        *,
        ack: Ack = Ack.COMMITTED,
        timeout: Optional[float] = None,
        lease: int = 0,
    ) -> WriteResult:
        """Set key to value if its version (mod_index) is expected_version (0:
        the key must not exist). Raises ConditionFailed (with
        current_version) when it is not. lease: as for put."""
        k, v = self._key(key), codec.as_bytes(value)
        return await self._write(
            "cas",
            k,
            ack,
            timeout,
            lambda r, o: r.cas.CopyFrom(
                pb.CasRequest(key=k, expected_version=expected_version, value=v, options=o, lease=lease)
            ),
        )

    async def txn(
        self,
        compares: Sequence[Compare] = (),
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
        *,
        timeout: Optional[float] = None,
    ) -> TxnResult:
        """One TXN (docs/protocol.md §4.9): if every compare holds, run the
        success ops, else the failure ops, as one Raft entry. Every key must
        be in one partition (give them one hash tag, "{user42}:cart"), else
        InvalidArgument. Retried like a write: applied at most once."""
        keys = [x.key for x in compares] + [o.key for o in success] + [o.key for o in failure]
        if not keys:
            raise UsageError("txn: no compare and no op")
        body = codec.txn_request(compares, success, failure)
        resp = await self._write_raw("txn", self._key(keys[0]), Ack.COMMITTED, timeout, lambda r, o: _fill_txn(r, body, o))
        return codec.txn_result(resp)

    async def _write(
        self, op: str, key: bytes, ack: Ack, timeout: Optional[float], body: Callable[[pb.Request, pb.WriteOptions], object]
    ) -> WriteResult:
        return codec.write_result(await self._write_raw(op, key, ack, timeout, body), op)

    async def _write_raw(
        self, op: str, key: bytes, ack: Ack, timeout: Optional[float], body: Callable[[pb.Request, pb.WriteOptions], object]
    ) -> pb.Response:
        seq = self._next_seq
        self._next_seq += 1
        opts = codec.write_options(Ack(ack), self.client_id, seq, self.token())
        req = _Req(op, key, True, None, self._deadline(timeout))

        def fill(r: pb.Request) -> None:
            o = pb.WriteOptions()
            o.CopyFrom(opts)
            o.retry = req.retry.maybe_applied
            if o.retry:
                self.stats.resent_maybe_applied += 1
            body(r, o)

        return await self._keyed(req, fill)

    def _key(self, key: Bytes) -> bytes:
        k = codec.as_bytes(key)
        if not k:
            raise UsageError("empty key")
        return k

    def _deadline(self, timeout: Optional[float]) -> float:
        t = self.timeout if timeout is None else float(timeout)
        if t <= 0:
            raise UsageError("timeout must be positive")
        return time.monotonic() + t

    # ---- the retry loop

    async def _keyed(self, req: _Req, fill: Callable[[pb.Request], None]) -> pb.Response:
        self._check_open()
        while True:
            now = time.monotonic()
            if self._map is None:
                try:
                    await self._await_map(req.retry.deadline - now)
                except (Unauthenticated, PermissionDenied):
                    raise
                except TunekvError as e:
                    req.retry.message = f"no partition map: {e.message}"
                    act, at = req.retry.next(End.NO_ROUTE, e.status, False, time.monotonic())
                    await self._act_or_raise(req, act, at, None)
                    continue
            node, addr, no_forward = self._route(req)
            left = req.retry.deadline - time.monotonic()
            if left <= 0:
                self._give_up(req, None)
            r = pb.Request(timeout_ms=max(1, int(left * 1000)), no_forward=no_forward)
            fill(r)
            end, resp, has_hint = End.ANSWER, None, False
            sent_at = time.monotonic()
            try:
                resp = await self._attempt(addr, r, left + GRACE)
            except _Refused as e:
                end = End.REFUSED
                req.retry.message = str(e)
                self._failed[addr] = time.monotonic()
            except _Lost as e:
                end = End.LOST if e.sent else End.UNSENT
                req.retry.message = f"{addr}: {e}"
            except asyncio.TimeoutError:
                req.retry.attempts += 1
                req.retry.expire(True)
                req.retry.message = f"no answer from {addr}"
                self._give_up(req, None)
            req.retry.attempts += 1
            if req.retry.attempts > 1:
                self.stats.retries += 1
            status: int = Status.OK
            if resp is not None:
                status = codec.status(resp)
                has_hint = self._absorb_answer(req, node, resp, time.monotonic() - sent_at)
                req.retry.message = resp.message
            elif end in (End.LOST, End.REFUSED) and req.spread and node:
                req.tried.add(node)
            if wants_refresh(end, status, has_hint):
                self._start_refresh()
            req.retry.elsewhere = self._has_elsewhere(req)
            act, at = req.retry.next(end, status, has_hint, time.monotonic())
            if act is Action.DELIVER:
                assert resp is not None
                return resp
            await self._act_or_raise(req, act, at, resp)

    async def _act_or_raise(self, req: _Req, act: Action, at: float, resp: Optional[pb.Response]) -> None:
        if act is Action.GIVE_UP:
            self._give_up(req, resp)
        if act is Action.LATER:
            await asyncio.sleep(max(0.0, at - time.monotonic()))

    def _give_up(self, req: _Req, resp: Optional[pb.Response]) -> None:
        r = req.retry
        status = r.final_status()
        n = r.attempts
        last = _status_name(r.status)
        detail = f": {r.message}" if r.message else ""
        if n == 0:
            msg = f"{req.op}: could not be sent in time ({last}{detail})"
        else:
            msg = f"{req.op}: gave up after {n} attempt{'s' if n != 1 else ''} (last: {last}{detail})"
        if status == Status.OUTCOME_UNKNOWN:
            raise OutcomeUnknown(msg + "; the write may or may not have been applied")
        if resp is not None and resp.status == status:
            raise codec.error(resp, req.op)
        raise error_class(status)(msg)

    def _absorb_answer(self, req: _Req, node: int, resp: pb.Response, rtt: float) -> bool:
        """Record what an answer says: the leader it names, its token delta,
        the health and round trip of the node. Returns whether a NOT_LEADER
        named a leader (followed at once)."""
        hint_id, hint_addr = codec.leader_hint(resp)
        status = codec.status(resp)
        if status in (Status.NOT_LEADER, Status.BOUND_UNMET) and hint_id and self._map is not None:
            self._map.hint(req.partition, hint_id, hint_addr)
        if status == Status.NOT_LEADER:
            self.stats.not_leader += 1
        self._absorb(codec.token_delta(resp))
        if node and status in (Status.UNAVAILABLE, Status.BUSY):
            self._unhealthy[node] = time.monotonic()
        if status in (Status.NOT_LEADER, Status.UNAVAILABLE, Status.NO_QUORUM, Status.BUSY, Status.TIMEOUT):
            if req.spread and node:
                req.tried.add(node)
        elif node and not req.write and status in (Status.OK, Status.NOT_FOUND):
            avg, when = self._rtt.get(node, (0.0, 0.0))
            now = time.monotonic()
            avg = rtt if when == 0 or now - when >= RTT_STALE else avg + (rtt - avg) / RTT_WEIGHT
            self._rtt[node] = (avg, now)
        return status == Status.NOT_LEADER and hint_id != 0

    # ---- routing

    def _down(self, node: int, now: float) -> bool:
        m = self._map
        addr = m.nodes.get(node) if m else None
        failed = self._failed.get(addr, 0.0) if addr else 0.0
        unhealthy = self._unhealthy.get(node, 0.0)
        return bool(failed and now - failed < DOWN_INTERVAL) or bool(unhealthy and now - unhealthy < DOWN_INTERVAL)

    def _candidates(self, req: _Req) -> List[_Candidate]:
        """Replicas of req's partition (and its leader): (node, leader,
        down, tried, rtt or None, local: in this client's zone)."""
        m = self._map
        assert m is not None
        p = req.partition
        ids = list(m.replicas[p])
        if m.leaders[p] and m.leaders[p] not in ids:
            ids.append(m.leaders[p])
        now = time.monotonic()
        out = []
        for n in ids:
            if n not in m.nodes:
                continue
            avg, when = self._rtt.get(n, (0.0, 0.0))
            rtt = avg if when and now - when < RTT_STALE else None
            local = bool(self.zone) and m.zones.get(n, "") == self.zone
            out.append((n, n == m.leaders[p], self._down(n, now), n in req.tried, rtt, local))
        return out

    def _choose(self, req: _Req) -> int:
        """The replica for a spread read: libtunekv's map_choose."""
        cands = self._candidates(req)
        if not cands:
            return 0
        route = req.read.route if req.read else Route.ANY

        def cls(c: _Candidate) -> int:
            _, leader, down, tried, _, local = c
            if tried:
                return 4
            if route == Route.FOLLOWER_PREFERRED:
                return (2 if down else 0) + (1 if leader else 0)
            if route == Route.NEAREST:
                # Down replicas are one class whatever their zone: once the
                # zone has no usable replica NEAREST is what it was.
                return 2 if down else (0 if local else 1)
            return 1 if down else 0

        def rank(c: _Candidate) -> float:
            if route != Route.NEAREST or c[3] or c[4] is None:
                return 0.0
            return c[4] + 1e-9

        best = min((cls(c), rank(c)) for c in cands)
        members = [c for c in cands if (cls(c), rank(c)) == best]
        if all(c[3] for c in cands):
            req.tried.clear()  # every replica failed this read: a new round
        pick = members[self._rr % len(members)]
        self._rr += 1
        return pick[0]

    def _has_elsewhere(self, req: _Req) -> bool:
        if not req.spread or self._map is None:
            return False
        return any(not tried and not down for (_, _, down, tried, _, _) in self._candidates(req))

    def _route(self, req: _Req) -> Tuple[int, str, bool]:
        """(node, address, no_forward) of req's next attempt. Without a map
        or a reachable node, an endpoint that forwards it."""
        m = self._map
        fallback = (0, self.endpoints[self._last_endpoint], False)
        if m is None:
            return fallback
        req.partition = m.partition_of(req.key)
        if req.read is not None and req.read.node_id:
            addr = m.nodes.get(req.read.node_id)
            if addr is None:
                raise UsageError(f"{req.op}: node {req.read.node_id} is not in the cluster")
            req.target = req.read.node_id
            return req.target, addr, False
        node = self._choose(req) if req.spread else 0
        if node == 0:
            node = self._pick_leader(req)
        req.routes += 1
        addr = m.nodes.get(node) if node else None
        if addr is None:
            req.target = 0
            return fallback
        req.target = node
        return node, addr, True

    def _pick_leader(self, req: _Req) -> int:
        """The partition's leader; with none known, its replicas in turn,
        skipping those that failed in the last second unless all did."""
        m = self._map
        assert m is not None
        p = req.partition
        if m.leaders[p]:
            return m.leaders[p]
        reps = m.replicas[p]
        if not reps:
            return 0
        now = time.monotonic()
        for i in range(len(reps)):
            n = reps[(req.routes + i) % len(reps)]
            if not self._down(n, now):
                req.routes += i
                return n
        return reps[req.routes % len(reps)]

    # ---- connections and attempts

    async def _conn(self, addr: str) -> _Conn:
        c = self._conns.get(addr)
        if c is not None and not c.closed:
            return c
        fut = self._connecting.get(addr)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._connecting[addr] = fut
        try:
            c = _Conn(addr, self.stats, self.max_inflight, self.tls)
            await c.open(self.connect_timeout)
            if self.user is not None:
                await self._auth(c)
            self._conns[addr] = c
            self._failed.pop(addr, None)
            fut.set_result(c)
            return c
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            del self._connecting[addr]

    async def _auth(self, c: _Conn) -> None:
        """AUTH on c, a new connection, before anything else is sent on it
        (protocol.md §4.7). A wrong user or password raises
        Unauthenticated (retrying cannot help); the server's AUTH limit
        (BUSY) and a lost connection count as a refused connect."""
        req = pb.Request(id=self._next_id, auth=pb.AuthRequest(user=self.user, password=self._password))
        self._next_id += 1
        try:
            resp = await asyncio.wait_for(c.send(req), self.timeout)
        except (_Lost, asyncio.TimeoutError) as e:
            await c.close()
            raise _Refused(f"{c.addr}: AUTH: {str(e) or 'no answer'}") from None
        if resp.status == pb.STATUS_OK:
            return
        await c.close()
        message = f"AUTH as {self.user} at {c.addr}: {resp.message}"
        if resp.status == pb.STATUS_BUSY:
            raise _Refused(message)
        raise error_class(resp.status)(message)

    async def _attempt(self, addr: str, req: pb.Request, wait: float) -> pb.Response:
        """Send req to addr and wait up to wait seconds for its answer."""
        c = await self._conn(addr)
        async with c.slots:
            req.id = self._next_id
            self._next_id += 1
            self.stats.attempts += 1
            fut = c.send(req)
            try:
                await c.drain()
                return await asyncio.wait_for(fut, wait)
            except BaseException:
                # Timed out, or the caller cancelled: a late answer is
                # dropped (and counted) by the reader.
                c.forget(req.id)
                raise

    # ---- the partition map

    def _map_fetch(self) -> asyncio.Task[ClusterInfo]:
        """The map fetch under way, or a new one. It runs as a task of its
        own, so that a caller that gives up or is cancelled does not cancel
        it for the others waiting on it."""
        task = self._map_task
        if task is None:
            self._map_fetched = time.monotonic()
            task = asyncio.get_running_loop().create_task(self._cluster_info())
            self._map_task = task
            self._tasks.add(task)
            task.add_done_callback(self._map_done)
        return task

    def _map_done(self, task: asyncio.Task[ClusterInfo]) -> None:
        self._tasks.discard(task)
        if self._map_task is task:
            self._map_task = None
        if not task.cancelled():
            task.exception()  # a failed fetch is retried by the requests that need a map

    def _start_refresh(self) -> None:
        """Fetch the map in the background, at most every 100 ms."""
        if self._map_task is None and time.monotonic() - self._map_fetched >= REFRESH_INTERVAL:
            self._map_fetch()

    async def _await_map(self, timeout: float) -> None:
        """Fetch the map (or join the fetch under way); wait at most timeout."""
        try:
            await asyncio.wait_for(asyncio.shield(self._map_fetch()), max(timeout, 0.001))
        except asyncio.TimeoutError:
            raise Timeout("no answer to CLUSTER_INFO yet") from None

    async def _cluster_info(self) -> ClusterInfo:
        """CLUSTER_INFO from the endpoints in turn (from the last that
        worked), then from every other known node; updates the map. Each
        try has the client's default deadline, not a request's: a request's
        own timeout may exceed what the server accepts."""
        order = [self.endpoints[(self._last_endpoint + i) % len(self.endpoints)] for i in range(len(self.endpoints))]
        if self._map is not None:
            order += [a for a in self._map.nodes.values() if a not in order]
        # Nodes whose connection failed in the last second last (stable).
        now = time.monotonic()
        order.sort(key=lambda a: a in self._failed and now - self._failed[a] < DOWN_INTERVAL)
        failures = []
        for addr in order:
            wait = self.timeout
            self.stats.map_fetches += 1
            try:
                resp = await self._attempt(addr, pb.Request(timeout_ms=max(1, int(wait * 1000)), cluster_info=pb.ClusterInfoRequest()), wait + GRACE)
                ci = codec.cluster_info(resp)
            except _Refused as e:
                self._failed[addr] = time.monotonic()
                failures.append(str(e))
                continue
            except (Unauthenticated, PermissionDenied):
                raise  # every node would say the same
            except (_Lost, asyncio.TimeoutError, TunekvError) as e:
                failures.append(f"{addr}: {str(e) or type(e).__name__}")
                continue
            self._map = _Map(ci)
            if addr in self.endpoints:
                self._last_endpoint = self.endpoints.index(addr)
            return ci
        raise ConnectFailed("cluster_info: cannot get the partition map from any node (" + "; ".join(failures) + ")")

    # ---- STATUS and CLUSTER_INFO

    async def cluster_info(self) -> ClusterInfo:
        """The cluster layout (CLUSTER_INFO) from the first endpoint that
        answers, then any other known node. Also refreshes the client's
        map. Not retried."""
        self._check_open()
        return await self._cluster_info()

    async def status(self, node_id: int = 0) -> NodeStatus:
        """STATUS of node node_id, or (0) of the first endpoint, in order,
        that accepts a connection. Not retried: an unreachable node is
        ConnectFailed, a connection lost before the answer
        ConnectionClosed."""
        self._check_open()
        if node_id:
            if self._map is None or node_id not in self._map.nodes:
                await self._await_map(self.timeout)
            assert self._map is not None
            if node_id not in self._map.nodes:
                raise UsageError(f"status: node {node_id} is not in the cluster")
            order = [self._map.nodes[node_id]]
        else:
            order = [self.endpoints[(self._last_endpoint + i) % len(self.endpoints)] for i in range(len(self.endpoints))]
        req = pb.Request(timeout_ms=int(self.timeout * 1000), status=pb.StatusRequest())
        return codec.node_status(await self._admin("status", order, req))

    async def _admin(self, op: str, order: List[str], req: pb.Request) -> pb.Response:
        """req's answer from the first address of order that accepts a
        connection. Not retried: an unreachable node is ConnectFailed, a
        connection lost before the answer ConnectionClosed."""
        failures = []
        for addr in order:
            try:
                return await self._attempt(addr, req, self.timeout + GRACE)
            except _Refused as e:
                failures.append(str(e))
                continue
            except _Lost as e:
                raise ConnectionClosed(f"{op}: {addr}: {e}") from None
            except asyncio.TimeoutError:
                raise Timeout(f"{op}: no answer from {addr}") from None
        raise ConnectFailed(f"{op}: cannot connect to " + "; ".join(failures))

    async def user_role(
        self,
        op: UserRoleOp,
        name: str = "",
        *,
        password: Bytes = b"",
        role: str = "",
        permission: str = "",
        prefix: Bytes = b"",
        old_password: Optional[Bytes] = None,
    ) -> UserRoleResult:
        """User and role management (docs/protocol.md §4.8; needs admin when
        auth is on): from the first endpoint that accepts a connection, the
        change forwarded by it to where it is made. Not retried: a change
        that timed out may have happened (list to find out).

        USER_PASSWD with old_password (the user's current password) is the
        self-service change: the client's own user needs no admin for it.
        Once made, the client AUTHs with the new password, and its idle
        connections reconnect (the server refuses the user's connections
        that proved the old password, except the one that made the change)."""
        self._check_open()
        pw = password.encode() if isinstance(password, str) else bytes(password)
        pf = prefix.encode() if isinstance(prefix, str) else bytes(prefix)
        old = b"" if old_password is None else (
            old_password.encode() if isinstance(old_password, str) else bytes(old_password))
        body = pb.UserRoleRequest(
            op=cast(pb.UserRoleOp, int(UserRoleOp(op))), name=name, password=pw, role=role,
            permission=permission, prefix=pf, old_password=old,
        )
        order = [self.endpoints[(self._last_endpoint + i) % len(self.endpoints)] for i in range(len(self.endpoints))]
        req = pb.Request(timeout_ms=int(self.timeout * 1000), user_role=body)
        result = codec.user_role_result(await self._admin("user_role", order, req))
        if UserRoleOp(op) == UserRoleOp.USER_PASSWD and old and name == self.user:
            await self._adopt_password(pw)
        return result

    async def _adopt_password(self, password: bytes) -> None:
        """Our own password changed: AUTH with the new one from now on, and
        close the idle connections so that they reconnect with it."""
        self._password = password
        for addr, c in list(self._conns.items()):
            if not c.pending:
                del self._conns[addr]
                await c.close()

    # ---- leases (docs/protocol.md §4.11, docs/recipes.md)

    async def _lease(self, op: str, body: pb.LeaseRequest) -> pb.Response:
        """One LEASE request to the first endpoint that accepts a connection
        (it forwards to the partition's leader). Answers saying the partition
        has no leader right now (nothing was done) are retried with backoff,
        for about 5 s, as libtunekv does; nothing else is."""
        self._check_open()
        order = [self.endpoints[(self._last_endpoint + i) % len(self.endpoints)] for i in range(len(self.endpoints))]
        req = pb.Request(timeout_ms=int(self.timeout * 1000), lease=body)
        for attempt in range(10):
            resp = await self._admin(op, order, req)
            if error_class(resp.status) not in (NotLeader, Unavailable, NoQuorum) or attempt == 9:
                return resp
            await asyncio.sleep(0.05 * (1 << min(attempt, 4)))
        raise AssertionError("unreachable")

    async def lease_grant(self, ttl_ms: int, tag: Bytes = b"") -> Lease:
        """Grant a lease of ttl_ms in the partition of tag (a hash tag such as
        "{job}": the keys it will hold must share its partition). Raises
        InvalidArgument for a TTL outside the server's bounds, Busy when the
        partition holds leases_max leases."""
        t = codec.as_bytes(tag)
        return codec.lease_result(await self._lease("lease_grant", pb.LeaseRequest(op=pb.LEASE_GRANT, ttl_ms=ttl_ms, key=t)), "lease_grant")

    async def lease_keepalive(self, lease_id: int) -> Lease:
        """Start the lease's TTL again (on the leader's clock); NotFound once
        it expired or was revoked."""
        body = pb.LeaseRequest(op=pb.LEASE_KEEPALIVE, id=lease_id)
        return codec.lease_result(await self._lease("lease_keepalive", body), "lease_keepalive")

    async def lease_revoke(self, lease_id: int) -> None:
        """End the lease now: its keys are deleted in the same entry."""
        body = pb.LeaseRequest(op=pb.LEASE_REVOKE, id=lease_id)
        codec.lease_result(await self._lease("lease_revoke", body), "lease_revoke")

    async def lease_info(self, lease_id: int) -> Lease:
        """The lease's TTL, remaining time and keys."""
        body = pb.LeaseRequest(op=pb.LEASE_INFO, id=lease_id)
        return codec.lease_result(await self._lease("lease_info", body), "lease_info")

    async def lease_list(self, partition: int) -> List[Lease]:
        """The leases of one partition (keys counted, not listed)."""
        body = pb.LeaseRequest(op=pb.LEASE_LIST, partition=partition, use_partition=True)
        return codec.lease_list_result(await self._lease("lease_list", body))

    # ---- watches (docs/protocol.md, WATCH; watch.py)

    async def watch(
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
    ) -> AsyncWatch:
        """Watch key, or every key under prefix (b"": every key): an
        AsyncWatch of its changes, on a connection of its own, once a node
        confirmed it. consistency decides where the stream may start, as
        for scan_page (docs/consistency.md, "Watches"); BOUNDED_STALENESS
        takes max_staleness_ms and ends a stream that goes over it (it then
        resumes elsewhere). start: where to go on from, the positions of an
        earlier watch (partition -> after_index), or an int for every
        partition (a key's watch: after that index); None: from now.
        node_id: the node to try first; else a watch of one partition (a
        key, a prefix holding a whole hash tag) starts on its leader, where
        events come first, unless route is not LEADER (then the endpoints
        in turn). A node that sends nothing for silence_ms is taken as gone
        and the watch resumes on another, the lost node last.
        timeout: for each start of the stream (the client's by default).
        Raises Compacted when start is older than the change history kept,
        Busy beyond the server's watch limits, and the other TunekvErrors."""
        self._check_open()
        if (key is None) == (prefix is None):
            raise UsageError("watch: give a key or a prefix (not both)")
        k = self._key(key) if key is not None else codec.as_bytes(prefix if prefix is not None else b"")
        if isinstance(start, bool) or (isinstance(start, int) and start < 0):
            raise UsageError("watch: start must be an index >= 0 or a dict of them")
        if start is not None and not isinstance(start, int):
            if any(not isinstance(p, int) or not isinstance(i, int) or p < 0 or i < 0 for p, i in start.items()):
                raise UsageError("watch: start must map partitions to indexes >= 0")
        if silence_ms < 0 or max_staleness_ms < 0 or node_id < 0:
            raise UsageError("watch: silence_ms, max_staleness_ms and node_id must be >= 0")
        if timeout is not None and timeout <= 0:
            raise UsageError("timeout must be positive")
        options = ReadOptions(
            level=Consistency(consistency),
            max_staleness_ms=max_staleness_ms,
            route=Route(route),
            timeout=timeout,
            node_id=node_id,
        )
        w = AsyncWatch(self, k, prefix is not None, keys_only, options, start, silence_ms)
        await w._open()
        self._watches.add(w)
        return w

    def _watch_addrs(self) -> List[str]:
        """Where a watch may start: the endpoints, then every other node
        of the map (as libtunekv's peers)."""
        addrs = list(self.endpoints)
        if self._map is not None:
            addrs += [a for a in self._map.nodes.values() if a not in addrs]
        return addrs

    async def _node_addr(self, node_id: int) -> Optional[str]:
        """Node node_id's client address by the map (fetched if it does not
        name the node yet); None when it is not known."""
        if node_id == 0:
            return None
        if self._map is None or node_id not in self._map.nodes:
            try:
                await self._await_map(self.timeout)
            except TunekvError:
                return None
        return self._map.nodes.get(node_id) if self._map is not None else None

    # ---- life

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("the client is closed")

    async def close(self) -> None:
        """Close every connection. Requests in flight fail."""
        self._closed = True
        for w in list(self._watches):
            await w.close()
        for task in list(self._tasks):
            task.cancel()
        conns = list(self._conns.values())
        self._conns.clear()
        for c in conns:
            await c.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

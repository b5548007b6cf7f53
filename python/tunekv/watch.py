"""Watches: AsyncWatch (asyncio) and the blocking Watch built on it.

A watch follows the changes of one key, or of every key under a prefix
(docs/protocol.md "WATCH", docs/consistency.md "Watches"), with the rules
of libtunekv's src/client/client_watch.c, so that the two clients behave
alike:

- It has a connection of its own (with AUTH when the client has a user):
  the stream's frames never queue behind the client's other requests, and
  reading them directly from the socket keeps the server's flow control
  (a watcher that stops reading is bounded by the server, not buffered
  here without end).
- It keeps two positions in each partition: what it received (the
  created frame's start, then the newest index of every event and
  progress frame; frames hold whole log entries), where its own resumes
  start, since the events buffered go out first anyway; and what it
  handed to the caller, whole log entries (a TXN's index counts once its
  last change is out), which `positions` reports: a watch opened again
  from those gets exactly the changes not handed out yet.
- When its stream breaks (the connection is lost, the node shuts down,
  a BOUNDED_STALENESS stream goes over its bound, or the node sends
  nothing for silence_ms, while the server sends progress every
  watch_progress_ms; a node that loses a partition's leadership keeps
  serving its stream, from its replica)
  it opens it again after those positions on the next node that takes it:
  the leader a NOT_LEADER answer named, else every known node in turn
  (the client's endpoints first) from the one that served it last, the
  node it was just lost on at the end. Its first start tries node_id, or
  for a watch of one partition with route LEADER (the default) that
  partition's leader (a fresh CLUSTER_INFO): a follower applies a write
  only once it hears it was committed, with the leader's next append or
  heartbeat, so a leader's stream is the freshest. Events already
  received are handed out first.
- NOT_LEADER, UNAVAILABLE, NO_QUORUM, BOUND_UNMET, TIMEOUT, BUSY and a
  failed or lost connection are worth another node; COMPACTED, refusals
  (permissions, bad arguments) and undecodable answers end it for good,
  and every later call raises the same error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Mapping, Optional, Tuple, Union

from . import _codec as codec
from . import tunekv_pb2 as pb
from .errors import (
    Compacted,
    ConnectFailed,
    ConnectionClosed,
    ProtocolError,
    Timeout,
    TunekvError,
    UsageError,
)
from ._xxh64 import hash_tag, partition_of
from .types import Consistency, EventType, ReadOptions, Route, Status, WatchEvent, WatchInfo

if TYPE_CHECKING:
    from .aio import AsyncClient
    from .client import Client

SILENCE_MS = 5000  # libtunekv's default silence_ms
# Pause after a round of nodes that all failed, so that a caller looping
# on next() does not spin (libtunekv's CLIENT_WATCH_BACKOFF_MS).
BACKOFF = 0.1

# Failures worth trying another node for, or the same one later.
_RETRYABLE = frozenset(
    {
        Status.NOT_LEADER,
        Status.UNAVAILABLE,
        Status.NO_QUORUM,
        Status.BOUND_UNMET,
        Status.TIMEOUT,
        Status.BUSY,
        Status.CONNECT_FAILED,
        Status.CONNECTION_CLOSED,
    }
)

# A start: after_index for every partition (an int, libtunekv's
# TKV_WATCH_EVERY_PARTITION), or per partition (a watch's positions).
Start = Union[int, Mapping[int, int], None]


def _retryable(e: TunekvError) -> bool:
    return e.status in _RETRYABLE


def _split(addr: str) -> Optional[Tuple[str, int]]:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


class _Link:
    """The watch's connection: frames out, and frames in read straight from
    the socket. frame() may be cancelled (a timeout) at any point and
    called again: a half-read frame is finished by the next call."""

    def __init__(self, addr: str):
        self.addr = addr
        self.reader: Optional[asyncio.StreamReader] = None
        self.writer: Optional[asyncio.StreamWriter] = None
        self._body_len: Optional[int] = None  # a frame whose length was read

    async def open(self, client: "AsyncClient") -> None:
        hp = _split(self.addr)
        if hp is None:
            raise ConnectFailed(f"bad address {self.addr!r}")
        tls = client.tls
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(
                    hp[0], hp[1], ssl=tls, server_hostname=hp[0] if tls is not None else None
                ),
                client.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as e:
            raise ConnectFailed(f"cannot connect to {self.addr}: {e or 'connect timed out'}") from None

    def send(self, req: pb.Request) -> None:
        if self.writer is None or self.writer.is_closing():
            raise ConnectionClosed(f"{self.addr}: connection closed")
        self.writer.write(codec.frame(req))

    async def frame(self) -> pb.Response:
        """The next frame. Raises ConnectionClosed when the connection
        ends, ProtocolError for an undecodable or oversized frame."""
        assert self.reader is not None
        try:
            if self._body_len is None:
                n = codec.HEADER.unpack(await self.reader.readexactly(4))[0]
                if n > codec.RESPONSE_BYTES_MAX:
                    raise ProtocolError(f"{self.addr}: frame of {n} bytes exceeds {codec.RESPONSE_BYTES_MAX}")
                self._body_len = n
            body = await self.reader.readexactly(self._body_len)
        except (asyncio.IncompleteReadError, OSError) as e:
            raise ConnectionClosed(f"{self.addr}: connection lost ({e or 'closed'})") from None
        self._body_len = None
        return codec.decode_response(body)

    async def flush(self, timeout: float) -> None:
        if self.writer is not None:
            try:
                await asyncio.wait_for(self.writer.drain(), timeout)
            except (OSError, RuntimeError, asyncio.TimeoutError):
                pass

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class AsyncWatch:
    """A watch for asyncio (AsyncClient.watch opens it). Iterate it with
    `async for`, or call next(timeout); close() cancels it. Not
    thread-safe; it belongs to its client's event loop."""

    def __init__(
        self,
        client: "AsyncClient",
        key: bytes,
        prefix: bool,
        keys_only: bool,
        options: ReadOptions,
        start: Start,
        silence_ms: int,
    ):
        self._c = client
        self._key = key
        self._prefix = prefix
        self._keys_only = keys_only
        self._options = options
        self._silence = (silence_ms if silence_ms > 0 else SILENCE_MS) / 1000.0
        self._every: Optional[int] = start if isinstance(start, int) else None
        # Per partition: every change received at or below it (where a
        # resume starts), and every change handed out (positions).
        self._pos: Dict[int, int] = {} if start is None or isinstance(start, int) else dict(start)
        self._done: Dict[int, int] = dict(self._pos)
        self._link: Optional[_Link] = None
        self._id = 0  # the current stream's request id
        self._ended: Optional[TunekvError] = None  # what ended it for good
        self._closed = False
        self._events: Deque[WatchEvent] = deque()  # received, not handed out
        self._hint_node = options.node_id  # try it first; 0: none
        self._hint_addr = ""  # its address, when a NOT_LEADER answer gave one
        self._next_node = 0  # where a round of nodes starts
        self._lost_addr = ""  # the node whose stream was just lost: tried last
        self._heard = 0.0  # monotonic time of the last frame
        self._info = WatchInfo(node_id=0, level=options.level, staleness_ms=-1, resumes=0)
        self.errmsg = ""  # text of its last failure (a lost stream, a failed resume)

    # ---- what it is

    @property
    def positions(self) -> Dict[int, int]:
        """partition -> after_index: every change at or below it was handed
        out by next() (whole log entries: the changes of one TXN count once
        the last of them was). A watch opened with it as start= (after a
        crash of the application, say) gets exactly the changes it was not
        handed yet."""
        return dict(self._done)

    @property
    def info(self) -> WatchInfo:
        return self._info

    # ---- starting a stream

    def _request(self) -> pb.Request:
        o = self._options
        starts: List[pb.WatchStart] = []
        if self._every is not None:
            starts.append(pb.WatchStart(every=True, after_index=self._every))
        starts += [pb.WatchStart(partition=p, after_index=i) for p, i in sorted(self._pos.items())]
        # Its start sees the session's own writes (as libtunekv).
        tok = self._c.token() if o.level != Consistency.LINEARIZABLE else b""
        wq = pb.WatchRequest(
            key=self._key,
            prefix=self._prefix,
            keys_only=self._keys_only,
            start=starts,
            options=codec.read_options(o, tok),
        )
        self._id += 1
        t = o.timeout if o.timeout is not None else self._c.timeout
        return pb.Request(id=self._id, timeout_ms=max(1, int(t * 1000)), watch=wq)

    def _hint(self, resp: pb.Response) -> None:
        """A NOT_LEADER answer named the leader: the next start tries it."""
        node, addr = codec.leader_hint(resp)
        self._hint_node, self._hint_addr = node, addr

    def _error(self, resp: pb.Response) -> TunekvError:
        """The exception of a failed answer, keeping what COMPACTED says."""
        if codec.status(resp) == Status.NOT_LEADER:
            self._hint(resp)
        if codec.status(resp) == Status.COMPACTED and resp.WhichOneof("body") == "watch":
            w = resp.watch
            self._info = _replace(self._info, compacted_partition=w.compacted_partition, compacted_index=w.compacted_index)
            msg = f"watch: {resp.message}" if resp.message else "watch"
            return Compacted(msg, w.compacted_partition, w.compacted_index)
        return codec.error(resp, "watch")

    def _created(self, w: Any) -> None:
        """The created frame names every partition of the stream and where
        it starts: the positions are those (a resumed partition's events
        already received are past it)."""
        pos: Dict[int, int] = {}
        done: Dict[int, int] = {}
        for pr in w.progress:
            pos[pr.partition] = max(pr.index, self._pos.get(pr.partition, 0))
            done[pr.partition] = max(pr.index, self._done.get(pr.partition, 0))
        self._pos, self._done = pos, done
        self._every = None
        self._info = _replace(self._info, node_id=w.node_id, level=codec._enum(Consistency, w.level))

    async def _auth(self, link: _Link) -> None:
        c = self._c
        link.send(pb.Request(id=1 << 62, auth=pb.AuthRequest(user=c.user, password=c._password)))
        try:
            resp = await asyncio.wait_for(link.frame(), c.timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"{link.addr}: no answer to AUTH") from None
        if codec.status(resp) != Status.OK:
            raise codec.error(resp, f"watch: AUTH as {c.user} at {link.addr}")

    async def _try(self, addr: str) -> None:
        """Open the stream at addr, or raise why not."""
        link = _Link(addr)
        try:
            await link.open(self._c)
            if self._c.user is not None:
                await self._auth(link)
            link.send(self._request())
            try:
                resp = await asyncio.wait_for(link.frame(), self._c.timeout)
            except asyncio.TimeoutError:
                raise Timeout(f"{addr}: no answer") from None
            while resp.id != self._id:  # nothing else is in flight: an id-0 error, EOF next
                resp = await asyncio.wait_for(link.frame(), self._c.timeout)
            if codec.status(resp) != Status.OK:
                raise self._error(resp)
            if resp.WhichOneof("body") != "watch" or not resp.watch.created:
                raise ProtocolError(f"watch: {addr}: the first answer is not a created frame")
            self._created(resp.watch)
        except BaseException:
            link.close()
            raise
        self._link = link
        self._heard = time.monotonic()

    def _one_partition(self, partition_count: int) -> Optional[int]:
        """The one partition the watch reads (a key's, or a prefix's that
        holds a whole hash tag), else None."""
        k = self._key
        if partition_count == 0 or (self._prefix and (not k or hash_tag(k) == k)):
            return None
        return partition_of(k, partition_count)

    async def _locate(self) -> None:
        """The node to try first, by a fresh CLUSTER_INFO: the hinted node
        (node_id, a NOT_LEADER's) when only its id is known, else, for
        route LEADER (the default) and a watch of one partition, that
        partition's leader: events reach a leader's stream first (a
        follower applies a write once it hears it was committed, with the
        next append or heartbeat)."""
        want = self._hint_node
        if self._hint_addr or (self._options.route != Route.LEADER and want == 0):
            return
        try:
            ci = await self._c.cluster_info()
        except TunekvError:
            return
        p = self._one_partition(ci.partition_count) if want == 0 else None
        if p is not None:
            want = next((x.leader_id for x in ci.partitions if x.partition == p), 0)
        addr = next((n.client_addr for n in ci.nodes if want != 0 and n.node_id == want), "")
        if addr:
            self._hint_node, self._hint_addr = want, addr

    async def _try_hint(self) -> None:
        """Try the node hinted, once: by its address when known (located if
        not), else by the client's map."""
        if not self._hint_addr:
            await self._locate()
        node, addr = self._hint_node, self._hint_addr
        self._hint_node, self._hint_addr = 0, ""
        if not addr and node != 0:
            addr = await self._c._node_addr(node) or ""
        if not addr:
            raise ConnectFailed(f"watch: node {node}'s address is not known")
        await self._try(addr)

    def _hinted(self) -> bool:
        return self._hint_node != 0 or self._hint_addr != ""

    async def _start(self) -> None:
        """(Re)start the stream: a node hinted first (a NOT_LEADER's leader,
        at most as many hints as nodes since leadership may move while it
        looks; at the first start also node_id or the leader of the one
        partition watched), then every known node once from the one that
        served it last, the one whose stream was just lost at the end.
        Raises the last failure."""
        if self._hint_node == 0 and self._info.resumes == 0:
            await self._locate()  # a leader to prefer, perhaps
        addrs = self._c._watch_addrs()
        n, i, hints = len(addrs), 0, 0
        last: TunekvError = ConnectFailed("watch: no node to try")
        while i < 2 * n or (self._hinted() and hints <= n):  # two passes: others, then the lost
            try:
                if self._hinted() and hints <= n:
                    hints += 1
                    await self._try_hint()
                else:
                    k = (self._next_node + i % n) % n
                    second = i >= n
                    i += 1
                    self._hint_node, self._hint_addr = 0, ""
                    if (addrs[k] == self._lost_addr) != second:
                        continue
                    await self._try(addrs[k])
                    self._next_node = k  # stay here while it works
                self._lost_addr = ""
                return
            except TunekvError as e:
                last = e
                self.errmsg = e.message
                if not _retryable(e):
                    self._lost_addr = ""
                    raise
        raise last

    async def _open(self) -> None:
        await self._start()

    # ---- the stream

    def _lose(self, why: str) -> None:
        """The stream on the link is over (it may resume)."""
        if self._link is not None:
            self.errmsg = f"{self._link.addr}: {why}"
            self._lost_addr = self._link.addr
            self._link.close()
            self._link = None
            self._info = _replace(self._info, resumes=self._info.resumes + 1)

    def _advance(self, partition: int, index: int, handed_out: bool) -> None:
        """partition's position moves up to index (never back), and what
        was handed out too when handed_out."""
        if partition not in self._pos:
            return
        if index > self._pos[partition]:
            self._pos[partition] = index
        if handed_out and index > self._done[partition]:
            self._done[partition] = index

    def _take(self, resp: pb.Response) -> None:
        """Take in one frame of the stream."""
        if resp.id != self._id or resp.WhichOneof("body") != "watch":
            return  # WATCH_CANCEL's answer, an id-0 error
        w = resp.watch
        if codec.status(resp) != Status.OK or w.canceled:
            err = self._error(resp) if codec.status(resp) != Status.OK else None
            self._lose(resp.message or "the stream ended")
            if err is not None and not _retryable(err):
                self._ended = err
            return
        if w.progress:
            stale = max(pr.staleness_ms for pr in w.progress)
            self._info = _replace(self._info, staleness_ms=max(stale, -1))
        for pr in w.progress:
            # Frames are taken once the events before them are out: with no
            # events of its own, the caller has everything up to it.
            self._advance(pr.partition, pr.index, not w.events)
        for e in w.events:
            self._advance(e.partition, e.index, False)
            put = e.type != pb.EVENT_DELETE
            self._events.append(
                WatchEvent(
                    type=EventType.PUT if put else EventType.DELETE,
                    key=bytes(e.key),
                    value=bytes(e.value) if put and not self._keys_only else None,
                    partition=e.partition,
                    index=e.index,
                    create_index=e.create_index,
                    timestamp=e.timestamp,
                )
            )

    async def _read(self, deadline: float, listening: float) -> bool:
        """Wait for the next frame until deadline; a node silent for
        silence_ms counts as lost. False when the deadline came first.
        Silence counts from the last frame, or from when the caller began
        to listen (listening) if that is later: a caller that did not
        call next() for a while finds the frames sent meanwhile in the
        socket, and its node is not taken as gone for the pause (the
        C library reads what is buffered before it looks at the clock)."""
        assert self._link is not None
        silent = max(self._heard, listening) + self._silence
        until = min(deadline, silent)
        try:
            # A millisecond at least: the loop polls the socket once, so
            # that a frame which has arrived is taken (timeout 0 included).
            resp = await asyncio.wait_for(self._link.frame(), max(0.001, until - time.monotonic()))
        except asyncio.TimeoutError:
            if deadline < silent:
                return False
            self._lose(f"no frame for {self._silence * 1000:.0f} ms: taken as gone")
            return True
        except ProtocolError as e:
            self._lose(e.message)
            return True
        except ConnectionClosed:
            self._lose("connection lost")
            return True
        self._heard = time.monotonic()
        self._take(resp)
        return True

    async def next(self, timeout: Optional[float] = None) -> Optional[WatchEvent]:
        """The next event, waiting up to timeout seconds (None: no limit;
        0: only what has arrived); None when none came (the watch goes on). Raises what ended it for
        good (Compacted with compacted_partition and compacted_index,
        PermissionDenied, ...; again on every later call), or a failure to
        resume on any node (ConnectFailed, Unavailable, ...: the next call
        tries again)."""
        if self._closed:
            raise UsageError("the watch is closed")
        listening = time.monotonic()
        deadline = float("inf") if timeout is None else listening + max(0.0, timeout)
        while True:
            if self._events:
                return self._hand_out()
            if self._ended is not None:
                raise self._ended
            if self._link is None:
                try:
                    await self._start()
                except TunekvError as e:
                    if not _retryable(e):
                        self._ended = e
                    await asyncio.sleep(BACKOFF)
                    raise
                continue
            # At least one look at the socket, also with timeout 0.
            if not await self._read(deadline, listening):
                return None

    def _hand_out(self) -> WatchEvent:
        """The next buffered event; once the last one of its log entry is
        out (the events of one entry are adjacent), the caller has that
        whole index."""
        ev = self._events.popleft()
        nxt = self._events[0] if self._events else None
        if nxt is None or (nxt.partition, nxt.index) != (ev.partition, ev.index):
            self._advance(ev.partition, ev.index, True)
        return ev

    def __aiter__(self) -> "AsyncWatch":
        return self

    async def __anext__(self) -> WatchEvent:
        ev = await self.next()
        assert ev is not None
        return ev

    async def close(self) -> None:
        """Cancel it (WATCH_CANCEL, best effort) and close its connection.
        Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._c._watches.discard(self)
        link, self._link = self._link, None
        if link is not None:
            try:
                link.send(pb.Request(id=self._id + 1, watch_cancel=pb.WatchCancelRequest(watch_id=self._id)))
                await link.flush(self._c.timeout)
            except TunekvError:
                pass  # the close that follows ends the stream anyway
            link.close()
        self._events.clear()

    async def __aenter__(self) -> "AsyncWatch":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Watch:
    """A blocking watch (Client.watch opens it): an iterator of WatchEvent,
    next(timeout) returning None when none came, positions, info, close()
    (also as a context manager). It runs on its client's event loop; as the
    client, it is not thread-safe."""

    def __init__(self, client: "Client", aw: AsyncWatch):
        self._client = client
        self._aw = aw

    @property
    def positions(self) -> Dict[int, int]:
        """partition -> after_index (AsyncWatch.positions)."""
        return self._aw.positions

    @property
    def info(self) -> WatchInfo:
        return self._aw.info

    @property
    def errmsg(self) -> str:
        return self._aw.errmsg

    def next(self, timeout: Optional[float] = None) -> Optional[WatchEvent]:
        """The next event, or None after timeout seconds (AsyncWatch.next)."""
        return self._client._run(self._aw.next(timeout))

    def __iter__(self) -> "Watch":
        return self

    def __next__(self) -> WatchEvent:
        ev = self.next()
        assert ev is not None
        return ev

    def close(self) -> None:
        """Cancel it and close its connection (nothing to do once its
        client is closed: that closed it)."""
        if not self._client._closed_loop():
            self._client._run(self._aw.close())

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _replace(info: WatchInfo, **kw: Any) -> WatchInfo:
    return dataclasses.replace(info, **kw)

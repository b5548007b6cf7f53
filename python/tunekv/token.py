"""Session tokens: parse, merge, compare (docs/protocol.md §3.11).

A token is a list of entries (partition, kind W, R or T, index) that the
servers authenticated with a MAC; a client keeps, drops and merges whole
entries and never forges one. This is libtunekv's src/client/token.c in
Python: merging keeps one entry per (partition, kind), the one with the
highest index (the one held on a tie), entries sorted by (partition, kind)
so that the encoding is canonical, and the empty token is zero bytes.
"""

from __future__ import annotations

import enum
import struct
from typing import Dict, Tuple

VERSION = 1
HEADER_BYTES = 4
ENTRY_BYTES = 21
KIND_W = 1
KIND_R = 2
# The session's write-timestamp high-water mark (partition 0xFFFFFFFF).
KIND_T = 3
T_PARTITION = 0xFFFFFFFF
# The servers' default token_bytes_max, and libtunekv's TKV_TOKEN_BYTES_MAX.
BYTES_MAX = 8192
ENTRIES_MAX = (BYTES_MAX - HEADER_BYTES) // ENTRY_BYTES

_ENTRY = struct.Struct("<IBQ8s")

# (partition, kind) -> (index, mac)
Entries = Dict[Tuple[int, int], Tuple[int, bytes]]


class TokenOrder(enum.IntEnum):
    """How token a relates to token b (compare())."""

    EQUAL = 0
    BEFORE = 1  # b has seen all a has, and more
    AFTER = 2  # a has seen all b has, and more
    CONCURRENT = 3


def parse(b: bytes) -> Entries:
    """The entries of token b. Raises ValueError when b is not a token, and
    OverflowError when it exceeds BYTES_MAX."""
    if len(b) == 0:
        return {}
    if len(b) > BYTES_MAX:
        raise OverflowError(f"token of {len(b)} bytes exceeds {BYTES_MAX}")
    if len(b) < HEADER_BYTES or b[0] != VERSION or b[1] != 0:
        raise ValueError("not a tunekv session token (bad header)")
    count = int.from_bytes(b[2:4], "little")
    if len(b) != HEADER_BYTES + ENTRY_BYTES * count:
        raise ValueError("not a tunekv session token (length disagrees with count)")
    out: Entries = {}
    for i in range(count):
        part, kind, index, mac = _ENTRY.unpack_from(b, HEADER_BYTES + ENTRY_BYTES * i)
        if kind not in (KIND_W, KIND_R, KIND_T):
            raise ValueError(f"not a tunekv session token (entry kind {kind})")
        if kind == KIND_T and part != T_PARTITION:
            raise ValueError("not a tunekv session token (timestamp entry of a partition)")
        held = out.get((part, kind))
        if held is None or index > held[0]:
            out[(part, kind)] = (index, mac)
    return out


def encode(entries: Entries) -> bytes:
    """The canonical encoding of entries (b"" when there are none)."""
    if not entries:
        return b""
    parts = [bytes((VERSION, 0)) + len(entries).to_bytes(2, "little")]
    for (part, kind) in sorted(entries):
        index, mac = entries[(part, kind)]
        parts.append(_ENTRY.pack(part, kind, index, mac))
    return b"".join(parts)


def merge_bytes(a: bytes, b: bytes) -> bytes:
    """Tokens a and b merged: per (partition, kind) the higher index.
    Raises ValueError or OverflowError as parse(), and OverflowError when
    the result would exceed BYTES_MAX."""
    ea = parse(a)
    for key, (index, mac) in parse(b).items():
        held = ea.get(key)
        if held is None or index > held[0]:
            ea[key] = (index, mac)
    if len(ea) > ENTRIES_MAX:
        raise OverflowError(f"merged token would exceed {BYTES_MAX} bytes")
    return encode(ea)


def compare(a: bytes, b: bytes) -> TokenOrder:
    """How a relates to b, where a <= b means that for every (partition,
    kind) of a, b has an entry at least as high (MACs are not compared)."""
    ea, eb = parse(a), parse(b)

    def le(x: Entries, y: Entries) -> bool:
        return all(k in y and y[k][0] >= v[0] for k, v in x.items())

    a_le_b, b_le_a = le(ea, eb), le(eb, ea)
    if a_le_b and b_le_a:
        return TokenOrder.EQUAL
    if a_le_b:
        return TokenOrder.BEFORE
    if b_le_a:
        return TokenOrder.AFTER
    return TokenOrder.CONCURRENT


def index_of(b: bytes, partition: int, kind: int) -> int:
    """The index of b's entry for (partition, kind); 0 when it has none."""
    held = parse(b).get((partition, kind))
    return held[0] if held else 0


class Session:
    """The session token a client holds. Deltas from answers are merged in
    with eviction (the entries merged least recently make room, as in
    libtunekv); merge() and set() refuse a result over BYTES_MAX instead."""

    def __init__(self) -> None:
        self._entries: Entries = {}
        self._used: Dict[Tuple[int, int], int] = {}
        self._clock = 0
        self._bytes = b""

    def get(self) -> bytes:
        return self._bytes

    def set(self, b: bytes) -> None:
        entries = parse(bytes(b))
        self._entries = entries
        self._used = {k: 0 for k in entries}
        self._bytes = encode(entries)

    def reset(self) -> None:
        self.set(b"")

    def merge(self, b: bytes, evict: bool = False) -> None:
        incoming = parse(bytes(b))
        if not incoming:
            return
        self._clock += 1
        merged = dict(self._entries)
        used = dict(self._used)
        for key, (index, mac) in incoming.items():
            held = merged.get(key)
            if held is None or index > held[0]:
                merged[key] = (index, mac)
            used[key] = self._clock
        if len(merged) > ENTRIES_MAX:
            if not evict:
                raise OverflowError(f"merged token would exceed {BYTES_MAX} bytes")
            for key in sorted(used, key=lambda k: used[k]):
                if len(merged) <= ENTRIES_MAX:
                    break
                if key not in incoming:
                    del merged[key]
                    del used[key]
        self._entries = merged
        self._used = used
        self._bytes = encode(merged)

"""XXH64, the hash that places a key in a partition (docs/protocol.md §1).

The servers and libtunekv compute a key's partition as
``XXH64(key, seed 0) % partition_count``; a client that routes requests to
leaders by itself must compute the same number. Debian's python3-xxhash is
used when it is installed (it is C, and fast); otherwise this pure Python
version, which gives the same values (tests/test_xxh64.py checks both, and
libxxhash itself through ctypes when it is present), so that the package
needs nothing beyond python3-protobuf.
"""

from __future__ import annotations

_M = (1 << 64) - 1
_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _M
    return (_rotl(acc, 31) * _P1) & _M


def _merge(h: int, v: int) -> int:
    h ^= _round(0, v)
    return (h * _P1 + _P4) & _M


def xxh64_pure(data: bytes, seed: int = 0) -> int:
    """XXH64 of data, as the reference implementation computes it."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M
        v2 = (seed + _P2) & _M
        v3 = seed & _M
        v4 = (seed - _P1) & _M
        while i + 32 <= n:
            v1 = _round(v1, int.from_bytes(data[i : i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8 : i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16 : i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24 : i + 32], "little"))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


try:
    import xxhash as _xxhash

    def xxh64(data: bytes, seed: int = 0) -> int:
        """XXH64 of data (python3-xxhash)."""
        return _xxhash.xxh64_intdigest(data, seed)

except ImportError:  # pragma: no cover - depends on what is installed
    xxh64 = xxh64_pure


def hash_tag(key: bytes) -> bytes:
    """The bytes of key that choose its partition (docs/protocol.md §1): the
    part between the first ``{`` and the first ``}`` after it when at least
    one byte lies between them (redis cluster's hash tags), else the whole
    key. The servers and libtunekv apply the same rule (src/keyhash.h)."""
    start = key.find(b"{")
    if start < 0:
        return key
    end = key.find(b"}", start + 1)
    if end <= start + 1:
        return key
    return key[start + 1 : end]


def partition_of(key: bytes, partition_count: int) -> int:
    """The partition of key among partition_count."""
    return xxh64(hash_tag(key), 0) % partition_count

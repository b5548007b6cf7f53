"""Tests that need no cluster: xxh64, tokens, frames, generated code."""

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile

import pytest

from tunekv import _codec as codec
from tunekv import token as tokens
from tunekv import tunekv_pb2 as pb
from tunekv._xxh64 import hash_tag, partition_of, xxh64, xxh64_pure

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

# XXH64(data, seed) from the reference implementation (libxxhash 0.8).
VECTORS = [
    (b"", 0, 0xEF46DB3751D8E999),
    (b"a", 0, 0xD24EC4F1A98C6E5B),
    (b"abc", 0, 0x44BC2CF5AD770999),
    (b"hello world", 0, 0x45AB6734B21E6968),
    (b"The quick brown fox jumps over the lazy dog", 0, 0x0B242D361FDA71BC),
]


@pytest.mark.parametrize("data,seed,want", VECTORS)
def test_xxh64_vectors(data, seed, want):
    assert xxh64_pure(data, seed) == want
    assert xxh64(data, seed) == want


def test_xxh64_matches_libxxhash():
    name = ctypes.util.find_library("xxhash")
    if name is None:
        pytest.skip("libxxhash not installed")
    lib = ctypes.CDLL(name)
    lib.XXH64.restype = ctypes.c_uint64
    lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
    for n in list(range(0, 80)) + [100, 257, 1000, 4096]:
        data = os.urandom(n)
        for seed in (0, 1, 2**64 - 1):
            want = lib.XXH64(data, n, seed)
            assert xxh64_pure(data, seed) == want
            assert xxh64(data, seed) == want


# Key -> partition as main computed it before hash tags (the same table is in
# tests/unit/test_route.c): keys without a usable tag keep their partition.
PINNED = [
    (b"a", 3, 11, 2),
    (b"user:42", 2, 2, 2),
    (b"hello", 3, 3, 0),
    (b"{", 1, 9, 0),
    (b"}{", 4, 4, 2),
    (b"{}x", 5, 5, 0),
    (b"foo{", 2, 10, 1),
    (b"x}y{z", 7, 15, 0),
    (b"key-000001", 4, 12, 2),
]


@pytest.mark.parametrize("key,p8,p16,p3", PINNED)
def test_partition_pinned(key, p8, p16, p3):
    assert (partition_of(key, 8), partition_of(key, 16), partition_of(key, 3)) == (p8, p16, p3)


def test_hash_tags():
    assert hash_tag(b"{user42}:cart") == b"user42"
    assert hash_tag(b"x{a}{b}") == b"a"
    assert hash_tag(b"{{a}}") == b"{a"
    assert hash_tag(b"a{}b{c}") == b"a{}b{c}"  # the first '{' decides: empty tag
    assert partition_of(b"{user42}:cart", 16) == partition_of(b"{user42}:profile", 16) == 12
    assert partition_of(b"{user42}:cart", 16) == partition_of(b"user42", 16)


def test_frames_as_in_protocol_md():
    # docs/protocol.md §2.2.
    assert codec.frame(pb.Request(id=1, get=pb.GetRequest(key=b"a"))).hex() == "00000008080182010 30a0161".replace(" ", "")
    r = pb.Request(id=2, timeout_ms=1000, put=pb.PutRequest(key=b"a", value=b"hi"))
    assert codec.frame(r).hex() == "0000000f080210e8078a01070a0161120268 69".replace(" ", "")
    resp = codec.decode_response(bytes.fromhex("08028a01060807180328 01".replace(" ", "")))
    w = codec.write_result(resp, "put")
    assert (w.index, w.partition, w.durable, w.found) == (7, 3, True, True)


def test_undecodable_answer():
    from tunekv.errors import ProtocolError

    with pytest.raises(ProtocolError):
        codec.decode_response(b"\xff\xff\xff")


def _entry(part, kind, index, mac=b"M" * 8):
    return part.to_bytes(4, "little") + bytes([kind]) + index.to_bytes(8, "little") + mac


def _token(*entries):
    return bytes([1, 0]) + len(entries).to_bytes(2, "little") + b"".join(entries)


def test_token_merge_compare():
    a = _token(_entry(0, 1, 5), _entry(1, 2, 9))
    b = _token(_entry(0, 1, 7), _entry(2, 1, 3))
    m = tokens.merge_bytes(a, b)
    e = tokens.parse(m)
    assert {k: v[0] for k, v in e.items()} == {(0, 1): 7, (1, 2): 9, (2, 1): 3}
    assert tokens.compare(a, m) == tokens.TokenOrder.BEFORE
    assert tokens.compare(m, b) == tokens.TokenOrder.AFTER
    assert tokens.compare(a, b) == tokens.TokenOrder.CONCURRENT
    assert tokens.compare(m, tokens.merge_bytes(b, a)) == tokens.TokenOrder.EQUAL
    assert tokens.merge_bytes(b"", b"") == b""
    assert tokens.index_of(m, 1, tokens.KIND_R) == 9
    # Canonical: sorted by (partition, kind), whatever the input order.
    assert tokens.merge_bytes(_token(_entry(2, 1, 3), _entry(0, 1, 7)), b"") == tokens.merge_bytes(b, b"")
    bad_kinds = (_token(_entry(0, 4, 1)), _token(_entry(0, 3, 1)))  # unknown; T of a partition
    for bad in (b"\x02\x00\x00\x00", b"\x01\x00\x01\x00", *bad_kinds, b"\x01"):
        with pytest.raises(ValueError):
            tokens.parse(bad)


def test_session_evicts_least_recently_merged():
    s = tokens.Session()
    for p in range(tokens.ENTRIES_MAX):
        s.merge(_token(_entry(p, 1, 1)), evict=True)
    s.merge(_token(_entry(0, 1, 2)), evict=True)  # partition 0 is fresh again
    s.merge(_token(_entry(10_000, 1, 1)), evict=True)
    e = tokens.parse(s.get())
    assert len(e) == tokens.ENTRIES_MAX and (10_000, 1) in e and (0, 1) in e and (1, 1) not in e
    with pytest.raises(OverflowError):
        s.merge(_token(_entry(20_000, 1, 1)), evict=False)
    assert len(s.get()) <= tokens.BYTES_MAX


def test_generated_code_is_up_to_date():
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.skip("protoc not installed (protobuf-compiler)")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(
            [protoc, "-I", os.path.join(ROOT, "proto"), "--python_out", d, "--pyi_out", d,
             os.path.join(ROOT, "proto", "tunekv.proto")],
            check=True,
        )
        for name in ("tunekv_pb2.py", "tunekv_pb2.pyi"):  # the module and its type stub
            with open(os.path.join(d, name), "rb") as f:
                fresh = f.read()
            with open(os.path.join(ROOT, "python", "tunekv", name), "rb") as f:
                assert f.read() == fresh, f"python/tunekv/{name} is stale: run python/gen_proto.sh"


def test_version_is_the_projects():
    # One version for everything (issue 18): CMakeLists.txt's project().
    import re

    import tunekv

    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        want = re.search(r"project\(tunekv VERSION ([0-9.]+)", f.read()).group(1)
    with open(os.path.join(ROOT, "python", "pyproject.toml")) as f:
        got = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert got == want and tunekv.__version__ == want


def test_enums_print_their_names():
    from tunekv import Consistency, Status

    assert str(Consistency.SESSION) == "SESSION" and f"{Status.NOT_LEADER}" == "NOT_LEADER"
    assert Consistency.SESSION == 3


def test_lost_connection_tells_unsent_requests():
    # Three requests handed to the transport; the kernel took the first
    # frame and half of the second when the connection broke. The third
    # never left the client: it may be sent again as new, while the first
    # two may have reached the server (a write among them may be applied).
    import asyncio
    import socket

    from tunekv import aio
    from tunekv.types import Stats

    class Transport:
        buffered = 0

        def get_write_buffer_size(self):
            return self.buffered

    class Writer:
        def __init__(self, sock):
            self.sock, self.transport, self.data = sock, Transport(), b""

        def get_extra_info(self, name):
            return self.sock if name == "socket" else None

        def write(self, data):
            self.data += data

        def close(self):
            pass

    async def main():
        a, b = socket.socketpair()
        with a, b:
            conn = aio._Conn("127.0.0.1:1", Stats(), 16)
            conn.writer = Writer(a)
            frames = [pb.Request(id=i, put=pb.PutRequest(key=b"k", value=b"v" * 10)) for i in (1, 2, 3)]
            futs = [conn.send(r) for r in frames]
            n = len(codec.frame(frames[0]))
            conn.writer.transport.buffered = len(conn.writer.data) - (n + n // 2)
            conn._fail("test")
            return [f.exception().sent for f in futs]

    assert asyncio.run(main()) == [True, True, False]


def test_pip_install_without_network():
    # What python/README.md tells users: Debian's setuptools and protobuf,
    # nothing from an index. From a copy, so that the build leaves nothing
    # in the source tree.
    import importlib.util
    import sys

    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("pip or setuptools not installed (python3-pip, python3-setuptools)")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src")
        shutil.copytree(
            os.path.join(ROOT, "python"),
            src,
            ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"),
        )
        target = os.path.join(d, "site")
        env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--target", target, src],
            check=True,
            env=env,
            cwd=d,
        )
        env = dict(os.environ, PYTHONPATH=target)
        out = subprocess.run(
            [sys.executable, "-c", "import tunekv, tunekv.aio; print(tunekv.__file__, tunekv.Client.__name__)"],
            check=True,
            env=env,
            cwd=d,
            capture_output=True,
            text=True,
        ).stdout
        assert out.startswith(target) and out.split()[1] == "Client"
        assert os.path.exists(os.path.join(target, "tunekv", "py.typed"))


def _zoned_client(zone):
    """An AsyncClient in zone (never connected) whose map has one partition
    on nodes 1-3 in zones a, b, c, led by node 1, and node 1 measured
    fastest."""
    from tunekv import aio
    from tunekv.types import ClusterInfo, NodeInfo, PartitionInfo

    c = aio.AsyncClient("127.0.0.1:1", zone=zone)
    nodes = tuple(NodeInfo(i, f"127.0.0.1:{i}", "", z) for i, z in ((1, "a"), (2, "b"), (3, "c")))
    c._map = aio._Map(ClusterInfo(1, nodes, (PartitionInfo(0, 1, (1, 2, 3)),), 1))
    now = aio.time.monotonic()
    c._rtt = {1: (0.0001, now), 2: (0.04, now), 3: (0.04, now)}
    return c


def _nearest_picks(c, n=6, tried=()):
    from tunekv import aio
    from tunekv.types import Consistency, ReadOptions, Route

    picks = []
    for _ in range(n):
        req = aio._Req("get", b"k", False, ReadOptions(level=Consistency.EVENTUAL, route=Route.NEAREST), 0.0)
        req.tried = set(tried)
        picks.append(c._choose(req))
    return picks


def test_nearest_prefers_the_clients_zone(monkeypatch):
    # NEAREST by round trip alone: node 1, the fastest.
    monkeypatch.delenv("TKV_ZONE", raising=False)
    assert _nearest_picks(_zoned_client(None)) == [1] * 6
    # In zone b: node 2 however slow, while it is usable; else by round trip.
    c = _zoned_client("b")
    assert _nearest_picks(c) == [2] * 6
    assert _nearest_picks(c, tried=(2,)) == [1] * 6
    c._unhealthy[2] = __import__("time").monotonic()
    assert _nearest_picks(c) == [1] * 6
    # $TKV_ZONE when none is given; a label no node could carry is refused.
    monkeypatch.setenv("TKV_ZONE", "c")
    assert _nearest_picks(_zoned_client(None)) == [3] * 6
    from tunekv import UsageError

    with pytest.raises(UsageError):
        _zoned_client("no spaces")


def test_receipt_zone_decoded():
    r = pb.ReadReceipt(node_id=2, zone="b")
    assert codec.receipt(r).zone == "b"

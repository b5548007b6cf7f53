"""A local tunekv cluster of real tunekvd processes, for the tests.

Each node gets free loopback ports, its own data dir under a temporary
directory and a log file; the config file has a random cluster secret, as
scripts/cluster.sh writes one. Nodes report readiness on a pipe
(--ready-fd). Every process started here is killed by stop(), which the
fixtures run in their finalizers.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import socket
import subprocess
import time
from typing import Dict, List, Optional, Sequence


_next_port = 0


def free_port() -> int:
    """A free port below the kernel's ephemeral range, in a block of this
    process's own (as tests/lib/daemon.c picks them, in another range). A
    port the kernel hands out for bind(0) is an ephemeral one: the other
    tests' outgoing connections draw from the same range, and one of them
    took such a port before the node could bind it ("address already in
    use", seen under ctest -j)."""
    global _next_port
    block = 10000 + (os.getpid() % 78) * 128
    for _ in range(128):
        port = block + _next_port % 128
        _next_port += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in this process's block")


def find_tunekvd() -> Optional[str]:
    build = os.environ.get("TUNEKV_BUILD_DIR")
    if build is None:
        build = os.path.join(os.path.dirname(__file__), "..", "..", "build")
    path = os.path.abspath(os.path.join(build, "tunekvd"))
    return path if os.access(path, os.X_OK) else None


class LocalCluster:
    def __init__(self, tunekvd: str, dir: str, nodes: int = 3, partitions: int = 3, extra_conf: Sequence[str] = ()):
        self.tunekvd = tunekvd
        self.dir = dir
        self.n = nodes
        self.partitions = partitions
        self.client_addr: Dict[int, str] = {}
        self.peer_addr: Dict[int, str] = {}
        self.procs: Dict[int, subprocess.Popen] = {}
        self.conf = os.path.join(dir, "cluster.conf")
        for i in range(1, nodes + 1):
            self.client_addr[i] = f"127.0.0.1:{free_port()}"
            self.peer_addr[i] = f"127.0.0.1:{free_port()}"
        lines = [
            "[cluster]",
            f"secret = {secrets.token_hex(32)}",
            f"partitions = {partitions}",
            f"replicas = {min(3, nodes)}",
            "[raft]",
            # The defaults (a shorter election timeout would shorten the
            # failover test, but a loaded machine then sees elections no
            # test asked for).
            "election_timeout_ms = 1000",
            "heartbeat_timeout_ms = 100",
        ]
        lines += list(extra_conf)
        for i in range(1, nodes + 1):
            lines += [f"[node.{i}]", f"client_addr = {self.client_addr[i]}", f"peer_addr = {self.peer_addr[i]}"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def endpoints(self) -> List[str]:
        return [self.client_addr[i] for i in range(1, self.n + 1)]

    def log(self, i: int) -> str:
        return os.path.join(self.dir, f"node{i}.log")

    def spawn(self, i: int) -> int:
        """Start node i; returns the read end of its readiness pipe."""
        r, w = os.pipe()
        with open(self.log(i), "ab") as log:
            self.procs[i] = subprocess.Popen(
                [
                    self.tunekvd,
                    "--config", self.conf,
                    "--node-id", str(i),
                    "--bootstrap", "1",
                    "--data-dir", os.path.join(self.dir, f"node{i}"),
                    "--ready-fd", str(w),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(w,),
            )
        os.close(w)
        return r

    def await_ready(self, i: int, r: int, timeout: float = 30.0) -> None:
        """Wait for node i's "ready" (the pipe closes when it is written or
        the node dies)."""
        deadline = time.monotonic() + timeout
        got = b""
        try:
            while b"ready" not in got:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([r], [], [], left)[0]:
                    raise RuntimeError(f"node {i} not ready after {timeout} s: {self.tail(i)}")
                chunk = os.read(r, 64)
                if not chunk:
                    raise RuntimeError(f"node {i} exited before ready: {self.tail(i)}")
                got += chunk
        finally:
            os.close(r)

    def start(self) -> None:
        pipes = {i: self.spawn(i) for i in range(1, self.n + 1)}
        for i, r in pipes.items():
            self.await_ready(i, r)

    def restart(self, i: int) -> None:
        self.await_ready(i, self.spawn(i))

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(i, None)
        if p is not None:
            p.send_signal(sig)
            p.wait(timeout=30)

    def tail(self, i: int, n: int = 15) -> str:
        try:
            with open(self.log(i), "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> List[str]:
        """SIGTERM every node, SIGKILL what is left after 15 s. Returns what
        went wrong: a node that did not exit 0 (a clean shutdown), with the
        end of its log."""
        bad = []
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for i, p in self.procs.items():
            try:
                rc = p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                rc = "killed: no exit 15 s after SIGTERM"
            if rc != 0:
                bad.append(f"node {i} exited {rc}:\n{self.tail(i)}")
        self.procs.clear()
        return bad

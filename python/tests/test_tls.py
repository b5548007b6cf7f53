"""TLS on the client port, from Python: a single tunekvd with a throwaway
CA's certificate (scripts/tls-certs.sh), reached with tls_context(); a
plaintext client is told the port speaks TLS, and a client that trusts
another CA refuses the node."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Iterator, Tuple

import pytest

import tunekv
from cluster import LocalCluster, find_tunekvd

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.fixture(scope="module")
def tls_node() -> Iterator[Tuple[LocalCluster, str]]:
    tunekvd = find_tunekvd()
    if tunekvd is None:
        pytest.skip("tunekvd not built")
    with tempfile.TemporaryDirectory(prefix="tkv-pytls-") as tmp:
        certs = os.path.join(tmp, "certs")
        subprocess.run(
            ["bash", os.path.join(ROOT, "scripts", "tls-certs.sh"), "--test", certs, "node1"],
            check=True,
        )
        c = LocalCluster(tunekvd, tmp, nodes=1, partitions=1)
        with open(c.conf, "a") as f:
            f.write(f"[tls]\ncert_file = {certs}/node1.pem\nkey_file = {certs}/node1.key\n")
        try:
            c.start()
            yield c, certs
        finally:
            c.stop()


def test_put_get_over_tls(tls_node: Tuple[LocalCluster, str]) -> None:
    c, certs = tls_node
    with tunekv.Client(c.endpoints, tls=tunekv.tls_context(cacert=f"{certs}/ca.pem")) as cl:
        cl.put(b"py-tls", b"secret value")
        assert cl.get(b"py-tls").value == b"secret value"


def test_plaintext_client_is_told(tls_node: Tuple[LocalCluster, str]) -> None:
    c, _ = tls_node
    with tunekv.Client(c.endpoints, timeout=5.0) as cl:
        with pytest.raises(tunekv.TunekvError, match="this port speaks TLS"):
            cl.get(b"py-tls")


def test_other_ca_is_refused(tls_node: Tuple[LocalCluster, str]) -> None:
    c, certs = tls_node
    ctx = tunekv.tls_context(cacert=f"{certs}/other-ca.pem")
    with tunekv.Client(c.endpoints, timeout=5.0, tls=ctx) as cl:
        with pytest.raises(tunekv.TunekvError, match="CERTIFICATE_VERIFY_FAILED"):
            cl.get(b"py-tls")

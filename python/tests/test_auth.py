"""Client users ([auth] enabled = 1) from Python: a one-node cluster of its
own, root's password from root_password_file; no credentials and wrong
ones raise Unauthenticated at once (no retrying), root is served."""

import os
import shutil
import tempfile
import time

import pytest
from cluster import LocalCluster, find_tunekvd

import tunekv


@pytest.fixture(scope="module")
def auth_cluster():
    tunekvd = find_tunekvd()
    if tunekvd is None:
        pytest.skip("tunekvd not built")
    tmp = tempfile.mkdtemp(prefix="tkv-py-auth-", dir=os.environ.get("TMPDIR"))
    pw = os.path.join(tmp, "root-password")
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"py-root-password\n")
    os.close(fd)
    conf = ["[auth]", "enabled = 1", f"root_password_file = {pw}", "kdf_iterations = 1000"]
    c = LocalCluster(tunekvd, tmp, nodes=1, partitions=1, extra_conf=conf)
    try:
        c.start()
        yield c
    finally:
        bad = c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    assert not bad, "\n".join(bad)


def test_no_credentials(auth_cluster):
    with tunekv.Client(auth_cluster.endpoints, timeout=5.0) as c:
        t0 = time.monotonic()
        with pytest.raises(tunekv.Unauthenticated):
            c.put(b"k", b"v")
        assert time.monotonic() - t0 < 2.0  # refused, not retried to the deadline
        with pytest.raises(tunekv.Unauthenticated):
            c.status()


def test_wrong_password(auth_cluster):
    with tunekv.Client(auth_cluster.endpoints, timeout=5.0, user="root", password="nope") as c:
        with pytest.raises(tunekv.Unauthenticated) as e:
            c.get(b"k")
        assert "wrong user name or password" in str(e.value)


def test_root(auth_cluster):
    with tunekv.Client(auth_cluster.endpoints, timeout=5.0, user="root", password="py-root-password") as c:
        c.put(b"k", b"v")
        assert c.get(b"k").value == b"v"
        assert c.status().node_id == 1


def test_users_and_roles(auth_cluster):
    """root manages users and roles from Python; the new user gets exactly
    what its role grants."""
    with tunekv.Client(auth_cluster.endpoints, timeout=10.0, user="root", password="py-root-password") as root:
        root.role_add("py-reader")
        root.role_grant("py-reader", "read", b"pub/")
        root.user_add("py-alice", b"alice-password")
        root.user_grant_role("py-alice", "py-reader")
        root.put(b"pub/x", b"1")
        assert "py-alice" in root.users() and "py-reader" in root.roles()
        assert root.user_roles("py-alice") == ["py-reader"]
        assert [(g.permission, g.prefix) for g in root.role_grants("py-reader")] == [("read", b"pub/")]
        with tunekv.Client(auth_cluster.endpoints, timeout=5.0, user="py-alice", password="alice-password") as a:
            assert a.get(b"pub/x").value == b"1"
            with pytest.raises(tunekv.PermissionDenied):
                a.put(b"pub/x", b"2")
            with pytest.raises(tunekv.PermissionDenied):
                a.users()
        root.user_delete("py-alice")
        root.role_delete("py-reader")
        assert "py-alice" not in root.users()


def test_own_password(auth_cluster):
    """A user without admin changes their own password by giving the old
    one; the client AUTHs with the new one from then on, the old one fails
    AUTH, and a wrong old password or someone else's name is refused."""
    with tunekv.Client(auth_cluster.endpoints, timeout=10.0, user="root", password="py-root-password") as root:
        root.role_add("py-own")
        root.role_grant("py-own", "readwrite", b"own/")
        root.user_add("py-bob", b"bob-old")
        root.user_grant_role("py-bob", "py-own")
        root.user_add("py-carol", b"carol-pw")
        try:
            with tunekv.Client(auth_cluster.endpoints, timeout=5.0, user="py-bob", password="bob-old") as b:
                b.put(b"own/x", b"1")
                with pytest.raises(tunekv.PermissionDenied):
                    b.user_passwd("py-bob", b"bob-new", old_password=b"not-it")
                with pytest.raises(tunekv.PermissionDenied):
                    b.user_passwd("py-carol", b"x")  # someone else's, without admin
                with pytest.raises(tunekv.PermissionDenied):
                    b.user_passwd("py-carol", b"x", old_password=b"carol-pw")
                b.user_passwd("py-bob", b"bob-new", old_password=b"bob-old")
                b.put(b"own/x", b"2")  # still served, now with the new password
                assert b.get(b"own/x").value == b"2"
            with tunekv.Client(auth_cluster.endpoints, timeout=5.0, user="py-bob", password="bob-old") as old:
                with pytest.raises(tunekv.Unauthenticated):
                    old.get(b"own/x")
            with tunekv.Client(auth_cluster.endpoints, timeout=5.0, user="py-carol", password="carol-pw") as carol:
                with pytest.raises(tunekv.PermissionDenied):
                    carol.get(b"own/x")  # AUTH passed: carol's password is unchanged
        finally:
            root.user_delete("py-bob")
            root.user_delete("py-carol")
            root.role_delete("py-own")

"""engine/host.py's pure helpers: what rootless Podman can enforce, keep-id, subid ranges,
the storage driver, the runtime folder (tests/rootless/test_host.py checks the real
prerequisites of the rootless suite's user)."""

from __future__ import annotations

import pytest

from podman_sandbox.engine import host


@pytest.fixture
def rootless_v1(monkeypatch):
    monkeypatch.setattr(host, "is_rootless", lambda: True)
    monkeypatch.setattr(host, "cgroup_version", lambda: 1)


@pytest.fixture
def as_root(monkeypatch):
    monkeypatch.setattr(host, "is_rootless", lambda: False)


CONTAINER = {"memory": 64 * 1024 * 1024, "cpus": 1.5, "pids_limit": 2048, "user": None}


def test_limits_not_enforced_rootless_on_cgroup_v1(rootless_v1):
    assert not host.limits_enforced()
    assert host.unenforced_limits(CONTAINER) == {"memory": 64 * 1024 * 1024, "cpus": 1.5,
                                                 "pids_limit": 2048}
    assert host.unenforced_limits({"memory": None, "cpus": None, "pids_limit": 0}) == {}
    message = host.not_enforced_message(CONTAINER)
    assert message.startswith("memory 64m, cpus 1.5, pids limit 2048 requested but NOT enforced")


def test_limits_enforced_as_root(as_root):
    assert host.limits_enforced()
    assert host.unenforced_limits(CONTAINER) == {}
    assert host.not_enforced_message(CONTAINER) is None


@pytest.mark.parametrize("user, expected", [
    (None, None), ("", None), ("root", None), ("node", None), ("1000", (1000, None)),
    ("1000:100", (1000, 100)), ("0", (0, None)), ("1000:staff", None), ("-1", None),
])
def test_numeric_user(user, expected):
    assert host.numeric_user(user) == expected


@pytest.mark.parametrize("user, expected", [
    (None, []), ("0", []), ("0:0", []), ("root", []), ("node", []),
    ("1000", ["--userns=keep-id:uid=1000,gid=1000"]),
    ("1000:100", ["--userns=keep-id:uid=1000,gid=100"]),
])
def test_keep_id_only_for_a_numeric_non_root_user_rootless(rootless_v1, user, expected):
    assert host.keep_id_args(user) == expected


def test_no_keep_id_as_root(as_root):
    assert host.keep_id_args("1000") == []


def test_subid_ranges_by_name_or_uid(tmp_path):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\n# comment\nbob:165536:65536\n0:300000:1000\nbad line\n")
    assert host.subid_ranges("uid", "bob", str(path)) == [host.IdRange(165536, 65536)]
    assert host.subid_ranges("uid", "nobody-here", str(path)) == []
    assert host.subid_ranges("uid", "root", str(path)) == [host.IdRange(300000, 1000)]
    assert host.subid_ranges("uid", "bob", str(tmp_path / "missing")) == []




def test_storage_driver_from_info():
    assert host.storage_driver_from_info({"store": {"graphDriverName": "vfs"}}) == "vfs"
    assert host.storage_driver_from_info({}) is None


def test_runtime_dir_problem(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert "not set" in host.runtime_dir_problem()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "gone"))
    assert "does not exist" in host.runtime_dir_problem()
    assert "chmod 0700" in host.runtime_dir_problem()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert host.runtime_dir_problem() is None

"""engine/made.py: the container just started, found through its conmon in /proc.

A made-up /proc (files with the shapes the kernel gives) for each link the finder
must see before it trusts an answer; tests/integration/test_fast_path.py checks the
answer against `podman inspect` on real Podman.
"""

from __future__ import annotations

import os

import pytest

from podman_sandbox.engine import made

CID = "ab" * 32


def _process(proc, pid: int, *, comm: str = "sleep", args: list[str] = (), parent: int = 1,
             cgroup: str = "/"):
    folder = proc / str(pid)
    folder.mkdir()
    (folder / "cgroup").write_text(f"9:pids:{cgroup}\n8:memory:{cgroup}\n")
    (folder / "comm").write_text(comm + "\n")
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in [comm, *args]) + b"\0")
    (folder / "stat").write_text(f"{pid} ({comm} with) spaces) S {parent} {pid} 0 0\n")
    return folder


@pytest.fixture
def world(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").mkdir()  # not a pid: skipped
    pidfile = tmp_path / "pidfile"
    pidfile.write_text("400\n")
    pidfile.chmod(0o644)
    _process(proc, 300, comm="conmon", args=["--api-version", "1", "-c", CID, "-u", CID,
                                              "-p", str(pidfile), "-n", "x"])
    _process(proc, 400, comm="catatonit", parent=300, cgroup=f"/libpod_parent/libpod-{CID}")
    return proc, pidfile


def test_the_init_and_its_pid_file_are_found(world):
    proc, pidfile = world
    assert made.find(CID, str(proc)) == (400, str(pidfile))


def test_only_the_exact_full_id_counts(world):
    proc, _ = world
    assert made.find("cd" * 32, str(proc)) is None
    assert made.find(CID[:12], str(proc)) is None  # a short id is never matched
    assert made.find(CID.upper(), str(proc)) is None


def test_a_process_that_is_not_conmon_is_never_asked(world):
    proc, pidfile = world
    (proc / "300" / "comm").write_text("fake\n")
    assert made.find(CID, str(proc)) is None


def test_the_init_must_be_the_child_of_that_conmon(world):
    proc, _ = world
    (proc / "400" / "stat").write_text("400 (catatonit) S 999 400 0 0\n")
    assert made.find(CID, str(proc)) is None


def test_the_init_must_be_in_the_containers_cgroup(world):
    """A pid file naming some process of the forger's (a child of its fake conmon) is
    not the container's: only Podman puts processes into libpod-ID."""
    proc, _ = world
    (proc / "400" / "cgroup").write_text(f"9:pids:/libpod_parent/libpod-{'cd' * 32}\n")
    assert made.find(CID, str(proc)) is None
    (proc / "400" / "cgroup").write_text("9:pids:/user.slice\n")
    assert made.find(CID, str(proc)) is None


def test_a_forgery_listed_first_does_not_hide_the_real_conmon(world, tmp_path):
    """Code in another rootful sandbox can pose as a conmon naming the id (root, like
    ours): it fails a check, and the search goes on to the real one."""
    proc, pidfile = world
    forged_pidfile = tmp_path / "forged"
    forged_pidfile.write_text("210\n")
    _process(proc, 200, comm="conmon", args=["-c", CID, "-p", str(forged_pidfile)])
    _process(proc, 210, comm="sleep", parent=200, cgroup=f"/libpod_parent/libpod-{'ef' * 32}")
    assert made.find(CID, str(proc)) == (400, str(pidfile))


def test_a_pid_file_others_can_write_is_not_trusted(world):
    proc, pidfile = world
    pidfile.chmod(0o666)
    assert made.find(CID, str(proc)) is None


def test_a_pid_file_that_is_a_link_is_not_followed(world, tmp_path):
    proc, pidfile = world
    link = tmp_path / "link"
    link.symlink_to(pidfile)
    cmdline = proc / "300" / "cmdline"
    cmdline.write_bytes(cmdline.read_bytes().replace(str(pidfile).encode(), str(link).encode()))
    assert made.find(CID, str(proc)) is None


def test_the_first_value_of_each_flag_is_the_one_read():
    args = [b"conmon", b"-c", b"ID", b"-p", b"/a", b"--exit-command-arg", b"-c", b"other"]
    assert made._options(args) == {b"-c": b"ID", b"-p": b"/a"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a file owned by another user")
def test_a_conmon_of_another_user_is_not_ours(world):
    proc, _ = world
    os.chown(proc / "300", 65534, 65534)
    assert made.find(CID, str(proc)) is None

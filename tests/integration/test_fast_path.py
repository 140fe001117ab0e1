"""The fast path of `execute` against a real Podman.

A record lets `execute` skip converging. It must never let a command run in a
container that no longer matches the spec: spec edited, container stopped,
removed, re-created or updated behind our back, another folder in classic
mode. Each test also checks which podman commands ran (a logging `podman`
first on PATH), so it knows whether the fast path or the full path served it.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from harness import podman
from podman_sandbox.locate import find_spec_file

MIB = 1024 * 1024


class Box:
    """A project sandbox with a podman call log."""

    def __init__(self, sandbox, name: str):
        self.sb = sandbox
        self.name = name
        shim_dir = sandbox.root / "shim"
        shim_dir.mkdir()
        self.log = sandbox.root / "podman-calls.log"
        shim = shim_dir / "podman"
        shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{self.log}"\nexec "{shutil.which("podman")}" "$@"\n')
        shim.chmod(0o755)
        sandbox.env["PATH"] = f"{shim_dir}:{sandbox.env['PATH']}"

    def spec(self, extra: str = "") -> None:
        self.sb.write_spec(f"image: {self.sb.image}\nname: {self.name}\n{extra}")

    def calls(self) -> list[str]:
        """podman subcommands run since the last call of this method."""
        text = self.log.read_text() if self.log.exists() else ""
        self.log.write_text("")
        return text.split()

    def execute(self, command: str, **kw) -> str:
        return self.sb.ok("execute", command, **kw).stdout

    def container_id(self) -> str:
        return self.sb.inspect(self.name)["Id"]

    def memory(self) -> int:
        """The limit the kernel enforces, read inside without our tool."""
        out = podman("exec", self.name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes").stdout
        return int(out)


@pytest.fixture
def box(sandbox):
    b = Box(sandbox, f"pstest-fp-{uuid.uuid4().hex[:10]}")
    b.spec("memory: 64m\n")
    sandbox.ok("apply")
    b.calls()
    return b


def _cgroup_v1_memory() -> bool:
    return Path("/sys/fs/cgroup/memory").is_dir()


def test_in_sync_execute_is_one_podman_exec_and_apply_one_inspect(box):
    assert box.execute("echo hi") == "hi\n"
    assert box.calls() == ["exec"]
    assert "nothing changed" in box.sb.ok("apply").stderr
    assert box.calls() == ["inspect"]


def test_apply_sees_a_new_image_under_the_same_name(sandbox):
    """apply's one inspect compares image ids: a record never hides a moved tag."""
    tag = f"localhost/pstest-fp/{uuid.uuid4().hex[:10]}:1"
    podman("tag", sandbox.image, tag)
    newer = None
    try:
        b = Box(sandbox, f"pstest-fp-{uuid.uuid4().hex[:10]}")
        sandbox.write_spec(f"image: {tag}\nname: {b.name}\n")
        sandbox.ok("apply")
        assert "nothing changed" in sandbox.ok("apply").stderr
        cid = b.container_id()
        newer = podman("commit", b.name).stdout.strip().splitlines()[-1]  # another image id
        podman("tag", newer, tag)
        b.calls()
        result = sandbox.ok("apply")
        assert "nothing changed" not in result.stderr
        assert "replace" in result.stderr or "another id" in result.stderr, result.stderr
        assert b.container_id() != cid
        assert "nothing changed" in sandbox.ok("apply").stderr
    finally:
        for c in sandbox.containers():
            podman("rm", "--force", "--time", "0", c["Id"], check=False)
        podman("rmi", "--force", tag, check=False)
        if newer:
            podman("rmi", "--force", newer, check=False)


def test_edited_spec_is_converged_first_and_reverting_it_too(box):
    """A live update keeps the container (and its process): the record of the spec before
    the edit must not serve the reverted spec, whose limit the container no longer has."""
    if not _cgroup_v1_memory():
        pytest.skip("reads the cgroup v1 memory limit")
    cid = box.container_id()
    box.spec("memory: 96m\n")
    assert box.execute("cat /sys/fs/cgroup/memory/memory.limit_in_bytes") == f"{96 * MIB}\n"
    assert "update" in box.calls()
    box.spec("memory: 64m\n")
    assert box.execute("cat /sys/fs/cgroup/memory/memory.limit_in_bytes") == f"{64 * MIB}\n"
    assert "update" in box.calls()
    assert box.container_id() == cid  # applied live both times
    box.execute("true")
    assert box.calls() == ["exec"]  # in sync again: fast


def test_limit_changed_behind_our_back_is_put_back(box):
    podman("update", "--memory", "128m", box.name)
    assert box.memory() == 128 * MIB
    box.calls()
    box.execute("true")
    assert "update" in box.calls()  # the full path ran and converged
    assert box.memory() == 64 * MIB


def test_container_stopped_behind_our_back_is_started_with_its_changes(box):
    box.execute("echo kept > /root/uncommitted")
    cid = box.container_id()
    podman("stop", "--time", "0", box.name)
    box.calls()
    assert box.execute("cat /root/uncommitted") == "kept\n"
    assert box.calls() == ["start", "exec"]  # the same container, by id, then the command
    assert box.container_id() == cid
    box.execute("true")
    assert box.calls() == ["exec"]  # the record was renewed for the new init process


def test_container_removed_behind_our_back_is_made_again(box):
    box.execute("echo old > /root/marker")
    cid = box.container_id()
    podman("rm", "--force", "--time", "0", box.name)
    box.calls()
    assert box.execute("cat /root/marker 2>/dev/null || echo fresh") == "fresh\n"
    calls = box.calls()
    assert "run" in calls and calls[-1] == "exec"  # made again (podman run --detach)
    assert box.container_id() != cid


def test_container_recreated_by_someone_else_is_never_used(box):
    """Same name, not ours: refuse, and run nothing in it."""
    podman("rm", "--force", "--time", "0", box.name)
    podman("run", "-d", "--name", box.name, "--label", f"io.podman-sandbox.project={box.sb.root}/foreign",
           box.sb.image, "sleep", "1000")
    box.calls()
    result = box.sb.run("execute", "touch /tmp/ran-here")
    assert result.returncode != 0
    assert "not made by podman-sandbox" in result.stderr
    assert "exec" not in box.calls()
    assert podman("exec", box.name, "test", "-e", "/tmp/ran-here", check=False).returncode != 0


def test_sandbox_stop_then_execute_makes_a_new_one(box):
    cid = box.container_id()
    box.sb.ok("stop")
    box.calls()
    assert box.execute("echo back") == "back\n"
    assert "run" in box.calls()
    assert box.container_id() != cid


def test_other_spec_file_with_the_same_name_is_not_served_by_the_record(box):
    """-f names another sandbox.yaml: its own key, so the record of this one is not used."""
    other = box.sb.root / "other"
    other.mkdir()
    (other / "sandbox.yaml").write_text(f"image: {box.sb.image}\nname: {box.name}\nmemory: 96m\n")
    box.calls()
    result = box.sb.run("-f", str(other / "sandbox.yaml"), "execute", "true")
    calls = box.calls()
    assert "inspect" in calls  # the full path looked first
    # Its mount differs from the running sandbox's: a re-create, refused or done; never a
    # fast exec into the container made for the first spec.
    assert calls != ["exec"]
    assert result.returncode in (0, 123), result.stderr


@pytest.fixture
def classic(sandbox):
    assert find_spec_file(str(sandbox.root)) is None, "a sandbox.yaml above the test folder"
    b = Box(sandbox, f"pstest-fp-{uuid.uuid4().hex[:10]}")
    config = sandbox.root / "config" / "podman-sandbox" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"image": sandbox.image, "name": b.name}))
    return b


def test_classic_mode_runs_in_the_current_folder_never_an_earlier_one(classic):
    a = classic.sb.root / "a"
    b = classic.sb.root / "b"
    a.mkdir()
    b.mkdir()
    (a / "in-a").write_text("")
    (b / "in-b").write_text("")
    assert classic.execute("ls /workspace", cwd=a) == "in-a\n"
    classic.execute("true", cwd=a)
    classic.calls()
    classic.execute("true", cwd=a)
    assert classic.calls() == ["exec"]  # fast in the same folder
    assert classic.execute("ls /workspace", cwd=b) == "in-b\n"
    assert "run" in classic.calls()  # remounted: a new container
    assert classic.execute("ls /workspace", cwd=a) == "in-a\n"  # not the record made in a
    assert "run" in classic.calls()

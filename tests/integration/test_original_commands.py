"""The original tool's commands and walk-throughs, against a real Podman.

Most tests run in classic mode (no sandbox.yaml anywhere above the current
folder): the settings are the user's config.json, the current folder is
mounted. Each test's config.json names the sandbox `pstest-<unique>` so it
can never meet a user's real `podman-sandbox` container.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from harness import podman, podman_major
from podman_sandbox.locate import find_spec_file

MIB = 1024 * 1024
STATE_REPO = "localhost/podman-sandbox-state-"


def cgroup_memory(container: str) -> int | None:
    """The limit the kernel enforces, read inside with podman exec (None: no limit)."""
    out = podman("exec", container, "sh", "-c", "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                 "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").stdout.strip()
    value = None if out == "max" else int(out)
    return None if value is not None and value >= 1 << 60 else value


class Classic:
    """A sandbox in classic mode: config.json in the test's own XDG_CONFIG_HOME."""

    def __init__(self, box, name: str):
        self.box = box
        self.name = name
        self.config = box.root / "config" / "podman-sandbox" / "config.json"

    def write_config(self, **settings) -> None:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps({"name": self.name, **settings}))

    def read_config(self) -> dict:
        return json.loads(self.config.read_text())

    def folder(self, name: str, **files: str) -> Path:
        path = self.box.root / name
        path.mkdir()
        for fname, text in files.items():
            (path / fname).write_text(text)
        return path

    def ours(self) -> list[dict]:
        """Every container of that name (running or not)."""
        return [c for c in self.box.containers() if self.name in (c.get("Names") or [])]

    def container_id(self) -> str:
        found = self.ours()
        assert len(found) == 1, found
        return found[0]["Id"]

    def raw_exec(self, *argv: str) -> str:
        """podman exec straight into the container: no converge, nothing changed by the tool."""
        return podman("exec", self.name, *argv).stdout

    def cgroup_memory(self) -> int | None:
        return cgroup_memory(self.name)

    def state_tags(self) -> list[str]:
        out = podman("images", "--format", "json", "--filter",
                     f"reference={STATE_REPO}{self.name}", check=False).stdout
        return sorted(t for img in json.loads(out or "[]") or [] for t in img.get("Names") or ()
                      if t.startswith(STATE_REPO + self.name + ":"))

    def run_bytes(self, *args: str, cwd: Path | None = None, input: bytes = b"") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "podman_sandbox", *args], cwd=cwd or self.box.project,
                              env=self.box.env, input=input, capture_output=True, timeout=120)


@pytest.fixture
def classic(sandbox):
    assert find_spec_file(str(sandbox.root)) is None, "a sandbox.yaml above the test folder"
    box = Classic(sandbox, f"pstest-{uuid.uuid4().hex[:12]}")
    box.write_config(image=sandbox.image)
    yield box
    # The container goes with the sandbox fixture; committed states may outlive it (stop).
    out = podman("images", "--format", "json", "--filter", f"reference={STATE_REPO}{box.name}",
                 check=False).stdout
    for img in json.loads(out or "[]") or []:
        podman("rmi", "--force", img["Id"], check=False)


def test_execute_auto_starts_and_passes_output_and_exit_code(classic):
    box = classic.box
    assert classic.ours() == []
    result = box.run("execute", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == "out\n"
    assert result.stderr.splitlines()[-1] == "err" and "out" not in result.stderr
    cid = classic.container_id()
    assert box.inspect(cid)["State"]["Running"]
    # Later commands reuse it: same container, exit codes 0 and 127 come through.
    assert box.run("execute", "true").returncode == 0
    missing = box.run("execute", "no-such-command-here")
    assert missing.returncode == 127 and "not found" in missing.stderr
    assert box.run("execute", "exit 3").returncode == 3
    assert [c["Id"] for c in classic.ours()] == [cid]


def test_remount_after_changing_directory_keeps_committed_state(classic):
    box = classic.box
    a = classic.folder("dir-a", **{"a.txt": "A"})
    b = classic.folder("dir-b", **{"b.txt": "B"})
    assert box.ok("execute", "ls /workspace", cwd=a).stdout == "a.txt\n"
    box.ok("execute", "echo installed > /root/pkg", cwd=a)
    box.ok("commit", cwd=a)
    box.ok("execute", "echo scratch > /root/scratch", cwd=a)

    moved = box.ok("execute", "ls /workspace; cat /root/pkg", cwd=b)
    assert moved.stdout == "b.txt\ninstalled\n"
    # The re-create says what it throws away: the uncommitted file, not the committed one.
    assert "discarding 1 uncommitted changed path(s)" in moved.stderr and "/root/scratch" in moved.stderr
    assert f"{a}:/workspace -> {b}:/workspace" in moved.stderr
    cid = classic.container_id()
    mounts = {m["Destination"]: m["Source"] for m in box.inspect(cid)["Mounts"]}
    assert mounts["/workspace"] == str(b)
    # Files written in /workspace land in the folder mounted now.
    box.ok("execute", "echo from-sandbox > out.txt", cwd=b)
    assert (b / "out.txt").read_text() == "from-sandbox\n" and not (a / "out.txt").exists()
    # Back to the first folder: remounted again; the uncommitted file went with the old container.
    assert box.ok("execute", "ls /workspace; test -e /root/scratch || echo gone", cwd=a).stdout == "a.txt\ngone\n"
    assert len(classic.ours()) == 1
    # Same folder again: nothing is re-created.
    cid = classic.container_id()
    box.ok("execute", "true", cwd=a)
    assert classic.container_id() == cid


def test_configure_memory_applies_live_and_keeps_uncommitted_work(classic):
    box = classic.box
    box.ok("execute", "echo keep > /root/uncommitted")
    cid = classic.container_id()
    assert classic.cgroup_memory() is None

    result = box.ok("configure", "--memory", "96m")
    assert f"Updated {classic.config}:" in result.stdout
    assert "  memory: unset -> 96m" in result.stdout.splitlines()
    assert "Applied: update (live)" in result.stdout
    assert classic.cgroup_memory() == 96 * MIB
    assert classic.container_id() == cid
    assert classic.raw_exec("cat", "/root/uncommitted") == "keep\n"

    saved = box.ok("configure", "-m", "128m", "--no-restart")
    assert "  memory: 96m -> 128m" in saved.stdout.splitlines()
    assert "--no-restart" in saved.stdout
    assert classic.read_config()["memory"] == "128m"
    assert classic.cgroup_memory() == 96 * MIB  # only saved

    same = box.ok("configure", "-m", "128m")
    assert "Nothing changed" in same.stdout

    shown = box.ok("configure", "--show").stdout
    assert "memory:       128m" in shown.splitlines() and f"image:        {box.image}" in shown.splitlines()
    view = json.loads(box.ok("configure", "--show", "--json").stdout)
    assert {"name", "image", "memory", "auto_commit", "source", "mode"} <= set(view)
    assert (view["name"], view["image"], view["memory"], view["auto_commit"], view["mode"]) == \
        (classic.name, box.image, "128m", False, "classic")
    # --show changes nothing, even with other options.
    box.ok("configure", "--show", "-m", "1g")
    assert classic.read_config()["memory"] == "128m"

    # The saved value reaches the running sandbox at the next command, still live.
    box.ok("execute", "true")
    assert classic.cgroup_memory() == 128 * MIB and classic.container_id() == cid

    bad = box.run("configure", "-m", "lots")
    assert bad.returncode == 121 and "--memory" in bad.stderr
    assert classic.read_config()["memory"] == "128m"


def test_lifting_the_memory_limit_recreates(classic):
    """Podman cannot lift a limit live; the limit really goes, committed work stays."""
    box = classic.box
    classic.write_config(image=box.image, memory="64m")
    box.ok("execute", "echo kept > /root/kept")
    box.ok("commit")
    cid = classic.container_id()
    assert classic.cgroup_memory() == 64 * MIB
    result = box.ok("configure", "-m", "none")
    assert "  memory: 64m -> unset" in result.stdout.splitlines()
    assert "replace (recreate)" in result.stdout
    assert classic.cgroup_memory() is None
    assert classic.container_id() != cid
    assert classic.raw_exec("cat", "/root/kept") == "kept\n"


def test_commit_survives_stop_and_start_and_reset_drops_it(classic):
    box = classic.box
    box.ok("execute", "echo v1 > /root/installed")
    tag = box.ok("commit").stdout.strip()
    assert tag.startswith(f"{STATE_REPO}{classic.name}:")
    assert classic.state_tags() == [tag]
    box.ok("stop")
    assert classic.ours() == []
    box.ok("start")
    assert box.ok("execute", "cat /root/installed").stdout == "v1\n"

    # A second commit keeps the first as <tag>-prev, so a bad commit can be undone.
    box.ok("execute", "echo v2 > /root/installed")
    assert box.ok("commit").stdout.strip() == tag
    assert classic.state_tags() == [tag, tag + "-prev"]
    prev = podman("run", "--rm", "--entrypoint", "cat", tag + "-prev", "/root/installed").stdout
    assert prev == "v1\n"
    status = json.loads(box.ok("status", "--json").stdout)
    assert [s["tag"] for s in status["committed_state"]] == [tag]
    assert [s["tag"] for s in status["previous_state"]] == [tag + "-prev"]

    box.ok("execute", "echo unsaved > /root/unsaved")
    reset = box.ok("reset")
    assert reset.stdout.splitlines() == [f"removed {tag}", f"removed {tag}-prev"]
    assert "/root/unsaved" in reset.stderr
    assert classic.state_tags() == [] and classic.ours() == []
    fresh = box.run("execute", "cat /root/installed")
    assert fresh.returncode == 1 and "No such file" in fresh.stderr
    assert "no saved state to remove" in box.ok("reset").stdout


def test_auto_commit_on_stop(classic):
    box = classic.box
    result = box.ok("configure", "--auto-commit")
    assert "  auto_commit: unset -> true" in result.stdout.splitlines()
    assert "not running" in result.stdout
    box.ok("execute", "echo auto > /root/auto")
    stopped = box.ok("stop")
    assert "auto-commit: state saved as" in stopped.stderr and "discarding" not in stopped.stderr
    assert classic.ours() == []
    box.ok("start")
    assert box.ok("execute", "cat /root/auto").stdout == "auto\n"
    # Switched off again: the next stop discards, and says so.
    box.ok("configure", "--no-auto-commit")
    box.ok("execute", "echo lost > /root/lost")
    assert "discarding 1 uncommitted" in box.ok("stop").stderr
    box.ok("start")
    assert box.ok("execute", "cat /root/auto; test -e /root/lost || echo gone").stdout == "auto\ngone\n"


def test_stop_without_auto_commit_says_what_it_discards(classic):
    box = classic.box
    box.ok("execute", "mkdir -p /opt/tool && touch /opt/tool/bin /root/notes")
    stopped = box.ok("stop")
    assert stopped.stdout == ""
    assert "discarding 2 uncommitted changed path(s)" in stopped.stderr
    assert "/opt/tool" in stopped.stderr and "/root/notes" in stopped.stderr
    assert "podman-sandbox commit" in stopped.stderr
    assert classic.ours() == []
    again = box.ok("stop")
    assert "not running" in again.stderr
    # Nothing to discard: nothing said about it.
    box.ok("start")
    assert "discarding" not in box.ok("stop").stderr


def test_stdin_exit_codes_and_binary_output(classic):
    box = classic.box
    assert box.ok("execute", "wc -c", input="data\n").stdout.strip() == "5"
    payload = os.urandom(1 << 20)
    piped = classic.run_bytes("execute", "sha256sum | cut -d' ' -f1", input=payload)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode().strip() == hashlib.sha256(payload).hexdigest()
    raw = classic.run_bytes("execute", r"printf '\000\377\033[31m'; printf 'e\001' >&2")
    assert raw.returncode == 0 and raw.stdout == b"\x00\xff\x1b[31m"
    assert raw.stderr.endswith(b"e\x01")
    echo = classic.run_bytes("execute", "cat", input=payload)
    assert echo.stdout == payload
    for code in (0, 3, 255):
        assert box.run("execute", f"exit {code}").returncode == code
    assert box.run("execute", "no-such-command").returncode == 127
    assert box.run("execute", "kill -TERM $$").returncode == 143


def test_configure_in_project_edits_sandbox_yaml_in_place(sandbox):
    original = (
        "# The team's sandbox: reviewed in every PR.\n"
        f"image: {sandbox.image}   # small and local\n"
        "\n"
        "memory:   64m     # enough for the unit tests\n"
        "# env below is read by the test runner\n"
        "env:\n"
        "  LEVEL: \"2\"\n"
    )
    path = sandbox.write_spec(original)
    sandbox.ok("apply")
    sandbox.ok("execute", "echo wip > /root/wip")
    cid = sandbox.containers()[0]["Id"]
    result = sandbox.ok("configure", "--memory", "128m", "--auto-commit")
    assert f"Updated {path}:" in result.stdout
    assert "  memory: 64m -> 128m" in result.stdout.splitlines()
    assert path.read_text() == (
        "# The team's sandbox: reviewed in every PR.\n"
        f"image: {sandbox.image}   # small and local\n"
        "\n"
        "memory:   128m     # enough for the unit tests\n"
        "# env below is read by the test runner\n"
        "env:\n"
        "  LEVEL: \"2\"\n"
        "auto_commit: true\n"
    )
    assert [c["Id"] for c in sandbox.containers()] == [cid]
    assert cgroup_memory(cid) == 128 * MIB
    assert sandbox.ok("execute", "cat /root/wip; echo $LEVEL").stdout == "wip\n2\n"
    # The user's config.json is not touched in a project.
    assert not (sandbox.root / "config" / "podman-sandbox" / "config.json").exists()
    # An invalid value writes nothing.
    before = path.read_text()
    assert sandbox.run("configure", "--memory", "lots").returncode == 121
    assert path.read_text() == before


def test_status_reads_memory_from_the_cgroup_and_list_marks_current(classic):
    box = classic.box
    classic.write_config(image=box.image, memory="64m")
    box.ok("execute", "true")
    text = box.ok("status").stdout
    assert f"Sandbox:      {classic.name} (running)" in text.splitlines()
    assert "Memory:       64m (effective, from the cgroup)" in text.splitlines()
    assert f"Mount:        {box.project} -> /workspace" in text.splitlines()
    assert f"Governed by:  {classic.config} (classic)" in text.splitlines()

    data = json.loads(box.ok("status", "--json").stdout)
    keys = {"name", "state", "running", "container_id", "image", "source", "mode", "mount",
            "memory", "auto_commit", "committed_state", "previous_state", "in_sync"}
    assert keys <= set(data)
    assert (data["name"], data["running"], data["image"], data["mode"], data["auto_commit"]) == \
        (classic.name, True, box.image, "classic", False)
    assert data["memory"] == {"requested": 64 * MIB, "effective": 64 * MIB, "enforced": True}
    assert data["mount"] == {"source": str(box.project), "target": "/workspace"}

    # Changed behind our back: Podman 4's own inspect still says 64m (Podman 5's says
    # 80m); status reads the cgroup, so it tells the truth on both.
    podman("update", "--memory", "80m", "--memory-swap", "80m", classic.name)
    assert box.inspect(classic.name)["HostConfig"]["Memory"] == (64 if podman_major() < 5 else 80) * MIB
    data = json.loads(box.ok("status", "--json").stdout)
    assert data["memory"] == {"requested": 64 * MIB, "effective": 80 * MIB, "enforced": False}
    assert "80m (effective, from the cgroup); 64m requested" in box.ok("status").stdout

    rows = json.loads(box.ok("list", "--json").stdout)
    mine = [r for r in rows if r["name"] == classic.name]
    assert len(mine) == 1
    assert {"name", "id", "image", "state", "sandbox", "project", "current"} <= set(mine[0])
    assert (mine[0]["sandbox"], mine[0]["current"], mine[0]["state"], mine[0]["project"]) == \
        (True, True, "running", str(box.project))
    assert [r["name"] for r in rows if r["current"]] == [classic.name]
    listing = box.ok("list").stdout.splitlines()
    assert [line.split()[1] for line in listing if line.startswith("* ")] == [classic.name]

    box.ok("stop")
    stopped = json.loads(box.ok("status", "--json").stdout)
    assert stopped["running"] is False and stopped["memory"]["effective"] is None
    assert f"Sandbox:      {classic.name} (not running, no container)" in box.ok("status").stdout
    assert classic.name not in [r["name"] for r in json.loads(box.ok("list", "--json").stdout)]


def test_start_image_sets_the_image(classic):
    box = classic.box
    classic.write_config()  # no image: the default would be alpine:latest
    assert json.loads(box.ok("configure", "--show", "--json").stdout)["image"] == "alpine:latest"
    started = box.ok("start", "--image", box.image)
    assert f"image: unset -> {box.image}" in started.stderr
    assert classic.read_config() == {"name": classic.name, "image": box.image}
    container = box.inspect(classic.container_id())
    assert container["State"]["Running"]
    assert json.loads(container["Config"]["Labels"]["io.podman-sandbox.spec"])["image"] == box.image
    again = box.ok("start")
    assert "nothing changed" in again.stderr
    assert f"already set" in box.ok("start", "--image", box.image).stderr

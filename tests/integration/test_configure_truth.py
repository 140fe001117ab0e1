"""configure's rollback and status's truth, against a real Podman.

A configure that cannot be applied (an image that cannot be pulled) leaves the settings
file as it was, and the old sandbox goes on serving `execute`. status shows what the
container has, and what the spec wants where they differ: after a failed image change
and before a remount.
"""

from __future__ import annotations

import json
import uuid

import pytest

from harness import podman
from podman_sandbox.locate import find_spec_file

# Nothing can be pulled here (no registry), and a localhost/ name is never on a registry
# anywhere: the pull fails at once, as a mistyped image name does.
MISSING = f"localhost/podman-sandbox-test/missing:{uuid.uuid4().hex[:8]}"


@pytest.fixture
def classic(sandbox):
    """Classic mode: config.json in the test's own XDG_CONFIG_HOME names the sandbox."""
    assert find_spec_file(str(sandbox.root)) is None, "a sandbox.yaml above the test folder"
    name = f"pstest-{uuid.uuid4().hex[:12]}"
    config = sandbox.root / "config" / "podman-sandbox" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"name": name, "image": sandbox.image}))
    return sandbox, name, config


def container_id(name: str) -> str:
    return podman("inspect", "--format", "{{.Id}}", name).stdout.strip()


def status_rows(box, **kw) -> dict[str, str]:
    rows = {}
    for line in box.ok("status", **kw).stdout.splitlines():
        label, sep, value = line.partition(":")
        if sep and line[:1].isupper():
            rows[label] = value.strip()
    return rows


def test_a_missing_image_is_rolled_back_and_execute_keeps_working(classic):
    box, name, config = classic
    box.ok("execute", "echo kept > /root/work")
    cid = container_id(name)
    before = config.read_bytes()

    failed = box.run("configure", "--image", MISSING)
    assert failed.returncode == 125, failed
    assert config.read_bytes() == before
    rolled = [ln for ln in failed.stderr.splitlines() if "rolled back" in ln]
    assert rolled == [f"podman-sandbox: the change to image was not applied, so it is rolled back: "
                      f"{config} is as it was (image: {box.image})"], failed.stderr
    assert f"pull {MISSING} failed" in failed.stderr

    # The next execute runs in the old sandbox, with what was left in it.
    after = box.run("execute", "cat /root/work")
    assert (after.returncode, after.stdout) == (0, "kept\n"), after
    assert container_id(name) == cid
    data = json.loads(box.ok("status", "--json").stdout)
    assert data["in_sync"] is True and data["image"] == box.image and data["differences"] == []


def test_status_after_a_failed_image_change_names_the_image_that_runs(sandbox):
    """A project whose sandbox.yaml now names an image that is not here (a git pull, an
    edit): the container still has the old one, and status says both."""
    sandbox.write_spec(f"image: {sandbox.image}\nenv:\n  MODE: a\n")
    sandbox.ok("start")
    sandbox.write_spec(f"image: {MISSING}\nenv:\n  MODE: b\n  EXTRA: x\n")
    failed = sandbox.run("apply")
    assert failed.returncode == 125, failed

    data = json.loads(sandbox.ok("status", "--json").stdout)
    assert data["running"] is True and data["in_sync"] is False
    assert data["image"] == MISSING and data["actual"]["image"] == sandbox.image
    assert data["actual"]["env"] == {"MODE": "a"}
    differs = {d["field"]: (d["actual"], d["wanted"]) for d in data["differences"]}
    assert differs == {"image": (sandbox.image, MISSING),
                       "env": ({"MODE": "a"}, {"MODE": "b", "EXTRA": "x"})}
    rows = status_rows(sandbox)
    assert rows["Image"] == (f"{sandbox.image} in the container; {MISSING} wanted: "
                             "run `podman-sandbox apply`")
    assert rows["Env"] == ("MODE in the container; wanted: EXTRA added, MODE changed: "
                           "run `podman-sandbox apply`")


def test_status_before_a_remount_names_the_folder_mounted_now(classic):
    box, name, _ = classic
    a, b = box.root / "dir-a", box.root / "dir-b"
    a.mkdir()
    b.mkdir()
    box.ok("execute", "true", cwd=a)
    cid = container_id(name)

    data = json.loads(box.ok("status", "--json", cwd=b).stdout)
    mounted = {m["Destination"]: m["Source"] for m in box.inspect(name)["Mounts"]}
    assert mounted["/workspace"] == str(a)
    assert data["mount"] == {"source": str(a), "target": "/workspace"}
    assert [d["field"] for d in data["differences"]] == ["mounts"]
    assert status_rows(box, cwd=b)["Mount"] == (f"{a} -> /workspace in the container; {b} wanted: "
                                                "run `podman-sandbox start`")
    assert container_id(name) == cid  # status changed nothing

    box.ok("execute", "true", cwd=b)  # the remount
    data = json.loads(box.ok("status", "--json", cwd=b).stdout)
    assert data["mount"]["source"] == str(b) and data["differences"] == []
    assert status_rows(box, cwd=b)["Mount"] == f"{b} -> /workspace"


def test_status_shows_the_limits_that_run_until_they_are_applied(classic):
    box, name, config = classic
    box.ok("execute", "true")
    box.ok("configure", "--pids-limit", "300", "--network", "none", "--no-restart")
    data = json.loads(box.ok("status", "--json").stdout)
    differs = {d["field"]: (d["actual"], d["wanted"], d["class"]) for d in data["differences"]}
    assert differs["pids_limit"][1:] == (300, "recreate") and differs["pids_limit"][0] != 300
    assert differs["network"] == ("bridge", "none", "recreate")
    assert data["actual"]["network"] == "bridge" and data["network"] == "none"
    rows = status_rows(box)
    assert rows["Network"] == "bridge in the container; none wanted: run `podman-sandbox start`"
    box.ok("start")
    assert json.loads(box.ok("status", "--json").stdout)["differences"] == []
    assert status_rows(box)["Network"] == "none"

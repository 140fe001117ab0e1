"""A remote Podman engine, for real: a `podman system service` on a unix socket of its
own, with its own storage (--root/--runroot), so that nothing the tests make through it
is visible to the local engine: a call that missed the connection would not find the
sandbox, and the local `podman ps` proves where it runs. Stopped by its PID.

The service runs on this machine, so the server's paths are this machine's: the
project folder itself serves as the --remote-workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from harness import HOST_FIX_CONF, Sandbox, folder_for_test, podman

from podman_sandbox.engine.labels import LABEL_PROJECT

REMOTE_IMAGE = "localhost/podman-sandbox-test/remote-busybox:1"


def _wait_for(condition, what: str, deadline: float = 120.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def store_options(root: Path) -> list[str]:
    return ["--root", str(root / "store"), "--runroot", str(root / "run"),
            "--tmpdir", str(root / "tmp")]


@pytest.fixture(scope="module")
def service(podman_ready, image):
    """(CONTAINER_HOST URL, CONTAINERS_CONF path) of a service with its own store."""
    root = Path(tempfile.mkdtemp(prefix="pstest-remote-"))
    conf = root / "containers.conf"  # ours: `system connection add` may write to it
    conf.write_text(Path(os.environ["CONTAINERS_CONF"]).read_text()
                    if os.environ.get("CONTAINERS_CONF") else HOST_FIX_CONF)
    sock = root / "podman.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    env.pop("CONTAINER_HOST", None)
    # Its own store, run and tmp folders: the default tmpdir (/run/libpod) holds the local
    # engine's "alive" mark; sharing it would make either engine think the host rebooted.
    proc = subprocess.Popen(["podman", *store_options(root), "system", "service", "--time=0",
                             f"unix://{sock}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{sock}"
    try:
        _wait_for(lambda: sock.exists() and subprocess.run(
            ["podman", "--url", url, "info"], env=env, capture_output=True).returncode == 0,
            "the podman service")
        yield url, str(conf), root
    finally:
        remote = ["podman", "--url", url]
        out = subprocess.run([*remote, "ps", "-aq"], env=env, capture_output=True, text=True).stdout
        for cid in out.split():  # only ever ours: the store is this fixture's own
            subprocess.run([*remote, "rm", "-f", "-t", "0", cid], env=env, capture_output=True)
        subprocess.run([*remote, "rmi", "-a", "-f"], env=env, capture_output=True)
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        # Never `system reset` here: it would remove the shared default folders too.
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            ours = [line.split()[1] for line in fh if line.split()[1].startswith(str(root) + "/")]
        for point in reversed(ours):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def remote_box(service, session_root, request):
    url, conf, _ = service
    box = Sandbox(folder_for_test(session_root, request.node.name), REMOTE_IMAGE)
    box.env.update(CONTAINER_HOST=url, CONTAINERS_CONF=conf)
    box.remote_url = url
    box.env.pop("CONTAINER_CONNECTION", None)
    box.env.pop("PODMAN_SANDBOX_REMOTE_WORKSPACE", None)
    if subprocess.run(["podman", "--url", url, "image", "exists", REMOTE_IMAGE],
                      env=box.env).returncode != 0:
        box.ok("local-image", "--tag", REMOTE_IMAGE)
    yield box
    for c in remote_ps(box):  # this test's own, by its project label
        subprocess.run(["podman", "rm", "-f", "-t", "0", c["Id"]], env=box.env, capture_output=True)


def remote_ps(box: Sandbox) -> list[dict]:
    """The remote engine's containers of this test's project."""
    env = {**box.env, "CONTAINER_HOST": box.env.get("CONTAINER_HOST") or box.remote_url}
    out = subprocess.run(["podman", "ps", "--all", "--format", "json", "--filter",
                          f"label={LABEL_PROJECT}={box.project}"], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]") or []


def test_no_workspace_on_the_server_is_refused_naming_both_ways(remote_box):
    box = remote_box
    box.write_spec(f"image: {REMOTE_IMAGE}\n")
    result = box.run("execute", "ls /workspace")
    assert result.returncode == 123, result.stderr
    assert "--remote-workspace" in result.stderr and "CONTAINER_HOST" in result.stderr
    assert remote_ps(box) == []  # nothing was made, empty /workspace or not


def test_extra_mounts_are_refused_on_a_remote_engine(remote_box, tmp_path):
    box = remote_box
    box.write_spec(f"image: {REMOTE_IMAGE}\nmounts:\n  - source: {tmp_path}\n    target: /data\n")
    result = box.run("--remote-workspace", str(box.project), "apply", "--allow")
    assert result.returncode == 123, result.stderr
    assert "mounts" in result.stderr
    assert remote_ps(box) == []


def test_the_scenarios_through_the_remote_service(remote_box):
    box = remote_box
    box.env["PODMAN_SANDBOX_REMOTE_WORKSPACE"] = str(box.project)
    (box.project / "marker.txt").write_text("from the server's folder\n")
    box.write_spec(f"image: {REMOTE_IMAGE}\nmemory: 64m\n")
    box.ok("apply", "--allow")
    name = remote_ps(box)[0]["Names"][0]
    # It runs on the remote engine, and only there.
    assert all(name not in (c.get("Names") or [])
               for c in json.loads(podman("ps", "-a", "--format", "json").stdout or "[]"))

    ran = box.run("execute", "cat /workspace/marker.txt; exit 7")
    assert ran.returncode == 7 and ran.stdout == "from the server's folder\n", ran
    assert box.ok("execute", "-i", "tr a-z A-Z", input="piped in\n").stdout == "PIPED IN\n"

    # configure, live: the limit the sandbox's cgroup enforces, read inside it.
    box.ok("configure", "--memory", "96m")
    limit = box.ok("execute", "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").stdout.strip()
    assert int(limit) == 96 * 1024 * 1024
    status = json.loads(box.ok("status", "--json").stdout)
    assert status["engine"]["remote"] is True and "CONTAINER_HOST" in status["engine"]["name"]
    assert status["memory"]["effective"] == 96 * 1024 * 1024 and status["in_sync"] is True
    assert "Engine:       remote Podman" in box.ok("status").stdout

    # commit / stop / start: the saved state lives on that engine.
    box.ok("execute", "echo kept > /kept.txt")
    box.ok("commit")
    box.ok("stop")
    assert not [c for c in remote_ps(box) if c.get("State") == "running"]
    box.ok("start")
    assert box.ok("execute", "cat /kept.txt").stdout == "kept\n"
    images = subprocess.run(["podman", "images", "--format", "{{.Repository}}"], env=box.env,
                            capture_output=True, text=True, check=True).stdout
    assert "podman-sandbox-state" in images
    assert f"podman-sandbox-state-{name}" not in podman("images", "--format", "{{.Repository}}").stdout

    # --timeout ends the command and what it started, found from inside the sandbox
    # (this host's /proc is not the server's): the tagged, and the tag-dropper started
    # after the command began, in the sandbox's own clock; an earlier process is spared.
    box.ok("execute", "env -u PODMAN_SANDBOX_EXEC sleep 400 >/dev/null 2>&1 &")
    timed = box.run("execute", "--timeout", "1",
                    "env -u PODMAN_SANDBOX_EXEC sleep 302 & sleep 300 & sleep 301")
    assert timed.returncode == 124, timed
    left = box.ok("execute", "ps -o args | grep '^sleep [34]0[0-9]' || true").stdout.split("\n")
    assert [line for line in left if line] == ["sleep 400"], left


def test_the_connection_option_names_a_podman_connection(remote_box, service):
    url, conf, _ = service
    box = remote_box
    # With the box's own environment: Podman 4 keeps connections in CONTAINERS_CONF's file,
    # Podman 5 in podman-connections.json under XDG_CONFIG_HOME.
    subprocess.run(["podman", "system", "connection", "add", "pstest-remote", url],
                   env={**box.env, "CONTAINERS_CONF": conf}, check=True, capture_output=True)
    box.env.pop("CONTAINER_HOST")  # only the option says where
    box.write_spec(f"image: {REMOTE_IMAGE}\n")
    ran = box.run("--connection", "pstest-remote", "--remote-workspace", str(box.project), "-v",
                  "execute", "echo over the connection")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "over the connection\n"
    assert "podman --connection pstest-remote exec" in ran.stderr
    assert len(remote_ps(box)) == 1  # on the engine the connection names

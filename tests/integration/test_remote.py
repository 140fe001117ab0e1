"""A remote Podman engine, for real: a `podman system service` with its own storage
(--root/--runroot), so that nothing the tests make through it is visible to the local
engine: a call that missed the connection would not find the sandbox, and the local
`podman ps` proves where it runs. Stopped by its PID (tests/remote_service.py).

Every test runs over both transports, the same code: a unix socket on this machine, and
tcp:// to a service in a network namespace of its own, reached at its own address
through a veth pair (a second host, as the network sees it). Both share this machine's
file system, so the project folder itself serves as the --remote-workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from harness import HOST_FIX_CONF, Sandbox, folder_for_test, podman, wait_for
from remote_service import TRANSPORTS, serve

from podman_sandbox.engine.labels import LABEL_PROJECT

REMOTE_IMAGE = "localhost/podman-sandbox-test/remote-busybox:1"


def _second_host_possible() -> str | None:
    """Why a network namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "a network namespace needs root"
    missing = [tool for tool in ("ip", "nsenter") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed" if missing else None


@pytest.fixture(scope="module", params=TRANSPORTS)
def service(request, podman_ready, image):
    """(CONTAINER_HOST URL, CONTAINERS_CONF path, its folder) of a service with its own store."""
    if request.param == "tcp" and _second_host_possible():
        if os.environ.get("CI"):  # CI runs as root with iproute2: a failure there
            pytest.fail(f"no second host for the tcp:// tests: {_second_host_possible()}")
        pytest.skip(f"no second host for the tcp:// tests: {_second_host_possible()}")
    conf = (Path(os.environ["CONTAINERS_CONF"]).read_text()
            if os.environ.get("CONTAINERS_CONF") else HOST_FIX_CONF)
    with serve(request.param, conf) as served:
        yield served.url, served.conf, served.root


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
    assert status["engine"]["remote"] is True
    assert f"CONTAINER_HOST={box.remote_url}" in status["engine"]["name"]  # unix:// or tcp://
    assert status["engine"]["host"]  # the server's hostname, from its podman info
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


def _running_command(box: Sandbox, started: Path) -> subprocess.Popen:
    """`execute` of a long command in the background, once it runs (it touches started)."""
    proc = subprocess.Popen([sys.executable, "-m", "podman_sandbox", "execute",
                             f"touch /workspace/{started.name}; sleep 120"],
                            cwd=box.project, env=box.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(started.exists, timeout=60), "the command did not start"
    return proc


@pytest.mark.parametrize("how", ["rm", "stop"])
def test_a_sandbox_removed_or_stopped_under_a_command_is_125_with_our_line(remote_box, how):
    """The remote client says 125 ("no exec session") or 137, which the command could say
    itself: our 125 and line come from the engine's inspect (the init is the server's)."""
    box = remote_box
    box.env["PODMAN_SANDBOX_REMOTE_WORKSPACE"] = str(box.project)
    box.write_spec(f"image: {REMOTE_IMAGE}\n")
    box.ok("apply", "--allow")
    name = remote_ps(box)[0]["Names"][0]
    started = box.project / f"started-{how}"
    proc = _running_command(box, started)
    try:
        argv = ["podman", how, "-t", "0", name] if how == "stop" else ["podman", "rm", "-f", "-t", "0", name]
        subprocess.run(argv, env=box.env, check=True, capture_output=True)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 125, err
    assert f"the sandbox {name} was stopped or removed while the command ran" in err, err

    # The next command makes the sandbox anew (rm) or starts it (stop), saying so, and runs.
    again = box.run("execute", "echo again")
    assert again.returncode == 0 and again.stdout == "again\n", again
    assert ("create" if how == "rm" else "start") in again.stderr, again.stderr
    assert [c["State"] for c in remote_ps(box)] == ["running"]


def test_a_command_ending_125_itself_keeps_its_code_remotely(remote_box):
    box = remote_box
    box.env["PODMAN_SANDBOX_REMOTE_WORKSPACE"] = str(box.project)
    box.write_spec(f"image: {REMOTE_IMAGE}\n")
    ran = box.run("execute", "exit 125")
    assert ran.returncode == 125 and "stopped or removed" not in ran.stderr, ran
    ran = box.run("execute", "kill -9 $$")
    assert ran.returncode == 137 and "stopped or removed" not in ran.stderr, ran


def test_doctor_checks_the_remote_engine_and_says_so(remote_box):
    box = remote_box
    images_before = subprocess.run(["podman", "images", "-q"], env=box.env, capture_output=True,
                                   text=True, check=True).stdout.split()
    result = box.run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok    engine checked: remote Podman (CONTAINER_HOST={box.remote_url})"
    assert any(line.startswith("ok    the server ") and "answers: podman works: rootful" in line
               for line in lines), result.stdout
    assert "skip  not checked on a remote engine" in result.stdout
    assert "ok    a probe container runs on the engine with the sandbox's options" in result.stdout
    # The probe image it made on that engine is gone again.
    assert subprocess.run(["podman", "images", "-q"], env=box.env, capture_output=True, text=True,
                          check=True).stdout.split() == images_before


def test_a_remote_stop_ends_what_the_command_started_before_the_stop_could_look(remote_box,
                                                                                monkeypatch):
    """The stop script runs through its own `podman exec`, which starts a while after
    "started N ticks ago" was measured: a process the command started untagged in that
    gap is still the command's (anchored on its oldest tagged process), and is ended."""
    from podman_sandbox.engine import stopping

    box = remote_box
    box.env["PODMAN_SANDBOX_REMOTE_WORKSPACE"] = str(box.project)
    box.write_spec(f"image: {REMOTE_IMAGE}\n")
    box.ok("apply", "--allow")
    name = remote_ps(box)[0]["Names"][0]
    tag = os.urandom(16).hex()
    subprocess.run(["podman", "exec", "-d", "--env", f"{stopping.EXEC_TAG}={tag}", name, "sh", "-c",
                    f"env -u {stopping.EXEC_TAG} sleep 302 & exec sleep 300"],
                   env=box.env, check=True, capture_output=True)

    def sleeping() -> list[str]:
        out = box.ok("execute", "ps -o args").stdout.splitlines()
        return sorted(line.strip() for line in out if line.startswith("sleep 30"))

    assert wait_for(lambda: sleeping() == ["sleep 300", "sleep 302"], timeout=30), sleeping()
    # "1 tick ago": the whole wait above lies between the command's start and that mark.
    monkeypatch.setenv("CONTAINER_HOST", box.remote_url)
    monkeypatch.setenv("CONTAINERS_CONF", box.env["CONTAINERS_CONF"])
    done = stopping.from_inside(stopping.Scope(tag, None, None), name, signal.SIGTERM, "podman",
                                since="-1")
    assert done is True and sleeping() == []

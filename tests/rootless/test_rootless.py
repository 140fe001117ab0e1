"""Every command as an unprivileged user with rootless Podman (see conftest.py).

The issue's "done when": execute auto-starts, /workspace files are the user's,
commit/stop/start keeps an installed file, status says a requested memory
limit is not enforced (cgroup v1 hosts), stop stops. Networks none and host
work; the default network without /dev/net/tun says how to fix it.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from podman_sandbox.engine import host

MIB = 1024 * 1024

needs_v1 = pytest.mark.skipif(
    host.cgroup_version() != 1,
    reason="limits are ignored only on cgroup v1 rootless hosts; this host enforces them")


def spec(image: str, *, memory: str | None = "64m", network: str = "none", extra: str = "") -> str:
    lines = [f"image: {image}", f"network: {network}"]
    if memory:
        lines.append(f"memory: {memory}")
    return "\n".join(lines) + "\n" + extra


def running(sandbox) -> list[str]:
    return [c["Id"] for c in sandbox.containers() if c.get("State") == "running"]


def test_execute_autostarts_and_workspace_files_are_the_users(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    assert sandbox.containers() == []
    result = sandbox.ok("execute", "id -u && echo hello > /workspace/out.txt && mkdir /workspace/made")
    # Root inside (packages can be installed), the user outside.
    assert result.stdout.strip() == "0"
    assert len(running(sandbox)) == 1
    for path in (sandbox.project / "out.txt", sandbox.project / "made"):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), path
    assert (sandbox.project / "out.txt").read_text() == "hello\n"
    # A file the user makes on the host is root's (and so writable) inside.
    (sandbox.project / "from-host").write_text("x")
    assert sandbox.ok("execute", "stat -c %u /workspace/from-host && echo y >> /workspace/from-host"
                      ).stdout.strip() == "0"


def test_commit_stop_start_keeps_an_installed_file(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("execute", "mkdir -p /opt/tool && echo v1 > /opt/tool/VERSION")
    sandbox.ok("commit")
    sandbox.ok("stop")
    assert running(sandbox) == []
    sandbox.ok("start")
    assert len(running(sandbox)) == 1
    assert sandbox.ok("execute", "cat /opt/tool/VERSION").stdout.strip() == "v1"
    # reset goes back to the image: the installed file is gone.
    assert "removed" in sandbox.ok("reset").stdout
    assert sandbox.run("execute", "test -e /opt/tool/VERSION").returncode == 1


def test_classic_mode_configure_then_execute(sandbox):
    """No sandbox.yaml: the user's config.json, the current folder mounted."""
    # A name of its own: never the user's real `podman-sandbox` container.
    config = sandbox.root / "config" / "podman-sandbox" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"name": f"psrootless-{uuid.uuid4().hex[:8]}"}))
    sandbox.ok("configure", "--image", sandbox.image, "--network", "none")
    assert sandbox.containers() == []
    assert sandbox.ok("execute", "pwd && touch here").stdout.strip() == "/workspace"
    assert (sandbox.project / "here").stat().st_uid == os.getuid()
    assert len(running(sandbox)) == 1


@needs_v1
def test_status_says_memory_limit_not_enforced(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("start")
    text = sandbox.ok("status").stdout
    memory_line = next(line for line in text.splitlines() if line.startswith("Memory:"))
    assert "64m requested" in memory_line and "NOT enforced" in memory_line
    assert "In sync:      yes" in text
    data = json.loads(sandbox.ok("status", "--json").stdout)
    assert data["running"] is True
    assert data["memory"] == {"requested": 64 * MIB, "effective": None, "enforced": False}
    assert "memory" in data["not_enforced"]


@needs_v1
def test_apply_says_not_enforced_and_a_second_apply_does_nothing(sandbox):
    sandbox.write_spec(spec(sandbox.image, extra="cpus: 1.5\npids_limit: 100\n"))
    first = sandbox.ok("apply", "--json")
    assert json.loads(first.stdout)["not_enforced"] == ["cpus", "memory", "pids_limit"]
    assert "memory 64m, cpus 1.5, pids limit 100 requested but NOT enforced" in first.stderr
    cid = running(sandbox)
    assert len(cid) == 1
    # Podman ignored the limits; that is not drift: nothing to plan, nothing to apply.
    plan = sandbox.run("plan", "--exit-code")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "Not enforced here: cpus, memory, pids_limit" in plan.stdout
    assert "In sync" in plan.stdout
    assert json.loads(sandbox.ok("plan", "--json").stdout)["not_enforced"] == ["cpus", "memory", "pids_limit"]
    second = sandbox.ok("apply", "--json")
    assert json.loads(second.stdout)["changed"] is False
    assert json.loads(second.stdout)["actions"] == []
    assert "NOT enforced" in second.stderr
    assert running(sandbox) == cid


@needs_v1
def test_configure_says_not_enforced(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("start")
    cid = running(sandbox)
    result = sandbox.ok("configure", "--memory", "128m")
    assert "Not enforced: memory 128m requested" in result.stdout
    assert not any(line.startswith("Applied: update") for line in result.stdout.splitlines())
    assert running(sandbox) == cid
    assert json.loads(sandbox.ok("status", "--json").stdout)["memory"]["enforced"] is False
    assert sandbox.run("plan", "--exit-code").returncode == 0


def test_stop_stops_and_list_shows_it(sandbox):
    sandbox.write_spec(spec(sandbox.image, memory=None))
    sandbox.ok("start")
    name = sandbox.containers()[0]["Names"][0]
    listing = sandbox.ok("list").stdout
    assert name in listing and "running" in listing
    sandbox.ok("stop")
    assert running(sandbox) == []
    assert json.loads(sandbox.ok("status", "--json").stdout)["running"] is False


def test_network_none_has_only_loopback(sandbox):
    sandbox.write_spec(spec(sandbox.image, memory=None, network="none"))
    out = sandbox.ok("execute", "cat /proc/net/dev").stdout
    interfaces = {line.split(":")[0].strip() for line in out.splitlines()[2:]}
    assert interfaces == {"lo"}
    assert sandbox.ok("execute", "readlink /proc/self/ns/net").stdout.strip() \
        != os.readlink("/proc/self/ns/net")


def test_network_host_shares_the_hosts_network_namespace(sandbox):
    sandbox.write_spec(spec(sandbox.image, memory=None, network="host"))
    sandbox.ok("allow")  # network: host is a grant (trust.py)
    inside = sandbox.ok("execute", "readlink /proc/self/ns/net").stdout.strip()
    assert inside == os.readlink("/proc/self/ns/net")


def test_default_network_without_tun_explains_the_fix(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\n")  # network: bridge, the default
    result = sandbox.run("execute", "echo started")
    if host.tun_usable():
        # slirp4netns can work here: the default network must then just work.
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "started"
        return
    assert result.returncode == 125, result
    assert "/dev/net/tun" in result.stderr
    assert "network: none" in result.stderr and "chmod 0666 /dev/net/tun" in result.stderr
    assert "\\n" not in result.stderr.splitlines()[-2]  # the reason line, not a dump
    assert sandbox.containers() == []  # nothing half-made left behind


def test_numeric_user_writes_workspace_files_as_the_host_user(sandbox):
    sandbox.write_spec(spec(sandbox.image, memory=None, extra='user: "1000:1000"\n'))
    plan = sandbox.ok("plan").stdout
    assert "--userns=keep-id:uid=1000,gid=1000" in plan
    out = sandbox.ok("execute", "id -u && touch /workspace/by-1000").stdout
    assert out.strip() == "1000"
    st = (sandbox.project / "by-1000").stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_doctor_checks_the_rootless_setup(sandbox):
    """doctor runs as the user and looks at the rootless prerequisites (its own checks
    are tested with doctor; here: it works rootless and does not crash)."""
    result = sandbox.run("doctor")
    assert result.returncode in (0, 122), result.stdout + result.stderr
    text = result.stdout + result.stderr
    assert "rootless" in text
    assert "subordinate" in text or "subuid" in text

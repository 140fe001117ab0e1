"""Limits and isolation on a real Podman: each spec field is what the kernel enforces
inside the sandbox, the defaults are the secure ones, and configure exposes them."""

from __future__ import annotations

import json
import os

from harness import podman

CAP_NET_BIND_SERVICE = 1 << 10


def spec(image: str, extra: str = "") -> str:
    return f"image: {image}\n{extra}"


def cgroup_value(sandbox, v1: str, v2: str) -> str:
    """A cgroup file read inside the sandbox (v1 path, else the v2 one)."""
    return sandbox.ok("execute", f"cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}").stdout


def cpu_quota(sandbox) -> float | None:
    out = sandbox.ok("execute", "if [ -e /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/cpu.max; else "
                     "echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) "
                     "$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); fi").stdout.split()
    quota, period = out
    return None if quota in ("max", "-1") else int(quota) / int(period)


def caps(sandbox) -> int:
    line = [ln for ln in sandbox.ok("execute", "cat /proc/self/status").stdout.splitlines()
            if ln.startswith("CapEff:")][0]
    return int(line.split()[1], 16)


def the_container(sandbox) -> dict:
    [c] = sandbox.containers()
    return sandbox.inspect(c["Id"])


def test_secure_defaults_and_only_the_project_is_mounted(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    info = the_container(sandbox)
    host = info["HostConfig"]
    assert host["Privileged"] is False
    assert any("no-new-privileges" in opt for opt in host.get("SecurityOpt") or [])
    assert host["Init"] is True
    assert host["PidsLimit"] == 2048
    binds = [(m["Source"], m["Destination"], m["RW"]) for m in info["Mounts"]]
    assert binds == [(str(sandbox.project), "/workspace", True)]
    # Inside: no new privileges, an init that reaps zombies as pid 1, the default pids limit.
    status = sandbox.ok("execute", "cat /proc/self/status").stdout
    assert "NoNewPrivs:\t1" in status
    assert "podman-init" in sandbox.ok("execute", "cat /proc/1/cmdline").stdout
    assert cgroup_value(sandbox, "pids/pids.max", "pids.max").strip() == "2048"
    # Podman's default capability set, not everything: no CAP_SYS_ADMIN (bit 21).
    assert caps(sandbox) and not caps(sandbox) & (1 << 21)


def test_cpus_is_the_cgroup_quota_and_configure_changes_it_live(sandbox):
    sandbox.write_spec(spec(sandbox.image, "cpus: 0.5\n"))
    sandbox.ok("apply")
    assert cpu_quota(sandbox) == 0.5
    before = the_container(sandbox)["Id"]
    out = sandbox.ok("configure", "--cpus", "1.5").stdout
    assert "cpus: 0.5 -> 1.5" in out
    assert cpu_quota(sandbox) == 1.5
    assert the_container(sandbox)["Id"] == before  # live: the same container


def test_pids_limit_stops_a_fork_loop(sandbox):
    sandbox.write_spec(spec(sandbox.image, "pids_limit: 20\n"))
    sandbox.ok("apply")
    assert cgroup_value(sandbox, "pids/pids.max", "pids.max").strip() == "20"
    few = sandbox.run("execute", "for i in 1 2 3 4 5; do sleep 1 & done; wait; echo done")
    assert few.returncode == 0 and few.stdout.strip() == "done"
    many = sandbox.run("execute", "i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done; echo all-started")
    assert many.returncode != 0
    assert "all-started" not in many.stdout
    assert "can't fork" in many.stderr or "Resource temporarily unavailable" in many.stderr


def test_configure_pids_limit_and_network_recreate(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    out = sandbox.ok("configure", "--pids-limit", "30", "--network", "none").stdout
    assert "pids_limit: unset -> 30" in out and "network: unset -> " in out
    assert cgroup_value(sandbox, "pids/pids.max", "pids.max").strip() == "30"
    assert sandbox.ok("execute", "ls /sys/class/net").stdout.split() == ["lo"]
    assert "pids_limit: 30" in sandbox.project.joinpath("sandbox.yaml").read_text()


def test_network_none_has_only_loopback(sandbox):
    sandbox.write_spec(spec(sandbox.image, "network: none\n"))
    sandbox.ok("apply")
    assert sandbox.ok("execute", "ls /sys/class/net").stdout.split() == ["lo"]
    assert the_container(sandbox)["HostConfig"]["NetworkMode"] == "none"


def test_default_network_has_an_interface_besides_loopback(sandbox):
    sandbox.write_spec(spec(sandbox.image))
    sandbox.ok("apply")
    names = sandbox.ok("execute", "ls /sys/class/net").stdout.split()
    assert "lo" in names and len(names) >= 2


def test_read_only_root_refuses_writes_but_workspace_and_tmp_work(sandbox):
    sandbox.write_spec(spec(sandbox.image, "read_only: true\n"))
    sandbox.ok("apply")
    for path in ("/etc/x", "/root/x", "/bin/x"):
        result = sandbox.run("execute", f"touch {path}")
        assert result.returncode != 0 and "Read-only file system" in result.stderr, (path, result)
    sandbox.ok("execute", "touch /tmp/x /var/tmp/x /workspace/written")
    assert (sandbox.project / "written").exists()


def test_cap_drop_all_and_cap_add(sandbox):
    sandbox.write_spec(spec(sandbox.image, "cap_drop: [ALL]\n"))
    sandbox.ok("apply")
    assert caps(sandbox) == 0
    assert sandbox.run("execute", "chown 1:1 /workspace").returncode != 0  # no CAP_CHOWN
    sandbox.write_spec(spec(sandbox.image, "cap_drop: [ALL]\ncap_add: [NET_BIND_SERVICE]\n"))
    sandbox.ok("apply", "--force")
    assert caps(sandbox) == CAP_NET_BIND_SERVICE


def test_user(sandbox):
    sandbox.write_spec(spec(sandbox.image, 'user: "65534:65534"\n'))
    sandbox.ok("apply")
    assert sandbox.ok("execute", "id -u; id -g").stdout.split() == ["65534", "65534"]
    assert the_container(sandbox)["Config"]["User"] == "65534:65534"


def test_extra_mounts_read_only_by_default_and_rw_when_asked(sandbox):
    ro = sandbox.root / "reference data"
    rw = sandbox.root / "shared cache"
    ro.mkdir()
    rw.mkdir()
    (ro / "fact.txt").write_text("from the host\n")
    sandbox.write_spec(spec(sandbox.image, "mounts:\n"
                            f"  - source: {json.dumps(str(ro))}\n    target: /data\n"
                            f"  - source: {json.dumps(str(rw))}\n    target: /cache\n    read_only: false\n"))
    sandbox.ok("apply", "--allow")  # mounts are grants (trust.py)
    assert sandbox.ok("execute", "cat /data/fact.txt").stdout == "from the host\n"
    refused = sandbox.run("execute", "echo x > /data/new")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert not (ro / "new").exists()
    sandbox.ok("execute", "echo made inside > /cache/out")
    assert (rw / "out").read_text() == "made inside\n"
    binds = sorted((m["Destination"], m["RW"]) for m in the_container(sandbox)["Mounts"])
    assert binds == [("/cache", True), ("/data", False), ("/workspace", True)]


def test_never_privileged_whatever_the_spec(sandbox):
    """No spec field reaches --privileged: even approved SYS_ADMIN and MKNOD keep the device
    and security walls (cap_add: [ALL] is refused at validation: tests/security/test_consent.py)."""
    sandbox.write_spec(spec(sandbox.image, "cap_add: [SYS_ADMIN, SYS_RAWIO, MKNOD]\n"))
    sandbox.ok("apply", "--allow")
    info = the_container(sandbox)
    assert info["HostConfig"]["Privileged"] is False
    assert any("no-new-privileges" in opt for opt in info["HostConfig"].get("SecurityOpt") or [])
    # A privileged container sees the host's block devices; ours sees none of them.
    host_disks = set(os.listdir("/sys/block"))
    assert host_disks and not host_disks & set(sandbox.ok("execute", "ls /dev").stdout.split())
    create = podman("container", "inspect", "--format", "{{.Config.CreateCommand}}", info["Id"]).stdout
    assert "--privileged" not in create

"""A runaway sandbox leaves the host some CPU by default, and code inside cannot lift
that by editing sandbox.yaml: `cpus: null` (no limit) is a grant like a mount."""

from __future__ import annotations

import json

from harness import podman
from podman_sandbox.engine import cgroup
from podman_sandbox.schema.spec import default_cpus

REFUSED = 123


def _cores(sandbox, name: str) -> float | None:
    pid = json.loads(podman("inspect", name).stdout)[0]["State"]["Pid"]
    return cgroup.cpu_limit(pid)


def test_the_default_cpu_limit_is_enforced_and_the_sandbox_cannot_lift_it(sandbox):
    expected = default_cpus()
    assert expected is not None, "root on this host: limits are enforced"
    sandbox.write_spec(f"image: {sandbox.image}\n")
    sandbox.ok("execute", "true")
    name = sandbox.containers()[0]["Names"][0]
    assert _cores(sandbox, name) == expected
    before = sandbox.inspect(name)["Id"]

    # From inside: lift the limit, then hope the user's next command applies it.
    sandbox.ok("execute", "printf 'cpus: null\\n' >> /workspace/sandbox.yaml")
    refused = sandbox.run("execute", "true")
    assert refused.returncode == REFUSED, refused
    assert "cpus null" in refused.stderr and "podman-sandbox allow" in refused.stderr
    assert sandbox.inspect(name)["Id"] == before and _cores(sandbox, name) == expected

    # The user can lift it, and says so: configure approves what it writes.
    sandbox.write_spec(f"image: {sandbox.image}\n")
    done = sandbox.ok("configure", "--cpus", "none")
    assert "cpus null" in done.stdout  # approved as typed
    assert "cpus: null" in (sandbox.project / "sandbox.yaml").read_text()
    assert _cores(sandbox, name) == 0.0  # no limit now (lifting one re-creates: Podman cannot)

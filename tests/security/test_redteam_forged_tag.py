"""Red team: a command that forges the exec tag to outlive its own timeout.

`execute` marks each command with a random PODMAN_SANDBOX_EXEC value and, on a
timeout, spares processes tagged by *another* execute (they are another
command's). But the command chooses its children's environment: a child
started as `env PODMAN_SANDBOX_EXEC=anything ...` carries a tag that is not
ours, whether or not any other command exists, and so is spared. After 124,
nothing the command started may still run, forged tag or not.
"""

from __future__ import annotations

import pytest

from test_stopping import leftovers, running, wait_for

FORGERS = {
    # a child with a made-up tag, still under the command's shell
    "child": "env PODMAN_SANDBOX_EXEC=forged sleep 301 & sleep 300",
    # the same, double-forked (reparented to the sandbox's init)
    "orphan": "(env PODMAN_SANDBOX_EXEC=forged setsid sleep 301 &) ; sleep 300",
}


@pytest.mark.parametrize("how", sorted(FORGERS))
def test_forged_tag_does_not_outlive_the_timeout(sandbox, how):
    name = running(sandbox)
    result = sandbox.run("execute", "--timeout", "2", FORGERS[how])
    assert result.returncode == 124, (result.returncode, result.stdout, result.stderr)
    left = wait_for(lambda: not leftovers(name)) or leftovers(name)
    assert left is True or left == [], f"still running after the timeout: {left}"


def test_the_inside_fallback_ends_a_forged_tag_too(sandbox):
    """Rootless, the sandbox itself runs the stop (stopping.from_inside); driven directly
    here, as test_stopping does (as root the host path serves)."""
    import signal

    from podman_sandbox.engine import stopping
    from test_stopping import seen, tagged_exec

    name = running(sandbox)
    init = int(sandbox.inspect(name)["State"]["Pid"])
    tag = "e" * 32
    ours, since = tagged_exec(name, tag, "env PODMAN_SANDBOX_EXEC=forged sleep 3201 & sleep 3202")
    try:
        assert wait_for(lambda: seen(name, "sleep 3201") and seen(name, "sleep 3202"))
        scope = stopping.Scope(tag, init, since)
        assert stopping.from_inside(scope, name, signal.SIGTERM, "podman") is True
        assert not any(seen(name, f"sleep 320{i}") for i in (1, 2)), leftovers(name)
    finally:
        ours.kill()
        ours.wait()

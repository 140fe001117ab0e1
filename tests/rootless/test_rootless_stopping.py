"""Stopping a command as an unprivileged user (issue 10): on a cgroup v1 host rootless
containers have no cgroup of their own, so what the stop may attribute to the command by
start time must be held to the sandbox's pid namespace (the user's other processes share
the cgroup), and what the host cannot see is ended from inside the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from harness import podman, wait_for




def leftovers(name: str) -> list[str]:
    rows = podman("top", name, "pid", "args", check=False).stdout.splitlines()[1:]
    args = [r.split(None, 1)[1] for r in rows if len(r.split(None, 1)) == 2]
    return [a for a in args if "podman-init" not in a and a.strip() != "sleep infinity"]


def test_timeout_ends_what_dropped_the_tag_and_spares_the_users_own(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\nnetwork: none\n")
    sandbox.ok("apply")
    [c] = sandbox.containers()
    name = c["Names"][0]
    # A process of the user's on the host, started during the command: never ours.
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    earlier = subprocess.Popen([sys.executable, "-m", "podman_sandbox", "execute",
                                "env -u PODMAN_SANDBOX_EXEC sleep 2201 & sleep 2202"],
                               cwd=sandbox.project, env=sandbox.env, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        assert wait_for(lambda: {"sleep 2201", "sleep 2202"} <= {a.strip() for a in leftovers(name)})
        result = sandbox.run("execute", "--timeout", "2",
                             "exec env -i sh -c 'sleep 1004 & (sleep 1005 &); sleep 100'")
        assert result.returncode == 124, result
        assert wait_for(lambda: not any("sleep 100" in a for a in leftovers(name))), leftovers(name)
        assert {"sleep 2201", "sleep 2202"} <= {a.strip() for a in leftovers(name)}
        assert mine.poll() is None
    finally:
        mine.kill()
        mine.wait()
        os.killpg(earlier.pid, signal.SIGTERM)
        earlier.wait(timeout=30)
    assert earlier.returncode == 143

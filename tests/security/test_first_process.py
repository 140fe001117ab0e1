"""Nothing of the image runs before the new container's mounts are checked.

The sandbox can save a state (commit, auto_commit) in which every program is its
own: /bin/sleep rewritten to act on whatever is mounted. A container made from
that state must run none of it until a command is asked for: it idles in
Podman's init (the host's catatonit, mounted by --init), so the check of its
mounts (engine/apply.py) comes before anything of the sandbox's runs. Before,
it idled in the image's `sleep infinity`, which ran as soon as Podman started
the container.
"""

from __future__ import annotations

TROJAN = ("rm -f /bin/sleep && printf '#!/bin/sh\\necho ran > /workspace/trojan-ran\\n"
          "exec busybox sleep \"$@\"\\n' > /bin/sleep && chmod 755 /bin/sleep")


def test_a_saved_state_whose_sleep_is_a_trojan_runs_nothing_until_asked(sandbox):
    sandbox.write_spec(f"image: {sandbox.image}\n")
    sandbox.ok("execute", TROJAN)
    sandbox.ok("execute", "/bin/sleep 0")  # the trojan works when asked for (busybox sh runs a bare `sleep` itself)
    marker = sandbox.project / "trojan-ran"
    assert marker.exists()
    marker.unlink()
    sandbox.ok("commit")
    sandbox.ok("stop")  # removes the container; the next one starts from the saved state
    assert not sandbox.containers()

    sandbox.ok("start")
    # A command in the new container: by then an idle program of the image would have run.
    listing = sandbox.ok("execute", "ps -o args").stdout.splitlines()
    assert not marker.exists(), "the image's sleep ran in the new container before any command"
    idle = [line.strip() for line in listing[1:] if "ps -o args" not in line and line.strip()
            and not line.strip().startswith("sh -c")]
    assert idle and all(line.startswith("/run/podman-init") for line in idle), listing
    assert sandbox.ok("execute", "test -x /bin/sleep && head -1 /bin/sleep").stdout.startswith("#!")

"""Red team: a sandbox stopped twice (two reboots) and started again by the fast path.

The fast path starts a stopped container by id (fastpath.start_again) when its
record still describes the spec. The record notes each extra mount's source
and where it then led (record.links), and serves only while each source still
leads there: Podman's `start` mounts the source path again, following whatever
symlink now stands there. A restart must keep that note, or the *second*
restart starts the container on a source the sandbox swapped meanwhile.
"""

from __future__ import annotations

from harness import podman


def _reboot(name: str) -> None:
    """What a reboot does to the sandbox: its container stops, nothing else changes."""
    podman("stop", "--time", "0", name)


def test_second_fast_restart_still_checks_mount_sources(sandbox, outside):
    (sandbox.project / "data").mkdir()
    (sandbox.project / "data" / "own").write_text("project data\n")
    sandbox.write_spec(f"image: {sandbox.image}\nmounts:\n  - source: ./data\n    target: /data\n"
                       "    read_only: false\n")
    sandbox.ok("apply", "--allow")
    assert sandbox.ok("execute", "cat /data/own").stdout.strip() == "project data"
    name = sandbox.containers()[0]["Names"][0]

    _reboot(name)
    assert sandbox.ok("execute", "cat /data/own").stdout.strip() == "project data"  # fast restart

    # From inside: the mount source becomes a symlink to a host folder outside the project.
    sandbox.ok("execute", f"rm -rf /workspace/data && ln -s {outside} /workspace/data")
    _reboot(name)

    result = sandbox.run("execute", "cat /data/marker")
    assert "host secret" not in result.stdout, "the swapped source was mounted on a restart"
    assert result.returncode == 123, (result.returncode, result.stdout, result.stderr)
    assert str(outside) in result.stderr, result.stderr

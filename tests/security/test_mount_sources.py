"""Mount sources are checked at every create, on what the path is then.

Code in the sandbox can write the project folder: it replaces `./data` (a
mount source) with a symlink to a host folder outside the project. The next
re-create must refuse (exit 123), and the outside folder never shows up in
the sandbox.
"""

from __future__ import annotations


import pytest

from harness import podman

REFUSED = 123


def _spec(image: str, extra: str = "") -> str:
    return (f"image: {image}\nmounts:\n  - source: ./data\n    target: /data\n{extra}")


def test_mount_source_swapped_for_a_symlink_from_inside_is_refused(sandbox, outside):
    (sandbox.project / "data").mkdir()
    (sandbox.project / "data" / "own").write_text("project data\n")
    # auto_commit: a re-create never stops at "uncommitted changes": only the mount can.
    sandbox.write_spec(_spec(sandbox.image, "auto_commit: true\n"))
    sandbox.ok("allow")
    assert sandbox.ok("execute", "cat /data/own").stdout.strip() == "project data"
    name = sandbox.containers()[0]["Names"][0]
    before = sandbox.inspect(name)["Id"]

    # From inside: the mount source becomes a symlink to the host folder.
    sandbox.ok("execute", f"rm -rf /workspace/data && ln -s {outside} /workspace/data")
    assert (sandbox.project / "data").is_symlink()

    sandbox.write_spec(_spec(sandbox.image, "auto_commit: true\nenv:\n  CHANGED: '1'\n"))  # a re-create
    # Two walls: the approval was for ./data as it was (consent refuses the new real path),
    # and even a user who approves without reading is refused by the check at create.
    for argv in (("apply",), ("execute", "cat /data/marker"), ("apply", "--allow")):
        result = sandbox.run(*argv)
        assert result.returncode == REFUSED, (argv, result.returncode, result.stdout, result.stderr)
        assert str(outside) in result.stderr, result.stderr
        if "--allow" in argv:
            assert "mounts[0]" in result.stderr and "outside the project" in result.stderr, result.stderr
    assert sandbox.inspect(name)["Id"] == before  # the old sandbox is left as it was
    seen = podman("exec", name, "cat", "/data/marker", check=False)
    assert seen.returncode != 0 and "host secret" not in seen.stdout
    assert [c["Names"][0] for c in sandbox.containers()] == [name]  # no NAME-next left


def test_mount_source_swapped_for_a_symlink_to_root_is_refused_with_force_off(sandbox):
    (sandbox.project / "data").mkdir()
    sandbox.write_spec(_spec(sandbox.image))
    sandbox.ok("apply", "--allow")
    sandbox.ok("execute", "rmdir /workspace/data && ln -s / /workspace/data")
    sandbox.ok("stop")
    for argv in (("start",), ("start", "--allow")):  # a plain create: nothing cached vouches for it
        result = sandbox.run(*argv)
        assert result.returncode == REFUSED, (argv, result.returncode, result.stdout, result.stderr)
    assert sandbox.containers() == []


def test_symlink_the_user_retargets_inside_the_project_recreates(sandbox):
    """Not an attack: the user points ./data elsewhere in the project; the sandbox follows."""
    for sub in ("one", "two"):
        (sandbox.project / sub).mkdir()
        (sandbox.project / sub / "which").write_text(sub + "\n")
    (sandbox.project / "data").symlink_to("one")
    sandbox.write_spec(_spec(sandbox.image))
    sandbox.ok("allow")
    assert sandbox.ok("execute", "cat /data/which").stdout.strip() == "one"
    (sandbox.project / "data").unlink()
    (sandbox.project / "data").symlink_to("two")
    assert sandbox.run("plan", "--exit-code").returncode == 2  # drift: the real path changed
    assert sandbox.ok("apply", "--allow").returncode == 0  # the new real path is a new grant
    assert sandbox.ok("execute", "cat /data/which").stdout.strip() == "two"


def test_a_swap_between_the_check_and_podmans_mount_is_caught(sandbox, outside, monkeypatch):
    """The race: the old sandbox swaps ./data for a symlink after the check passed and
    before Podman mounts it. Simulated in-process, at exactly that moment, with real
    Podman: the started container's mounts are compared with what was checked, and it
    is removed before anything runs in it."""
    from podman_sandbox.engine import apply
    from podman_sandbox.engine.desired import Desired
    from podman_sandbox.engine.runner import Runner
    from podman_sandbox.errors import RefusedError
    from podman_sandbox.output import Output
    from podman_sandbox.schema.spec import build_spec

    for var, sub in sandbox.XDG:
        monkeypatch.setenv(var, str(sandbox.root / sub))
    data = sandbox.project / "data"
    data.mkdir()
    spec = build_spec({"image": sandbox.image, "mounts": [{"source": "./data", "target": "/data"}]},
                      project_dir=str(sandbox.project), source=str(sandbox.project / "sandbox.yaml"),
                      mode="project")

    class SwappingRunner(Runner):
        def run(self, argv, **kw):
            if argv[1:3] == ["run", "--detach"]:  # checked already; Podman mounts next
                data.rename(sandbox.project / "data.old")
                data.symlink_to(outside)
            return super().run(argv, **kw)

    with pytest.raises(RefusedError, match="does not have the mounts that were checked"):
        apply.converge(SwappingRunner(), Desired.from_spec(spec), out=Output(quiet=True))
    assert sandbox.containers() == []  # removed before anything ran in it

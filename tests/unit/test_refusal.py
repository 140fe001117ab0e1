"""Uncommitted work in the sandbox is never thrown away unless someone said so.

The recorded sandbox with changed paths in it (fixtures/diff_dirty.json) and a
spec whose env changed (a replace): `apply`, `start` and `execute` in a project
refuse with exit 123 before any container changes; `apply --force` and the API's
apply(force=True) replace it. An image that is gone locally and comes back with
another id is caught by the check made after the pull. scripts/mutate breaks
each of these rules and expects a test here to fail.
"""

from __future__ import annotations

import pytest

from fake_runner import RECORDED_IMAGE, RECORDED_NAME, RECORDED_SPEC, FakeRunner, invoke, load, make_project, \
    recorded_world
from podman_sandbox.engine import cgroup, execute, host
from podman_sandbox.engine.runner import Result

CHANGED_SPEC = RECORDED_SPEC.replace("APP_ENV: test", "APP_ENV: prod")
DIRTY = ("/opt/tool/bin", "/root/work.txt")  # in diff_dirty.json


@pytest.fixture(autouse=True)
def recorded_cgroup(monkeypatch):
    """The recorded container's pid is not alive here: its cgroup says what it was made with."""
    monkeypatch.setattr(cgroup, "memory_limit", lambda pid: (True, 64 * 1024 * 1024))
    monkeypatch.setattr(cgroup, "cpu_limit", lambda pid: 0.0)
    monkeypatch.setattr(host, "rootless_cgroup_v1", lambda: False)


@pytest.fixture(autouse=True)
def no_exec(monkeypatch):
    """`execute` after a converge: the command itself is not what these tests are about."""
    ran = []
    monkeypatch.setattr(execute, "run", lambda container, command, **kw: ran.append(command) or 0)
    return ran


def dirty_world(project, fixture: str = "inspect_running.json", runner=None) -> FakeRunner:
    fake = recorded_world(project, fixture) if runner is None else runner
    fake.diff = load("diff_dirty.json")
    return fake


def assert_refused(result, fake: FakeRunner) -> None:
    assert result.code == 123, result
    assert "would discard" in result.stderr, result.stderr
    assert all(path in result.stderr for path in DIRTY), result.stderr
    changed = [c[1] for c in fake.changes_made()]
    assert not {"create", "run", "rm", "rename"} & set(changed), changed
    assert RECORDED_NAME in fake.containers  # the sandbox with the work in it is still there


def assert_replaced(fake: FakeRunner, old_id: str) -> None:
    assert fake.containers[RECORDED_NAME]["Id"] != old_id
    assert "APP_ENV=prod" in fake.containers[RECORDED_NAME]["Config"]["Env"]


@pytest.mark.parametrize("argv", [("apply",), ("start",), ("execute", "true")],
                         ids=["apply", "start", "execute"])
def test_a_project_refuses_to_discard_uncommitted_work(tmp_path, monkeypatch, argv, no_exec):
    """In a project, start and execute refuse as apply does: the spec can change under
    you (a git pull), so discarding is never the default there."""
    project = make_project(tmp_path, monkeypatch, spec=CHANGED_SPEC)
    fake = dirty_world(project)
    assert_refused(invoke(fake, *argv), fake)
    assert no_exec == []  # the command did not run in a sandbox it was about to lose


def test_the_refusal_is_about_discarding_not_about_the_change(tmp_path, monkeypatch):
    """The same change with a clean container goes through: the refusal tests above
    fail for the uncommitted work, not for the env change."""
    project = make_project(tmp_path, monkeypatch, spec=CHANGED_SPEC)
    fake = recorded_world(project)  # diff_clean.json
    old = fake.containers[RECORDED_NAME]["Id"]
    result = invoke(fake, "apply")
    assert result.code == 0, result
    assert_replaced(fake, old)


def test_apply_force_discards_with_a_notice(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch, spec=CHANGED_SPEC)
    fake = dirty_world(project)
    old = fake.containers[RECORDED_NAME]["Id"]
    result = invoke(fake, "apply", "--force")
    assert result.code == 0, result
    assert_replaced(fake, old)
    assert "discarding 2 uncommitted changed path(s)" in result.stderr, result.stderr


def test_the_api_refuses_unless_forced(tmp_path, monkeypatch):
    from podman_sandbox import Sandbox, app
    from podman_sandbox.errors import RefusedError

    project = make_project(tmp_path, monkeypatch, spec=CHANGED_SPEC)
    fake = dirty_world(project)
    monkeypatch.setattr(app, "Runner", lambda verbose=False: fake)
    old = fake.containers[RECORDED_NAME]["Id"]
    with pytest.raises(RefusedError, match="would discard") as refused:
        Sandbox(project).apply()
    assert refused.value.exit_code == 123
    assert fake.containers[RECORDED_NAME]["Id"] == old
    Sandbox(project).apply(force=True)
    assert_replaced(fake, old)


class PullingRunner(FakeRunner):
    """A registry that has the image, under a new id (the tag moved since the last pull)."""

    def _pull(self, argv, args):
        ref = args[-1]
        base = next(e for e in load("inspect_running.json") if "RootFS" in e)
        self.add_image(dict(base, Id="f" * 64, RepoTags=[ref]))
        return Result(argv, 0, "f" * 64 + "\n", "")


def test_the_plan_made_after_the_pull_is_checked_too(tmp_path, monkeypatch):
    """The image is gone locally: the first plan only pulls (nothing to discard yet). The
    pulled image has another id, so the plan made after the pull replaces the container:
    that plan is refused, before anything but the pull has run."""
    project = make_project(tmp_path, monkeypatch)
    runner = PullingRunner.recorded("inspect_image_absent.json", str(project))
    for row in load("images_setup.json", str(project)):
        runner.add_image(row)
    fake = dirty_world(project, runner=runner)
    old = fake.containers[RECORDED_NAME]["Id"]
    result = invoke(fake, "apply")
    assert [c[1] for c in fake.called("pull")] == ["pull"]  # it got as far as the pull
    assert fake.called("pull")[0][-1] == RECORDED_IMAGE
    assert_refused(result, fake)
    assert fake.containers[RECORDED_NAME]["Id"] == old
    forced = invoke(fake, "apply", "--force")  # and the replace is what that plan was
    assert forced.code == 0, forced
    assert fake.containers[RECORDED_NAME]["Id"] != old

"""engine/firstlook.py: the survey's reads begun early, under the sandbox lock held
until the converge is done; answers used only for exactly the names they asked."""

from __future__ import annotations

import copy

import pytest

from fake_runner import RECORDED_DOC, RECORDED_PROJECT, FakeRunner, recorded_cgroup
from podman_sandbox.engine.apply import converge
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.firstlook import FirstLook
from podman_sandbox.engine.lock import sandbox_lock
from podman_sandbox.engine.names import survey_names
from podman_sandbox.errors import LockTimeoutError
from podman_sandbox.output import Output
from podman_sandbox.schema.spec import build_spec

cgroup_reads = pytest.fixture(autouse=True)(recorded_cgroup)


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    for var in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        folder = tmp_path / var.lower()
        folder.mkdir(mode=0o700)
        monkeypatch.setenv(var, str(folder))


def desired(**changes) -> Desired:
    doc = {**copy.deepcopy(RECORDED_DOC), **changes}
    doc.pop("setup", None)
    return Desired.from_spec(build_spec(doc, project_dir=RECORDED_PROJECT,
                                        source=f"{RECORDED_PROJECT}/sandbox.yaml", mode="project"))


def test_it_holds_the_sandbox_lock_until_it_is_left():
    fake = FakeRunner.recorded("inspect_missing.json", RECORDED_PROJECT)
    spec = desired().spec
    with FirstLook(fake, spec.name, spec.image, change_likely=True):
        with pytest.raises(LockTimeoutError):
            with sandbox_lock(spec.name, wait=0):
                pass
    with sandbox_lock(spec.name, wait=0):  # free again
        pass


def test_an_answer_serves_only_the_names_it_asked():
    fake = FakeRunner.recorded("inspect_missing.json", RECORDED_PROJECT)
    spec = desired().spec
    with FirstLook(fake, spec.name, spec.image, change_likely=False) as look:
        assert look.states("localhost/podman-sandbox-state-" + spec.name) is None  # not begun
        assert look.inspect([spec.name, spec.image]) is None
        assert look.inspect(look.names) is None  # each answer is used once


def test_a_converge_with_it_asks_podman_nothing_twice():
    """A first create: the look's inspect and listing are all the reads there are."""
    fake = FakeRunner.recorded("inspect_missing.json", RECORDED_PROJECT)
    want = desired()
    with FirstLook(fake, want.spec.name, want.spec.image, change_likely=True) as look:
        converge(fake, want, out=Output(quiet=True), first_look=look)
    # The last inspect is the new container's (a fake one is in no /proc, so engine/made.py
    # finds nothing and the mounts are checked through podman inspect, as before).
    assert [c[1] for c in fake.calls] == ["inspect", "images", "run", "inspect"], fake.calls


def test_a_look_for_another_sandbox_is_not_used(tmp_path):
    fake = FakeRunner.recorded("inspect_missing.json", RECORDED_PROJECT)
    want = desired()
    other = desired(name="another-sandbox").spec
    with FirstLook(fake, other.name, other.image, change_likely=True) as look:
        before = len(fake.calls)
        converge(fake, want, out=Output(quiet=True), first_look=look)
    asked = fake.calls[before:]
    assert asked[0][:3] == ["podman", "inspect", want.spec.name]  # its own inspect, its own lock


def test_the_app_begins_the_look_before_it_builds_the_spec(tmp_path, monkeypatch):
    """The reads start from the validated document (its name and image), so they run while
    the Spec is built and consent checked; the converge then asks nothing twice."""
    from fake_runner import make_project, recorded_world
    from podman_sandbox.app import App
    from podman_sandbox.schema import spec as spec_module

    fake = recorded_world(make_project(tmp_path, monkeypatch), "inspect_missing.json")
    build, asked_before = spec_module.build_spec, []

    def building(*args, **kwargs):
        asked_before.append(sorted(c[1] for c in fake.calls))
        return build(*args, **kwargs)

    monkeypatch.setattr(spec_module, "build_spec", building)
    app = App(runner=fake)
    app.converge()
    assert asked_before[0] == ["images", "inspect"]
    look = ["podman", "inspect", *survey_names(app.spec.name, app.spec.image)]  # the Spec's names
    assert fake.calls[0] == look and fake.calls.count(look) == 1
    assert fake.calls.count(fake.calls[1]) == 1  # the saved states' listing
    assert fake.called("run")

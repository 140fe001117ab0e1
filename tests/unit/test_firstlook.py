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


# --- the look never makes the checks before the converge wait -------------------------

GRANTING_TAIL = "cap_add: [SYS_PTRACE]\nnetwork: host\n"


def never_waits(monkeypatch):
    """Fails the test if anything waits for a busy lock (engine/lock.py polls with sleep)."""
    from podman_sandbox.engine import lock

    def waited(seconds):
        raise AssertionError("waited for a busy sandbox lock")

    monkeypatch.setattr(lock.time, "sleep", waited)


def test_a_busy_lock_does_not_hold_back_a_consent_refusal(tmp_path, monkeypatch):
    """Another command converging the sandbox: the refusal (123, naming the grants) still
    comes at once, not a LockTimeoutError after the wait."""
    from fake_runner import RECORDED_NAME, RECORDED_SPEC, make_project, recorded_world
    from podman_sandbox import trust
    from podman_sandbox.app import App

    project = make_project(tmp_path, monkeypatch, spec=RECORDED_SPEC + GRANTING_TAIL)
    fake = recorded_world(project, "inspect_missing.json")
    with sandbox_lock(RECORDED_NAME):
        never_waits(monkeypatch)
        with pytest.raises(trust.ConsentError):
            App(runner=fake, prompt=False).converge()
    assert fake.calls == []  # no look: the lock was busy


def test_a_busy_lock_does_not_hold_back_a_project_folder_refusal(tmp_path, monkeypatch):
    from fake_runner import RECORDED_NAME, make_project, recorded_world
    from podman_sandbox.app import App
    from podman_sandbox.errors import SandboxError

    project = make_project(tmp_path, monkeypatch)
    odd = tmp_path / "a:b"  # Podman's --volume cannot carry it
    project.rename(odd)
    monkeypatch.chdir(odd)
    monkeypatch.setenv("PWD", str(odd))
    with sandbox_lock(RECORDED_NAME):
        never_waits(monkeypatch)
        with pytest.raises(SandboxError, match="':'"):
            App(runner=recorded_world(odd, "inspect_missing.json")).converge()


def test_without_podman_a_refusal_comes_first(tmp_path, monkeypatch):
    """The look cannot start podman: the converge's checks still come first (123 before 122)."""
    from fake_runner import RECORDED_SPEC, make_project, recorded_world
    from podman_sandbox import trust
    from podman_sandbox.app import App
    from podman_sandbox.errors import PodmanMissingError

    project = make_project(tmp_path, monkeypatch, spec=RECORDED_SPEC + GRANTING_TAIL)
    fake = recorded_world(project, "inspect_missing.json")

    def missing(argv, *, what):
        raise PodmanMissingError("podman is not installed (not found on PATH)")

    monkeypatch.setattr(fake, "start", missing)
    with pytest.raises(trust.ConsentError):
        App(runner=fake, prompt=False).converge()


def test_after_a_question_the_converge_holds_the_lock_itself(tmp_path, monkeypatch):
    """A look closed before a question on a terminal never stands in for the lock: the
    converge after the answer takes it again (apply.converge, first_look.closed)."""
    import sys

    from fake_runner import RECORDED_NAME, RECORDED_SPEC, make_project, recorded_world
    from podman_sandbox.app import App
    from podman_sandbox.engine import apply

    class Terminal:
        def isatty(self) -> bool:
            return True

        def readline(self) -> str:
            return "y\n"

        def write(self, text: str) -> None:
            pass

        def flush(self) -> None:
            pass

    project = make_project(tmp_path, monkeypatch, spec=RECORDED_SPEC + GRANTING_TAIL)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(sys, "stderr", Terminal())
    held, survey = [], apply.survey

    def surveying(*args, **kwargs):
        try:
            with sandbox_lock(RECORDED_NAME, wait=0):
                held.append(False)
        except LockTimeoutError:
            held.append(True)
        return survey(*args, **kwargs)

    monkeypatch.setattr(apply, "survey", surveying)
    fake = recorded_world(project, "inspect_missing.json")
    App(runner=fake).converge()
    assert held and all(held), held
    assert fake.called("run")

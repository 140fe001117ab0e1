"""Podman's answers are read by one reader (engine/answers.py): a failing Podman is an
error (exit 125, one line naming the call), never an empty answer the plan would
trust; "no such object" is an answer; a pod named like the sandbox is said so.

The world is the recorded sandbox (tests/unit/fixtures) in a FakeRunner; a test
makes one Podman call fail the way Podman fails (exit 125 and its error line) or
answer with output that is not its JSON.
"""

from __future__ import annotations

import pytest

from fake_runner import RECORDED_NAME, FakeRunner, current_key, invoke, load, make_project, recorded_world
from podman_sandbox.engine import actual as act
from podman_sandbox.engine import answers, images
from podman_sandbox.engine.apply import survey
from podman_sandbox.engine.runner import Result
from podman_sandbox.errors import EXIT_FAILED, EXIT_PODMAN, PodmanError, SandboxError
from test_plan_table import RECORDED_DOC, desired, kinds, world

PROD_SPEC = """\
image: {image}
name: {name}
memory: 64m
setup:
  - echo ran > /root/setup-done
env:
  APP_ENV: prod
""".format(image=RECORDED_DOC["image"], name=RECORDED_NAME)

IMAGES_FAIL = (125, "Error: opening database /var/lib/containers/storage/libpod/bolt_state.db: timeout\n")


def committed_world(project) -> FakeRunner:
    """The recorded sandbox running, its setup image cached and its work committed."""
    fake = recorded_world(project)
    for row in load("images_state.json", str(project)):
        fake.add_image(row)
    return fake


def answer(fake: FakeRunner, sub: str, stdout: str, code: int = 0, stderr: str = "") -> None:
    """Make `podman SUB` answer stdout (and exit code) whatever it is asked."""
    setattr(fake, "_" + sub, lambda argv, args: Result(argv, code, stdout, stderr))


# --- a failing `podman images` never plans from the setup image -----------------------

def test_a_change_starts_from_the_committed_state(tmp_path, monkeypatch):
    """The control: with Podman answering, the new container starts from the saved work."""
    project = make_project(tmp_path, monkeypatch, spec=PROD_SPEC)
    result = invoke(committed_world(project), "plan")
    assert result.code == 0, result
    assert images.state_tag(RECORDED_NAME, current_key(str(project))) in result.stdout


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_failing_podman_images_fails_plan_and_apply(tmp_path, monkeypatch, command):
    project = make_project(tmp_path, monkeypatch, spec=PROD_SPEC)
    fake = committed_world(project)
    fake.fail["images"] = IMAGES_FAIL
    result = invoke(fake, command)
    assert result.code == EXIT_PODMAN, result
    assert "podman images failed: opening database" in result.stderr
    assert "Traceback" not in result.stderr
    assert "build-setup" not in result.stdout + result.stderr  # never planned from the setup image
    assert fake.changes_made() == []


@pytest.mark.parametrize("stdout", ["[{\"Id\": ", "{\"Id\": \"x\"}", "[\"x\"]"])
def test_images_output_that_is_not_its_json_fails_the_plan(stdout):
    fake = world(committed=True)
    answer(fake, "images", stdout)
    with pytest.raises(PodmanError, match="podman images failed: its answer is not"):
        survey(fake, desired(env={"APP_ENV": "prod"}))
    assert fake.changes_made() == []


def test_no_image_is_an_answer():
    """`podman images` with no match: exit 0 and [] (or null): nothing cached, not an error."""
    for stdout in ("[]", "null", ""):
        fake = world()
        answer(fake, "images", stdout)
        assert kinds(survey(fake, desired(env={"APP_ENV": "prod"})).plan) == [
            ("build-setup", "rebuild"), ("replace", "recreate")]


# --- inspect: missing is an answer, anything else that fails is an error ---------------

def test_no_such_object_is_an_answer():
    plan = survey(world("inspect_missing.json"), desired()).plan
    assert kinds(plan) == [("create", "create")]


@pytest.mark.parametrize("code, stdout, stderr, message", [
    (125, "", "Error: creating runtime static files directory: mkdir /run/libpod: permission denied\n",
     "podman inspect failed: creating runtime static files"),
    (125, "[]", "", "podman inspect failed: exit 125"),
    (0, "[{\"Id\": \"abc\", ", "", "podman inspect failed: its answer is not JSON"),
    (0, "{}", "", "its answer is not a JSON list of objects"),
    # the container found and the image missing, but another error besides
    (125, "[]", 'Error: no such object: "x"\nError: database is locked\n', "database is locked"),
    (125, "[]", 'time="2026" level=error msg="storage is corrupt"\nError: no such object: "x"\n',
     "podman inspect failed"),
])
def test_a_failing_inspect_is_an_error(code, stdout, stderr, message):
    fake = world()
    answer(fake, "inspect", stdout, code, stderr)
    with pytest.raises(PodmanError, match=message) as failed:
        act.observe(fake, desired())
    assert failed.value.exit_code == EXIT_PODMAN


def test_warnings_beside_no_such_object_are_still_an_answer():
    stderr = ("WARN[0000] Using cgroups-v1 which is deprecated in favor of cgroups-v2\n"
              'time="2026-12-01T00:00:00Z" level=warning msg="The cgroupv2 manager is set"\n'
              'Error: no such object: "a"\n')
    assert answers.read_inspect(["a"], Result(["podman", "inspect", "a"], 125, "[]", stderr)) == [None]


def test_each_entry_is_matched_to_the_name_asked():
    """Podman leaves missing names out: the answer for IMAGE is not taken for NAME's."""
    entries = load("inspect_running.json")
    result = Result(["podman", "inspect", "a", "b", "c"], 125, __import__("json").dumps(entries[1:]),
                    'error inspecting object: no such object: "c"\n'
                    'Error: inspecting object: no such object: "a"\n')
    assert answers.read_inspect(["a", "b", "c"], result) == [None, entries[1], None]
    with pytest.raises(PodmanError, match="1 answer"):
        answers.read_inspect(["a", "b", "c"], Result(result.argv, 125, result.stdout,
                                                     'Error: no such object: "a"\n'))


def test_an_image_named_like_the_sandbox_is_not_its_container():
    """`podman inspect NAME` finds an image NAME when no container has the name: the
    sandbox is missing (a container of that name can be made), the base image is the
    one in the image's own place."""
    fake = world("inspect_missing.json")
    namesake = dict(load("inspect_running.json")[1], Id="e" * 64,
                    RepoTags=[f"localhost/{RECORDED_NAME}:latest"])
    fake.add_image(namesake)
    fake._image = lambda ref, real=fake._image: namesake if ref == RECORDED_NAME else real(ref)
    found = act.observe(fake, desired())
    assert found.state == "missing"
    assert found.base_image_id == load("inspect_running.json")[1]["Id"]


# --- a pod named like the sandbox ---------------------------------------------------------

def test_a_pod_of_the_sandbox_name_is_a_clear_answer():
    fake = world("inspect_pod.json")
    assert answers.kind(fake.pods[RECORDED_NAME]) == "pod"
    with pytest.raises(SandboxError, match="is the name of a Podman pod") as refused:
        act.observe(fake, desired())
    assert refused.value.exit_code == EXIT_FAILED and "name:" in refused.value.hint
    assert fake.changes_made() == []


def test_a_pod_of_the_sandbox_name_through_the_cli(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch)
    fake = FakeRunner.recorded("inspect_pod.json", str(project))
    for command in ("apply", "status", "plan"):
        result = invoke(fake, command)
        assert result.code == EXIT_FAILED, result
        assert f"'{RECORDED_NAME}' is the name of a Podman pod" in result.stderr
        assert "Traceback" not in result.stderr
    assert fake.changes_made() == []


@pytest.mark.parametrize("entry, kind", [
    ({"Name": "v", "Driver": "local", "Mountpoint": "/x", "Labels": {}}, "other"),  # a volume
    ({"name": "n", "id": "1", "driver": "bridge"}, "other"),  # a network
    (None, ""),
])
def test_a_volume_or_network_of_the_name_leaves_it_free(entry, kind):
    assert answers.kind(entry) == kind
    assert answers.sandbox_entries("v", [entry, None]) == (None, None)


# --- podman diff: what a change would discard must be known -----------------------------

def test_a_failing_podman_diff_stops_the_plan_instead_of_discarding():
    fake = world(uncommitted=True)
    fake.fail["diff"] = (125, "Error: database is locked\n")
    with pytest.raises(PodmanError, match="podman diff fixture-sandbox failed"):
        survey(fake, desired(env={"APP_ENV": "prod"}))
    assert fake.changes_made() == []

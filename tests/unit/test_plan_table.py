"""The planner as a table: (desired, actual) -> actions, with Actual read from recorded
`podman inspect` JSON (tests/unit/fixtures, made by fixtures/record.py).

Actual goes through the engine's own reading of Podman's answers
(actual.observe / complete, via a fake runner that serves the recordings),
so the table checks the reading and the planning together, without Podman.
"""

from __future__ import annotations

import copy

import pytest

from fake_runner import (MIB, RECORDED_DOC, RECORDED_IMAGE, RECORDED_LEGACY_KEY, RECORDED_NAME,
                         RECORDED_PROJECT, FakeRunner, load, recorded_cgroup)
from podman_sandbox.engine import actual as act
from podman_sandbox.engine import images, ownership
from podman_sandbox.engine.apply import survey
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.plan import make_plan
from podman_sandbox.engine.steps import commands_for
from podman_sandbox.errors import SandboxError
from podman_sandbox.schema.spec import build_spec

BASE_ID = load("inspect_running.json")[1]["Id"]
OWNER = ownership.owner_hash(RECORDED_PROJECT)
SETUP_KEY = images.setup_key(BASE_ID, RECORDED_DOC["setup"], OWNER)


cgroup_reads = pytest.fixture(autouse=True)(recorded_cgroup)


def desired(**changes) -> Desired:
    doc = copy.deepcopy(RECORDED_DOC)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    spec = build_spec(doc, project_dir=RECORDED_PROJECT, source=f"{RECORDED_PROJECT}/sandbox.yaml",
                      mode="project")
    return Desired.from_spec(spec)


def world(fixture: str = "inspect_running.json", *, setup_cached: bool = True,
          uncommitted: bool = False, committed: bool = False) -> FakeRunner:
    fake = FakeRunner.recorded(fixture, RECORDED_PROJECT)
    if setup_cached:
        for row in load("images_setup.json"):
            fake.add_image(row)
    if committed:
        for row in load("images_state.json"):
            fake.add_image(row)
    fake.diff = load("diff_dirty.json" if uncommitted else "diff_clean.json")
    return fake


def plan_for(fake: FakeRunner, want: Desired):
    return survey(fake, want).plan


def the(plan, kind: str):
    """The plan's one action of kind (housekeeping may follow it: plan.with_housekeeping)."""
    found = [a for a in plan.actions if a.kind == kind]
    assert len(found) == 1, kinds(plan)
    return found[0]


def kinds(plan) -> list[tuple[str, str]]:
    return [(a.kind, a.change_class) for a in plan.actions]


# --- the table ---------------------------------------------------------------

CASES = [
    # id, fixture, world options, desired changes, expected (kind, class) list
    ("in-sync", "inspect_running.json", {}, {}, []),
    ("auto_commit-only", "inspect_running.json", {}, {"auto_commit": True}, []),
    ("missing", "inspect_missing.json", {}, {}, [("create", "create")]),
    ("missing-no-setup-cache", "inspect_missing.json", {"setup_cached": False}, {},
     [("build-setup", "rebuild"), ("create", "create")]),
    ("stopped", "inspect_stopped.json", {}, {}, [("start", "start")]),
    ("memory-up", "inspect_running.json", {}, {"memory": "128m"}, [("update", "live")]),
    ("stopped-and-memory", "inspect_stopped.json", {}, {"memory": "128m"},
     [("start", "start"), ("update", "live")]),
    ("cpus-set", "inspect_running.json", {}, {"cpus": 1.5}, [("update", "live")]),
    ("env", "inspect_running.json", {}, {"env": {"APP_ENV": "prod"}}, [("replace", "recreate")]),
    ("env-added", "inspect_running.json", {}, {"env": {"APP_ENV": "test", "X": "1"}},
     [("replace", "recreate")]),
    ("mounts", "inspect_running.json", {},
     {"mounts": [{"source": "/srv/data", "target": "/data"}]}, [("replace", "recreate")]),
    ("network", "inspect_running.json", {}, {"network": "none"}, [("replace", "recreate")]),
    ("pids", "inspect_running.json", {}, {"pids_limit": 100}, [("replace", "recreate")]),
    ("setup", "inspect_running.json", {}, {"setup": ["echo other > /root/setup-done"]},
     [("build-setup", "rebuild"), ("replace", "recreate"), ("remove-replaced", "cleanup")]),
    ("setup-removed", "inspect_running.json", {}, {"setup": None},
     [("replace", "recreate"), ("remove-replaced", "cleanup")]),  # the old setup image goes
    ("image-absent", "inspect_image_absent.json", {}, {},
     [("pull", "image"), ("build-setup", "rebuild")]),  # re-planned once pulled
    ("missing-and-image-absent", "inspect_image_absent.json", {}, {"name": "other-sandbox"},
     [("pull", "image"), ("build-setup", "rebuild"), ("create", "create")]),
    ("auto_commit-uncommitted-env", "inspect_running.json", {"uncommitted": True},
     {"auto_commit": True, "env": {"APP_ENV": "prod"}}, [("commit", "commit"), ("replace", "recreate")]),
    ("uncommitted-env", "inspect_running.json", {"uncommitted": True},
     {"env": {"APP_ENV": "prod"}}, [("replace", "recreate")]),
    ("uncommitted-memory-live", "inspect_running.json", {"uncommitted": True},
     {"memory": "128m"}, [("update", "live")]),
]


@pytest.mark.parametrize("fixture, options, changes, expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_table(fixture, options, changes, expected):
    plan = plan_for(world(fixture, **options), desired(**changes))
    assert kinds(plan) == expected
    assert plan.in_sync == (expected == [])
    for action in plan.actions:
        assert action.reason  # every action says why


def test_in_sync_costs_one_inspect_and_changes_nothing():
    fake = world()
    plan = plan_for(fake, desired())
    assert plan.in_sync and plan.changes == ()
    # The one inspect names the leftovers of a killed run too (housekeeping needs them
    # whenever something changes; extra names cost Podman next to nothing).
    assert fake.calls == [["podman", "inspect", RECORDED_NAME, RECORDED_IMAGE,
                           f"{RECORDED_NAME}-setup", f"{RECORDED_NAME}-next"]]


def test_a_first_create_asks_podman_twice_before_creating():
    """No sandbox yet, no setup steps: the saved states' listing (begun beside the inspect
    when a change is likely) and the one inspect, whose answers serve the housekeeping
    too (no second inspect for the leftovers and the base image)."""
    fake = world("inspect_missing.json")
    found = survey(fake, desired(setup=None), change_likely=True)
    assert [a.kind for a in found.plan.actions] == ["create"]
    assert [c[1] for c in fake.calls] == ["images", "inspect"]
    assert fake.calls[1][2:] == [RECORDED_NAME, RECORDED_IMAGE, f"{RECORDED_NAME}-setup",
                                 f"{RECORDED_NAME}-next"]


def test_live_memory_update_names_the_change_and_the_command():
    want = desired(memory="128m")
    fake = world()
    plan = plan_for(fake, want)
    assert [c.describe() for c in plan.changes] == ["memory: 64m -> 128m"]
    update = plan.actions[0]
    assert update.params["memory"] == 128 * MIB and "memory: 64m -> 128m" in update.reason
    argv = commands_for(update, want, BASE_ID)[0].argv
    assert argv[:2] == ["podman", "update"] and argv[-1] == RECORDED_NAME
    assert argv[argv.index("--memory") + 1] == f"{128 * MIB}b"


def test_limit_read_from_the_cgroup_not_from_inspect(cgroup_reads):
    """After a live update, inspect still says 64m: the cgroup's 128m makes it in sync."""
    cgroup_reads["memory"] = 128 * MIB
    assert plan_for(world(), desired(memory="128m")).in_sync
    assert kinds(plan_for(world(), desired())) == [("update", "live")]


def test_missing_container_is_created_from_the_cached_setup_image():
    plan = plan_for(world("inspect_missing.json"), desired())
    assert plan.actions[0].params["image"] == images.setup_tag(SETUP_KEY)


def test_replace_starts_from_the_committed_state_when_there_is_one():
    plan = plan_for(world(committed=True), desired(env={"APP_ENV": "prod"}))
    replace = plan.actions[-1]
    assert replace.params["image"] == images.state_tag(RECORDED_NAME, SETUP_KEY)


def test_changed_env_names_field_and_values():
    plan = plan_for(world(), desired(env={"APP_ENV": "prod"}))
    assert [(c.field, c.change_class) for c in plan.changes] == [("env", "recreate")]
    assert plan.changes[0].old == {"APP_ENV": "test"} and plan.changes[0].new == {"APP_ENV": "prod"}
    assert "env" in plan.actions[0].reason


def test_image_change_replaces_and_names_the_image():
    fake = world()
    other = copy.deepcopy(load("inspect_running.json")[1])
    other["Id"] = "f" * 64
    other["RepoTags"] = ["localhost/other/busybox:2"]
    fake.add_image(other)
    plan = plan_for(fake, desired(image="localhost/other/busybox:2"))
    assert kinds(plan) == [("build-setup", "rebuild"), ("replace", "recreate"), ("remove-replaced", "cleanup")]
    assert "image" in [c.field for c in plan.changes]
    assert "localhost/other/busybox:2" in the(plan, "replace").reason


def test_base_image_with_a_new_id_replaces():
    """Same spec, but the image's tag now names another image (a newer pull)."""
    fake = world()
    fake.images[0]["Id"] = "e" * 64
    plan = plan_for(fake, desired())
    assert plan.changes == ()
    assert kinds(plan) == [("build-setup", "rebuild"), ("replace", "recreate"), ("remove-replaced", "cleanup")]
    assert "now has another id (eeeeeeeeeeee)" in the(plan, "replace").reason


def test_base_image_new_id_without_setup_replaces_only():
    fake = world()
    fake.images[0]["Id"] = "e" * 64
    # Drop the recorded setup from the container's intent and from the desired state.
    entry = fake.containers[RECORDED_NAME]
    labels = entry["Config"]["Labels"]
    labels[act.LABEL_SPEC] = labels[act.LABEL_SPEC].replace('"setup":["echo ran > /root/setup-done"]',
                                                            '"setup":[]')
    plan = plan_for(fake, desired(setup=None))
    assert kinds(plan) == [("replace", "recreate")]


def test_auto_commit_commits_the_uncommitted_work_first():
    plan = plan_for(world(uncommitted=True), desired(auto_commit=True, env={"APP_ENV": "prod"}))
    commit, replace = plan.actions
    assert {k: commit.params[k] for k in ("key", "container")} == {"key": SETUP_KEY,
                                                                    "container": RECORDED_NAME}
    # No saved state yet: nothing to keep as -prev, nothing to drop, the commit labelled
    # with the base the container was made from.
    assert commit.params["previous_exists"] is False and commit.params["drop"] is None
    assert commit.params["base_id"] == BASE_ID
    assert "2 changed path(s)" in commit.reason
    assert replace.discards == ()
    # Same base and setup: the replacement starts from what was just committed.
    assert replace.params["image"] == images.state_tag(RECORDED_NAME, SETUP_KEY)
    assert plan.discards == ()


def test_without_auto_commit_the_replace_names_what_it_discards():
    plan = plan_for(world(uncommitted=True), desired(env={"APP_ENV": "prod"}))
    # /root and /opt, /opt/tool are folders whose changed children are listed.
    assert plan.actions[0].discards == ("/opt/tool/bin", "/root/work.txt")
    assert plan.discards == ("/opt/tool/bin", "/root/work.txt")


def test_clean_container_discards_nothing():
    plan = plan_for(world(), desired(env={"APP_ENV": "prod"}))
    assert plan.discards == ()


def test_foreign_container_is_an_error_and_left_alone():
    fake = world("inspect_foreign.json")
    with pytest.raises(SandboxError, match="not made by podman-sandbox"):
        plan_for(fake, desired())
    assert fake.changes_made() == []


def test_image_absent_pulls_first():
    plan = plan_for(world("inspect_image_absent.json"), desired())
    first = plan.actions[0]
    assert first.kind == "pull" and first.params == {"image": RECORDED_IMAGE}
    assert RECORDED_IMAGE in first.reason


def test_planning_is_pure():
    """Same Desired and Actual in, the same Plan out, and no I/O in make_plan."""
    want = desired(memory="128m", env={"APP_ENV": "prod"})
    fake = world(uncommitted=True)
    found = act.complete(fake, want, act.observe(fake, want))
    from podman_sandbox.engine.diff import changes
    diff = changes(found.observed, want.container)
    calls = len(fake.calls)
    first, second = make_plan(want, found, diff), make_plan(want, found, diff)
    assert first == second and first.actions
    assert len(fake.calls) == calls


def test_observed_state_from_recorded_inspect():
    """The reading of Podman's JSON, field by field, against what was recorded."""
    info = load("inspect_running.json")[0]
    observed, enforced = act.observe_container(info, rootless_v1=False)
    assert enforced
    assert observed == desired().container
    stopped = load("inspect_stopped.json")[0]
    observed, _ = act.observe_container(stopped, rootless_v1=False)
    assert observed["memory"] == 64 * MIB  # from HostConfig when not running
    found = act.observe(world(), desired())
    assert (found.state, found.managed, found.built_from_base_id) == ("running", True, BASE_ID)
    found = act.observe(world("inspect_foreign.json"), desired())
    assert (found.state, found.managed, found.observed) == ("stopped", False, None)


# --- notes: a committed state left behind, auto_commit with nothing new -------

NOT_USED = "was made on the old image/setup and is not used by the new sandbox"


def test_setup_change_notes_that_the_committed_state_is_kept_but_not_used():
    plan = plan_for(world(committed=True), desired(setup=["echo other > /root/setup-done"]))
    replace = the(plan, "replace")
    old_state = images.state_tag(RECORDED_NAME, SETUP_KEY)
    new_key = images.setup_key(BASE_ID, ["echo other > /root/setup-done"], OWNER)
    assert replace.kind == "replace" and replace.params["image"] == images.setup_tag(new_key)
    assert [n for n in replace.notes if NOT_USED in n] == [
        f"committed state {old_state} {NOT_USED}; it is kept (switch back to use it, "
        "`podman-sandbox reset` removes it)"]
    assert plan.discards == ()  # nothing is destroyed: a note, not a refusal


def test_image_change_notes_the_committed_state_too():
    fake = world(committed=True)
    other = copy.deepcopy(load("inspect_running.json")[1])
    other["Id"] = "f" * 64
    other["RepoTags"] = ["localhost/other/busybox:2"]
    fake.add_image(other)
    replace = the(plan_for(fake, desired(image="localhost/other/busybox:2")), "replace")
    assert any(images.state_tag(RECORDED_NAME, SETUP_KEY) in n and NOT_USED in n for n in replace.notes)


def test_same_base_and_setup_starts_from_the_state_and_has_no_such_note():
    replace = the(plan_for(world(committed=True), desired(env={"APP_ENV": "prod"})), "replace")
    assert replace.params["image"] == images.state_tag(RECORDED_NAME, SETUP_KEY)
    assert replace.notes == ()


def test_no_committed_state_no_note():
    replace = the(plan_for(world(), desired(setup=["echo other > /root/setup-done"])), "replace")
    assert replace.notes == ()


def test_auto_commit_before_a_setup_change_notes_where_the_work_goes():
    """auto_commit saves under the old key: that state is not used by the new container."""
    plan = plan_for(world(uncommitted=True), desired(auto_commit=True, setup=["echo other"]))
    assert kinds(plan) == [("build-setup", "rebuild"), ("commit", "commit"), ("replace", "recreate"),
                           ("remove-replaced", "cleanup")]
    commit, replace = the(plan, "commit"), the(plan, "replace")
    assert commit.params["key"] == SETUP_KEY
    assert any(images.state_tag(RECORDED_NAME, SETUP_KEY) in n and NOT_USED in n for n in replace.notes)


def test_auto_commit_with_nothing_new_skips_the_commit_and_says_so():
    plan = plan_for(world(committed=True), desired(auto_commit=True, env={"APP_ENV": "prod"}))
    assert kinds(plan) == [("replace", "recreate")]
    assert plan.actions[0].notes == (
        "auto_commit: nothing new to commit (no uncommitted changes in the container)",)


# --- ownership: a sandbox of this name that another folder owns -----------------

def _owned_by(fake, folder: str):
    labels = fake.containers[RECORDED_NAME]["Config"]["Labels"]
    labels["io.podman-sandbox.project"] = folder
    labels["io.podman-sandbox.source"] = f"{folder}/sandbox.yaml"
    return fake


@pytest.mark.parametrize("fixture", ["inspect_running.json", "inspect_stopped.json"])
def test_another_projects_container_is_refused_even_when_it_matches(fixture):
    from podman_sandbox.errors import RefusedError
    fake = _owned_by(world(fixture), "/tmp/psfix/other")
    with pytest.raises(RefusedError) as refused:
        plan_for(fake, desired())
    assert "/tmp/psfix/other" in refused.value.message and RECORDED_PROJECT in refused.value.message
    assert "name:" in refused.value.hint
    assert fake.changes_made() == []


def test_another_projects_state_of_the_same_name_is_never_used():
    fake = world("inspect_missing.json", committed=True)
    for img in fake.images:
        if (img.get("Labels") or {}).get("io.podman-sandbox.sandbox"):
            img["Labels"]["io.podman-sandbox.source"] = "/tmp/psfix/other/sandbox.yaml"
    create = plan_for(fake, desired()).actions[-1]
    assert create.kind == "create" and create.params["image"] == images.setup_tag(SETUP_KEY)


def test_a_state_of_the_old_tag_format_is_adopted_only_when_its_labels_are_ours():
    fake = world("inspect_missing.json", setup_cached=True)
    for row in load("images_state.json", legacy=True):
        fake.add_image(row)
    found = act.complete(fake, desired(), act.observe(fake, desired()))
    old = f"{images.state_repo(RECORDED_NAME)}:{RECORDED_LEGACY_KEY}"
    assert [(o, n) for _, o, n in found.legacy_states] == [(old, images.state_tag(RECORDED_NAME, SETUP_KEY))]
    assert found.state_image is None  # not used until adopted (apply does, under the lock)

    fake = world("inspect_missing.json")
    for row in load("images_state.json", legacy=True):
        row["Labels"]["io.podman-sandbox.source"] = "/tmp/psfix/other/sandbox.yaml"
        row["Labels"]["io.podman-sandbox.project"] = "/tmp/psfix/other"
        fake.add_image(row)
    found = act.complete(fake, desired(), act.observe(fake, desired()))
    assert found.legacy_states == [] and found.state_image is None


# --- disk: passed to Podman only where its storage enforces it ------------------

@pytest.mark.parametrize("reason", [None, "Podman's storage here (overlay on extfs) cannot limit it"])
def test_disk_limit_is_passed_only_where_it_is_enforced(monkeypatch, reason):
    from podman_sandbox.engine import disk
    monkeypatch.setattr(disk, "reason_for", lambda runner: reason)
    want = desired(disk="10g")
    plan = plan_for(world("inspect_missing.json"), want)
    create = plan.actions[-1]
    argv = commands_for(create, want, BASE_ID)[0].argv
    if reason is None:
        assert argv[argv.index("--storage-opt") + 1] == f"size={10 * 1024 ** 3}"
    else:
        assert "--storage-opt" not in argv
    assert disk.not_enforced(None, want.container) == (
        None if reason is None else f"disk: 10g requested but NOT enforced: {reason}")


def test_disk_is_drift_only_when_it_changes(monkeypatch):
    """Sandboxes made before `disk:` existed keep their hash; adding it re-creates."""
    from podman_sandbox.engine import disk
    monkeypatch.setattr(disk, "reason_for", lambda runner: None)
    assert "disk" not in desired().container
    assert plan_for(world(), desired()).in_sync
    assert kinds(plan_for(world(), desired(disk="10g"))) == [("replace", "recreate")]

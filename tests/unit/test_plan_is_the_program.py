"""`plan` shows every Podman command `apply` runs: for a few plans, the commands that
`plan --json` lists equal, in order, the changing calls `apply` then makes (the fake
Podman records them). Housekeeping included: leftovers of a killed run, what a commit
keeps and drops, a squash, the images a rebuild replaced."""

from __future__ import annotations

import copy
import shlex

import pytest

from fake_runner import (RECORDED_NAME, RECORDED_SPEC, invoke, load, make_project,
                         recorded_world)
from podman_sandbox.engine import actual as act
from podman_sandbox.engine import images


def planned(fake) -> list[list[str]]:
    result = invoke(fake, "plan", "--json")
    assert result.code == 0, result
    return [argv for action in result.json()["actions"] for argv in action["commands"]]


def applied(fake, *args: str) -> list[list[str]]:
    before = len(fake.changes_made())
    result = invoke(fake, "apply", *args)
    assert result.code == 0, result
    return fake.changes_made()[before:]


def check_plan_is_program(fake, *apply_args: str) -> list[list[str]]:
    before = len(fake.changes_made())
    shown = planned(fake)
    assert len(fake.changes_made()) == before  # plan changed nothing
    ran = applied(fake, *apply_args)
    assert ran == shown
    again = invoke(fake, "plan", "--json")
    assert again.json()["in_sync"], again
    return ran


def subs(commands) -> list[str]:
    return [c[1] for c in commands]


def state_row(project) -> dict:
    return load("images_state.json", str(project))[0]


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


def respec(project, text: str) -> None:
    (project / "sandbox.yaml").write_text(text)


def test_create_from_nothing(project):
    fake = recorded_world(project, "inspect_missing.json")
    assert subs(check_plan_is_program(fake)) == ["run"]


def test_auto_commit_keeps_the_previous_state_and_drops_the_one_before(project):
    respec(project, RECORDED_SPEC.replace("APP_ENV: test", "APP_ENV: prod") + "auto_commit: true\n")
    fake = recorded_world(project)
    fake.diff = load("diff_dirty.json")
    current = fake.add_image(state_row(project))
    tag = current["Names"][0]
    older = fake.add_image({**copy.deepcopy(state_row(project)), "Id": "e" * 64,
                            "Names": [images.previous_state_tag(RECORDED_NAME, tag.rpartition(":")[2])],
                            "RepoTags": None})
    ran = check_plan_is_program(fake)
    assert ran[:3] == [["podman", "tag", tag, tag + "-prev"], ran[1], ["podman", "rmi", older["Id"]]]
    assert ran[1][:3] == ["podman", "commit", "--pause=false"] and ran[1][-2:] == [RECORDED_NAME, tag]
    assert subs(ran[3:]) == ["run", "rm", "rename"]
    assert ran[3][-2] == tag  # the replacement starts from what was just committed


def test_the_plan_prints_the_commit_commands(project):
    respec(project, RECORDED_SPEC.replace("APP_ENV: test", "APP_ENV: prod") + "auto_commit: true\n")
    fake = recorded_world(project)
    fake.diff = load("diff_dirty.json")
    shown = invoke(fake, "plan")
    assert shown.code == 0, shown
    commit_line = next(line for line in shown.stdout.splitlines() if "$ podman commit" in line)
    assert commit_line.strip().endswith(f"{RECORDED_NAME} "
                                        + shlex.quote(planned(fake)[0][-1]))


def test_leftovers_of_a_killed_run_are_removed_as_planned(project):
    respec(project, RECORDED_SPEC.replace("APP_ENV: test", "APP_ENV: prod"))
    fake = recorded_world(project)
    left = copy.deepcopy(fake.containers[RECORDED_NAME])
    left["Name"], left["Id"] = f"{RECORDED_NAME}-setup", "f" * 64
    fake.add_container(left)
    ran = check_plan_is_program(fake)
    assert ran[0] == ["podman", "rm", "--force", "--time", "2", f"{RECORDED_NAME}-setup"]
    assert subs(ran[1:]) == ["run", "rm", "rename"]


def test_a_long_state_is_squashed_as_planned(project, monkeypatch):
    monkeypatch.setenv("PODMAN_SANDBOX_SQUASH_AT_LAYERS", "3")
    fake = recorded_world(project, "inspect_missing.json")
    row = fake.add_image(state_row(project))
    row["RootFS"] = {"Type": "layers", "Layers": [f"sha256:{i}" for i in range(4)]}
    tag = row["Names"][0]
    ran = check_plan_is_program(fake)
    assert subs(ran) == ["create", "commit", "rm", "run", "rmi"]
    assert "--squash" in ran[1] and ran[1][-1] == tag
    assert ran[3][-2] == tag
    assert ran[4] == ["podman", "rmi", row["Id"]]  # the long chain, untagged by the squash
    assert fake._image(row["Id"]) is None


def test_a_rebuilt_setup_removes_the_setup_image_it_replaced(project):
    respec(project, RECORDED_SPEC.replace("echo ran > /root/setup-done", "echo again > /root/setup-done"))
    fake = recorded_world(project)
    old_setup = next(t for img in fake.images for t in img.get("RepoTags") or ()
                     if t.startswith(images.SETUP_REPO + ":"))
    ran = check_plan_is_program(fake)
    assert subs(ran) == ["run", "exec", "commit", "rm", "run", "rm", "rename", "rmi"]
    assert ran[-1] == ["podman", "rmi", old_setup]
    assert all(old_setup not in (img.get("RepoTags") or ()) for img in fake.images)


def test_a_plan_that_waits_for_a_pull_says_that_apply_plans_again(project):
    fake = recorded_world(project, "inspect_image_absent.json")
    result = invoke(fake, "plan", "--json")
    assert result.code == 0, result
    pull = result.json()["actions"][0]
    assert pull["kind"] == "pull"
    assert any("apply plans again after this" in note for note in pull["notes"])


def test_a_state_of_another_owner_is_not_replaced_away(project):
    """The replaced-image cleanup touches only this owner's images."""
    respec(project, RECORDED_SPEC.replace("echo ran > /root/setup-done", "echo again > /root/setup-done"))
    fake = recorded_world(project)
    for img in fake.images:
        if any(t.startswith(images.SETUP_REPO + ":") for t in img.get("RepoTags") or ()):
            img["Labels"] = {**img["Labels"], act.LABEL_PROJECT: "/somewhere/else"}
    ran = check_plan_is_program(fake)
    assert "rmi" not in subs(ran)


def test_auto_commit_of_a_long_chain_commits_one_layer(project, monkeypatch):
    """The replacement starts from the state auto_commit makes: that commit is squashed
    when the chain it would make is long (the container's image and one layer more)."""
    monkeypatch.setenv("PODMAN_SANDBOX_SQUASH_AT_LAYERS", "3")
    respec(project, RECORDED_SPEC.replace("APP_ENV: test", "APP_ENV: prod") + "auto_commit: true\n")
    fake = recorded_world(project)
    fake.diff = load("diff_dirty.json")
    runs_on = fake._image(fake.containers[RECORDED_NAME]["Image"])
    runs_on["RootFS"] = {"Type": "layers", "Layers": ["sha256:a", "sha256:b"]}
    ran = check_plan_is_program(fake)
    assert subs(ran) == ["commit", "run", "rm", "rename"]
    assert "--squash" in ran[0]
    runs_on["RootFS"]["Layers"] = ["sha256:a"]  # one layer more is 2: below 3
    respec(project, RECORDED_SPEC.replace("APP_ENV: test", "APP_ENV: qa") + "auto_commit: true\n")
    fake.containers[RECORDED_NAME]["Image"] = runs_on["Id"]
    assert "--squash" not in next(c for c in check_plan_is_program(fake) if c[1] == "commit")


def test_adopting_old_format_states_is_planned_and_apply_plans_again(project):
    """Adoption is shown (tag and untag) with the note that apply plans again after it:
    the adopted state then becomes what the sandbox starts from."""
    fake = recorded_world(project, "inspect_missing.json")
    row = fake.add_image(load("images_state.json", str(project), legacy=True)[0])
    old = row["Names"][0]
    result = invoke(fake, "plan", "--json")
    assert result.code == 0, result
    adopt, create = result.json()["actions"]
    assert adopt["kind"] == "adopt" and any("plans again" in n for n in adopt["notes"])
    new = adopt["commands"][0][-1]
    assert adopt["commands"] == [["podman", "tag", row["Id"], new], ["podman", "untag", row["Id"], old]]
    assert create["commands"][0][-2] != new  # before adoption: from the setup image

    ran = applied(fake)
    assert ran[:2] == adopt["commands"]
    assert subs(ran[2:]) == ["run"] and ran[2][-2] == new  # planned again: from the adopted state

"""status tells what runs from what is wanted, and lists every problem of a broken spec.
Against the fake Podman; the real-Podman walk-through is tests/integration/test_configure_truth.py."""

from __future__ import annotations

import re

import pytest

from fake_runner import RECORDED_IMAGE, RECORDED_NAME, RECORDED_SPEC, invoke, make_project, recorded_world

NEW_IMAGE = "localhost/nowhere/other:2"


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


def rows(text: str) -> dict[str, str]:
    """status's rows: label -> value ("Pids limit:   2048")."""
    found = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and line[:1].isupper():
            found[label] = value.strip()
    return found


def test_in_sync_status_shows_the_values_once(project):
    fake = recorded_world(project)
    data = invoke(fake, "status", "--json").json()
    assert data["differences"] == [] and data["in_sync"] is True
    assert data["actual"]["image"] == RECORDED_IMAGE and data["actual"]["env"] == {"APP_ENV": "test"}
    shown = rows(invoke(fake, "status").stdout)
    assert shown["Image"] == RECORDED_IMAGE
    assert shown["Network"] == "bridge" and shown["Env"] == "APP_ENV"
    assert "wanted" not in invoke(fake, "status").stdout


def test_in_sync_status_computes_no_diff(project, monkeypatch):
    """status is timed (bench/): in sync, the equal hashes say it all, no deepdiff."""
    from podman_sandbox.engine import diff

    def no_diff(*args):
        raise AssertionError("diff computed for a sandbox in sync")

    monkeypatch.setattr(diff, "changes", no_diff)
    result = invoke(recorded_world(project), "status", "--json")
    assert result.code == 0 and result.json()["differences"] == [], result


def test_status_shows_what_runs_and_what_is_wanted(project):
    """The spec now names another image (not pulled yet), env, network, pids limit and
    an extra mount: each row shows the container's value, then the spec's."""
    fake = recorded_world(project)
    (project / "data").mkdir()
    spec = RECORDED_SPEC.replace(RECORDED_IMAGE, NEW_IMAGE).replace("APP_ENV: test", "APP_ENV: prod")
    (project / "sandbox.yaml").write_text(
        spec + "network: none\npids_limit: 100\nmounts:\n  - source: data\n    target: /data\n")
    data = invoke(fake, "status", "--json").json()
    assert data["image"] == NEW_IMAGE and data["actual"]["image"] == RECORDED_IMAGE
    differs = {d["field"]: d for d in data["differences"]}
    assert set(differs) == {"image", "env", "network", "pids_limit", "mounts"}
    assert differs["image"] == {"field": "image", "actual": RECORDED_IMAGE, "wanted": NEW_IMAGE,
                                "class": "recreate"}
    assert differs["pids_limit"]["actual"] == 2048 and differs["pids_limit"]["wanted"] == 100
    assert data["mount"]["source"] == str(project) and data["in_sync"] is False

    shown = rows(invoke(fake, "status").stdout)
    hint = "wanted: run `podman-sandbox apply`"
    assert shown["Image"] == f"{RECORDED_IMAGE} in the container; {NEW_IMAGE} {hint}"
    assert shown["Network"] == f"bridge in the container; none {hint}"
    assert shown["Pids limit"] == f"2048 in the container; 100 {hint}"
    assert shown["Env"] == "APP_ENV in the container; wanted: APP_ENV changed: run `podman-sandbox apply`"
    assert "prod" not in shown["Env"]  # names, never values, in a terminal
    assert shown["Other mounts"] == f"none in the container; {project}/data:/data:ro {hint}"
    assert shown["Mount"] == f"{project} -> /workspace"  # /workspace itself is unchanged


def test_status_shows_the_mount_the_container_has(project):
    """The recorded container mounts another folder at /workspace than the spec's (the
    classic remount still to happen): `mount` is the container's."""
    fake = recorded_world(project)
    old = "/somewhere/else"
    for m in fake.containers[RECORDED_NAME]["Mounts"]:
        if m["Destination"] == "/workspace":
            m["Source"] = old
    data = invoke(fake, "status", "--json").json()
    assert data["mount"]["source"] == old
    assert {d["field"] for d in data["differences"]} == {"mounts"}
    shown = rows(invoke(fake, "status").stdout)
    assert shown["Mount"] == (f"{old} -> /workspace in the container; {project} wanted: "
                              "run `podman-sandbox apply`")


def test_a_missing_container_shows_the_spec(project):
    fake = recorded_world(project, "inspect_missing.json")
    data = invoke(fake, "status", "--json").json()
    assert data["actual"] is None and data["differences"] == []
    assert data["state"] == "missing" and data["mount"]["source"] == str(project)


def test_status_on_a_broken_spec_lists_every_error(project):
    (project / "sandbox.yaml").write_text(
        f"name: {RECORDED_NAME}\nimage: 5\nmemory: lots\nnetwork: wifi\n")
    fake = recorded_world(project)
    result = invoke(fake, "status")
    assert result.code == 0, result
    problems = [ln for ln in result.stderr.splitlines()
                if re.match(r"^podman-sandbox: sandbox\.yaml:\d+:\d+: \w+: ", ln)]
    assert [re.match(r"^podman-sandbox: sandbox\.yaml:(\d+):\d+: (\w+): ", ln).groups()
            for ln in problems] == [("2", "image"), ("3", "memory"), ("4", "network")], result.stderr
    assert "the spec is invalid (3 problem(s) above)" in result.stderr
    assert f"Sandbox:      {RECORDED_NAME} (running)" in result.stdout  # acted on it anyway
    # What it asks for is unknown: the rows show what runs, and want nothing.
    assert rows(result.stdout)["Image"] == RECORDED_IMAGE and "wanted" not in result.stdout
    assert invoke(fake, "status", "--json").json()["differences"] == []

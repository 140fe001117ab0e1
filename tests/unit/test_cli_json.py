"""--json output: it parses, and it keeps every key (and type) docs/json-output.md shows.

The examples in the documentation are the contract: each test runs the real
CLI against the fake Podman and checks the output against its example.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from fake_runner import (RECORDED_NAME, RECORDED_SPEC, invoke, load, make_project,
                         recorded_world)

DOC = Path(__file__).resolve().parents[2] / "docs" / "json-output.md"


def documented() -> dict[str, object]:
    """'status' -> the example of `podman-sandbox status --json`, and so on."""
    text = DOC.read_text(encoding="utf-8")
    examples = {}
    for match in re.finditer(r"^## `podman-sandbox ([a-z -]+?) --json`\n(.*?)```json\n(.*?)```",
                             text, re.S | re.M):
        examples[match.group(1)] = json.loads(match.group(3))
    return examples


def assert_shape(example, actual, where: str = "$") -> None:
    """actual has every key of example, recursively, with a compatible type."""
    if example is None or actual is None:
        return
    if isinstance(example, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in example.items():
            assert key in actual, f"{where}: key {key!r} is documented but missing"
            assert_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {actual!r}"
        if example:
            assert actual, f"{where}: the test should produce at least one item to check"
            for i, item in enumerate(actual):
                assert_shape(example[0], item, f"{where}[{i}]")
    elif isinstance(example, bool):
        assert isinstance(actual, bool), f"{where}: expected a boolean, got {actual!r}"
    elif isinstance(example, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), \
            f"{where}: expected a number, got {actual!r}"
    else:
        assert isinstance(actual, type(example)), f"{where}: expected {type(example).__name__}"


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


@pytest.fixture
def fake(project):
    fake = recorded_world(project)
    state = load("images_state.json", str(project))
    for row in state:
        fake.add_image(row)
    prev = copy.deepcopy(state[0])
    prev["Id"] = "0" * 64
    prev["Names"] = [prev["Names"][0] + "-prev"]
    fake.add_image(prev)
    return fake


def test_every_json_command_is_documented():
    assert set(documented()) == {"status", "list", "plan", "apply", "configure --show", "gc",
                                 "log"}


def test_status_json(fake):
    result = invoke(fake, "status", "--json")
    assert result.code == 0, result
    data = result.json()
    assert_shape(documented()["status"], data)
    assert data["name"] == RECORDED_NAME and data["state"] == "running" and data["in_sync"] is True
    assert data["engine"] == {"name": "local Podman", "remote": False, "host": None}
    assert [s["tag"].endswith("-prev") for s in data["previous_state"]] == [True]
    # The recorded state is the one of the container's base image and setup: in use.
    assert [s["in_use"] for s in data["committed_state"]] == [True]


def test_list_json(fake):
    result = invoke(fake, "list", "--json")
    assert result.code == 0, result
    rows = result.json()
    assert_shape(documented()["list"], rows)
    assert [(r["name"], r["sandbox"], r["current"]) for r in rows] == [(RECORDED_NAME, True, True)]


def test_plan_json_in_sync_and_pending(fake, project):
    result = invoke(fake, "plan", "--json", "--exit-code")
    assert result.code == 0, result
    assert result.json()["in_sync"] is True and result.json()["actions"] == []

    (project / "sandbox.yaml").write_text(RECORDED_SPEC.replace("64m", "128m"))
    result = invoke(fake, "plan", "--json", "--exit-code")
    assert result.code == 2, result
    data = result.json()
    assert_shape(documented()["plan"], data)
    assert [(c["field"], c["class"]) for c in data["changes"]] == [("memory", "live")]
    assert data["actions"][0]["commands"][0][:2] == ["podman", "update"]
    assert fake.changes_made() == []  # plan changes nothing


def test_apply_json(fake, project):
    (project / "sandbox.yaml").write_text(RECORDED_SPEC.replace("64m", "128m"))
    result = invoke(fake, "apply", "--json")
    assert result.code == 0, result
    data = result.json()
    assert_shape(documented()["apply"], data)
    assert data["changed"] is True and [a["kind"] for a in data["actions"]] == ["update"]
    assert "==>" not in result.stdout  # progress never mixes into the JSON


def test_apply_json_in_sync(fake):
    data = invoke(fake, "apply", "--json").json()
    assert data["changed"] is False and data["actions"] == []
    assert fake.changes_made() == []


def test_configure_show_json(fake):
    result = invoke(fake, "configure", "--show", "--json")
    assert result.code == 0, result
    data = result.json()
    assert_shape(documented()["configure --show"], data)
    assert data["memory"] == "64m" and data["env"] == {"APP_ENV": "test"}
    assert fake.calls == []  # reading the settings needs no podman


def test_gc_json(tmp_path, monkeypatch):
    make_project(tmp_path, monkeypatch)
    gone = str(tmp_path / "deleted-checkout")
    fake = recorded_world(Path(gone))
    result = invoke(fake, "gc", "--json")
    assert result.code == 0, result
    data = result.json()
    assert_shape(documented()["gc"], data)
    assert data["dry_run"] is True
    assert [(o["kind"], o["project"]) for o in data["orphans"]] == [
        ("container", gone), ("setup-image", gone)]

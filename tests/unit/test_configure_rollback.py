"""settings.py: a configure (or start --image) that cannot be applied leaves the file as it
was, for every field configure sets, and says so in one line. Against the fake Podman; the
real-Podman walk-through is tests/integration/test_configure_truth.py."""

from __future__ import annotations

import json
import os

import pytest

from fake_runner import RECORDED_NAME, invoke, make_project, recorded_world
from podman_sandbox import trust

# (configure's options, the podman subcommand that carries the change out)
FIELDS = {
    "image": (["--image", "localhost/nowhere/missing:1"], "pull"),
    "memory": (["--memory", "128m"], "update"),
    "cpus": (["--cpus", "1.5"], "update"),
    "pids_limit": (["--pids-limit", "100"], "run"),
    "network": (["--network", "none"], "run"),
}
REFUSED = "Error: something Podman refuses\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_change_that_cannot_be_applied_is_rolled_back(project, field):
    options, sub = FIELDS[field]
    fake = recorded_world(project)
    if sub != "pull":  # the fake cannot pull at all; the others are made to fail
        fake.fail[sub] = (125, REFUSED)
    spec = project / "sandbox.yaml"
    before = spec.read_bytes()
    result = invoke(fake, "configure", *options)
    assert result.code == 125, result
    assert fake.called(sub), fake.calls  # it was tried, and failed
    assert spec.read_bytes() == before
    rolled = [ln for ln in result.stderr.splitlines() if "rolled back" in ln]
    assert len(rolled) == 1 and f"the change to {field} was not applied" in rolled[0], result.stderr
    assert f"Updated {spec}" in result.stdout  # it said what it saved before it tried
    # The old sandbox is untouched and still the one the spec describes.
    assert fake.containers[RECORDED_NAME]["State"]["Running"]
    assert not [c for c in fake.changes_made()
                if c[1] in ("rm", "stop", "rename") and RECORDED_NAME in c[2:]]
    fake.fail.clear()
    assert invoke(fake, "plan", "--json").json()["in_sync"] is True


def test_start_with_an_image_that_cannot_be_pulled_keeps_the_old_one(project):
    fake = recorded_world(project)
    spec = project / "sandbox.yaml"
    before = spec.read_bytes()
    result = invoke(fake, "start", "--image", "localhost/nowhere/missing:1")
    assert result.code == 125, result
    assert spec.read_bytes() == before
    assert "the change to image was not applied, so it is rolled back" in result.stderr


def test_no_restart_saves_without_trying_and_a_stopped_sandbox_gets_it_at_start(project):
    fake = recorded_world(project)
    spec = project / "sandbox.yaml"
    result = invoke(fake, "configure", "--image", "localhost/nowhere/missing:1", "--no-restart")
    assert result.code == 0, result
    assert "localhost/nowhere/missing:1" in spec.read_text() and not fake.called("pull")


def test_a_file_changed_meanwhile_is_left_as_it_is(project, monkeypatch):
    from podman_sandbox import app as app_module

    fake = recorded_world(project)
    spec = project / "sandbox.yaml"
    real_converge = app_module.App.converge

    def edit_then_converge(self, **kw):
        spec.write_text(spec.read_text() + "# edited by hand meanwhile\n")
        return real_converge(self, **kw)

    monkeypatch.setattr(app_module.App, "converge", edit_then_converge)
    result = invoke(fake, "configure", "--image", "localhost/nowhere/missing:1")
    assert result.code == 125
    assert "changed meanwhile, so it is left as it is now" in result.stderr
    assert spec.read_text().endswith("# edited by hand meanwhile\n")


def test_a_rolled_back_grant_is_no_longer_approved(project):
    fake = recorded_world(project)
    fake.fail["run"] = (125, REFUSED)
    result = invoke(fake, "configure", "--network", "host")
    assert result.code == 125, result
    assert "Approved: network host" in result.stdout
    assert "network: host" not in (project / "sandbox.yaml").read_text()
    from podman_sandbox.app import App
    approved, _ = trust.load_approved(str(project), App().spec.source)
    assert [g for g in approved if g.kind == "network"] == []
    # Had the approval stayed, a later edit (a git pull, the sandbox itself) would get
    # the host's network without asking.
    (project / "sandbox.yaml").write_text((project / "sandbox.yaml").read_text() + "network: host\n")
    fake.fail.clear()
    assert invoke(fake, "apply").code == 123


def test_settings_show_and_values_are_the_apps(project):
    """configure --show is settings.view; a bad value is refused before anything is written."""
    fake = recorded_world(project)
    view = json.loads(invoke(fake, "configure", "--show", "--json").stdout)
    assert view["name"] == RECORDED_NAME and view["memory"] == "64m"
    before = (project / "sandbox.yaml").read_bytes()
    for options in (["--memory", "lots"], ["--cpus", "2000"], ["--cpus", "nan"]):
        bad = invoke(fake, "configure", *options)
        assert bad.code == 121 and bad.stderr.count("\n") == 1, bad
    assert (project / "sandbox.yaml").read_bytes() == before


def test_classic_mode_without_a_config_json_is_left_without_one(project, tmp_path, monkeypatch):
    """No config.json before the failed change: none after it either (the defaults apply)."""
    from fake_runner import FakeRunner, load
    from podman_sandbox import paths

    folder = tmp_path / "work"  # no sandbox.yaml above it: classic mode
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PWD", str(folder))
    fake = FakeRunner()
    image = load("inspect_running.json", str(project))[1]
    image["RepoTags"] = ["docker.io/library/alpine:latest", "alpine:latest"]
    fake.add_image(image)
    assert invoke(fake, "start").code == 0  # made with the defaults, from nothing saved
    config = paths.user_config_path()
    assert not os.path.exists(config)
    result = invoke(fake, "configure", "--image", "localhost/nowhere/missing:1")
    assert result.code == 125, result
    assert "rolled back" in result.stderr and not os.path.exists(config)
    assert invoke(fake, "status", "--json").json()["differences"] == []

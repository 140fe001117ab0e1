"""schema/argsize.py: what one Linux command line can carry."""

from podman_sandbox.schema import argsize


def test_one_argument_over_the_limit():
    assert argsize.argv_problems(["podman", "x" * (argsize.MAX_ARG_STRLEN - 1)], "create") == []
    problems = argsize.argv_problems(["podman", "--env", "BIG=" + "x" * argsize.MAX_ARG_STRLEN], "create")
    assert len(problems) == 1 and "BIG" in problems[0] and str(argsize.MAX_ARG_STRLEN) in problems[0]


def test_the_whole_command_over_arg_max(monkeypatch):
    monkeypatch.setattr(argsize, "arg_max", lambda: 200_000)
    problems = argsize.argv_problems(["podman"] + ["y" * 100_000] * 3, "create")
    assert any("ARG_MAX" in p for p in problems)


def test_converge_refuses_before_the_first_podman_change(monkeypatch, tmp_path):
    """What validation's estimate lets through (a large environment, say) is caught from
    the rendered commands before any step runs."""
    import pytest

    from fake_runner import FakeRunner, load
    from podman_sandbox.engine import apply
    from podman_sandbox.engine.desired import Desired
    from podman_sandbox.errors import SpecError
    from podman_sandbox.output import Output
    from podman_sandbox.schema.spec import build_spec

    fake = FakeRunner.recorded("inspect_missing.json", str(tmp_path))
    image = next(i for i in load("inspect_running.json") if "RootFS" in i)
    fake.add_image(image)
    spec = build_spec({"image": image["RepoTags"][0], "setup": ["true"], "env": {"A": "x" * 5000}},
                      project_dir=str(tmp_path), source=str(tmp_path / "sandbox.yaml"), mode="project")
    monkeypatch.setattr(argsize, "MAX_ARG_STRLEN", 4096)
    with pytest.raises(SpecError) as refused:
        apply.converge(fake, Desired.from_spec(spec), out=Output(quiet=True))
    assert all("Linux passes at most 4096 bytes" in p for p in refused.value.problems)
    assert any("create" in p for p in refused.value.problems), refused.value.problems
    assert fake.changes_made() == []

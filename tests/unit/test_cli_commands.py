"""The CLI in-process with a fake Podman: apply, logs, shell, gc, help, completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_runner import (RECORDED_NAME, FakeRunner, captured_exec_runs, invoke, load,
                         make_project, recorded_world)
from podman_sandbox.cli.main import COMMANDS
from podman_sandbox.cli.shell import BEST_SHELL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path, monkeypatch):
    return make_project(tmp_path, monkeypatch)


# --- apply --------------------------------------------------------------------

def test_apply_from_nothing_then_again_changes_nothing(project):
    fake = recorded_world(project, "inspect_missing.json")
    first = invoke(fake, "apply")
    assert first.code == 0, first
    # One call creates and starts it (podman run --detach).
    assert [c[1] for c in fake.changes_made()] == ["run"]
    create = fake.called("run")[0]
    assert create[create.index("--name") + 1] == RECORDED_NAME
    assert create[-2].startswith("localhost/podman-sandbox-setup:")  # the cached setup result

    calls = len(fake.calls)
    second = invoke(fake, "apply")
    assert second.code == 0, second
    assert "in sync: nothing changed" in second.stderr
    # The fake container's process is not real, so no fast-path record was written: the
    # survey lists the saved states beside its one inspect (both begun at once, in
    # either order: engine/firstlook.py), and changes nothing.
    assert sorted(fake.calls[calls:]) == [
        ["podman", "images", "--format", "json", "--filter",
         f"reference=localhost/podman-sandbox-state-{RECORDED_NAME}"],
        ["podman", "inspect", RECORDED_NAME, "localhost/podman-sandbox-fixture/busybox:1",
         f"{RECORDED_NAME}-setup", f"{RECORDED_NAME}-next"]]


def test_foreign_container_is_refused_and_untouched(project):
    fake = recorded_world(project, "inspect_foreign.json")
    result = invoke(fake, "apply")
    assert result.code != 0
    assert "not made by podman-sandbox" in result.stderr
    assert fake.changes_made() == []


# --- logs ---------------------------------------------------------------------

def test_logs_passes_podman_logs_through(project):
    fake = recorded_world(project)
    fake.logs = b"\033[32mgreen\033[0m\nline two\n"
    result = invoke(fake, "logs", "--follow", "--tail", "5")
    assert result.code == 0, result
    assert fake.passthrough_calls == [["podman", "logs", "--follow", "--tail", "5", RECORDED_NAME]]
    assert result.stdout == "\033[32mgreen\033[0m\nline two\n"


def test_logs_without_a_sandbox_says_how_to_start_one(project):
    fake = recorded_world(project, "inspect_missing.json")
    result = invoke(fake, "logs")
    assert result.code == 1
    assert f"no sandbox container {RECORDED_NAME!r}" in result.stderr
    assert "podman-sandbox start" in result.stderr
    assert fake.passthrough_calls == []


# --- shell --------------------------------------------------------------------

@pytest.fixture
def exec_calls(monkeypatch):
    return captured_exec_runs(monkeypatch, 7)


def test_shell_opens_the_best_shell_interactively(project, exec_calls):
    fake = recorded_world(project)
    (project / "sub").mkdir()
    os.chdir(project / "sub")
    os.environ["PWD"] = str(project / "sub")
    result = invoke(fake, "shell")
    assert result.code == 7  # the shell's exit code
    (container, command, kw), = exec_calls
    assert container == RECORDED_NAME and command == BEST_SHELL
    assert kw["interactive"] is True and kw["workdir"] == "/workspace/sub"


def test_shell_program_is_quoted_for_the_sandbox_shell(project, exec_calls):
    invoke(recorded_world(project), "shell", "--shell", "python3 -q")
    assert exec_calls[0][1] == "exec 'python3 -q'"


def test_best_shell_prefers_bash_and_falls_back_to_sh(tmp_path):
    """The snippet itself, run by a local sh with and without a `bash` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sh", "echo sh"), ("bash", "echo bash")):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{text}\n")
        path.chmod(0o755)
    env = {"PATH": str(bin_dir)}
    run = lambda: subprocess.run(["/bin/sh", "-c", BEST_SHELL], env=env,  # noqa: E731
                                 capture_output=True, text=True).stdout.strip()
    assert run() == "bash"
    (bin_dir / "bash").unlink()
    assert run() == "sh"


# --- gc -----------------------------------------------------------------------

def orphan_world(project: Path, gone: Path) -> FakeRunner:
    """The sandbox of a deleted checkout (container, saved state, setup image), and the
    current project's own sandbox, which shares nothing with it but the base image."""
    fake = recorded_world(gone)
    for row in load("images_state.json", str(gone)):
        fake.add_image(row)
    # A container with no labels at all and an image of someone else's: never touched.
    foreign = load("inspect_foreign.json")[0]
    foreign["Name"] = "someone-elses"
    fake.add_container(foreign)
    return fake


def test_gc_lists_by_default_and_removes_with_yes(project, tmp_path):
    gone = tmp_path / "deleted-checkout"
    fake = orphan_world(project, gone)
    dry = invoke(fake, "gc")
    assert dry.code == 0, dry
    assert "container    fixture-sandbox" in dry.stdout
    assert "state-image  localhost/podman-sandbox-state-fixture-sandbox:" in dry.stdout
    assert "setup-image  localhost/podman-sandbox-setup:" in dry.stdout
    assert "gc --yes" in dry.stdout
    assert fake.changes_made() == []

    done = invoke(fake, "gc", "--yes")
    assert done.code == 0, done
    assert [c[1] for c in fake.changes_made()] == ["rm", "rmi", "rmi"]
    assert set(fake.containers) == {"someone-elses"}
    assert [img["RepoTags"] for img in fake.images] == [["localhost/podman-sandbox-fixture/busybox:1"]]
    assert "Nothing to collect" in invoke(fake, "gc").stdout


def test_gc_keeps_what_an_existing_project_uses(project, tmp_path):
    fake = orphan_world(project, project)  # the project folder exists
    assert "Nothing to collect" in invoke(fake, "gc").stdout


def test_gc_keeps_a_setup_image_a_live_sandbox_uses(project, tmp_path):
    """Setup built for a deleted checkout, but another project's sandbox runs on it."""
    gone = tmp_path / "deleted-checkout"
    fake = recorded_world(project)
    for img in fake.images:
        if img.get("Labels"):
            img["Labels"]["io.podman-sandbox.project"] = str(gone)
    assert "Nothing to collect" in invoke(fake, "gc").stdout


def test_gc_under_limits_the_search(project, tmp_path):
    fake = orphan_world(project, tmp_path / "ci" / "job-1")
    assert "Nothing to collect" in invoke(fake, "gc", "--under", str(tmp_path / "elsewhere")).stdout
    assert "fixture-sandbox" in invoke(fake, "gc", "--under", str(tmp_path / "ci")).stdout
    # The hint keeps the scope: pasting it must not collect host-wide.
    scoped = invoke(fake, "gc", "--under", str(tmp_path / "ci")).stdout
    assert f"`podman-sandbox gc --yes --under {tmp_path / 'ci'}`" in scoped


def test_gc_failure_to_remove_is_reported_and_exits_125(project, tmp_path):
    fake = orphan_world(project, tmp_path / "gone")
    fake.fail["rmi"] = (2, "Error: image is in use by a container\n")
    result = invoke(fake, "gc", "--yes")
    assert result.code == 125
    assert "KEPT" in result.stdout and "in use" in result.stderr
    assert "fixture-sandbox" not in fake.containers  # the container still went


def test_gc_never_treats_an_unreadable_folder_as_gone(tmp_path):
    from podman_sandbox.engine.gc import folder_gone
    assert folder_gone(str(tmp_path / "nope"))
    assert folder_gone(str(tmp_path / "nope" / "deeper"))
    assert not folder_gone(str(tmp_path))
    assert not folder_gone("relative/path") and not folder_gone(None)
    afile = tmp_path / "file"
    afile.write_text("")
    assert folder_gone(str(afile / "below"))  # ENOTDIR: cannot exist


# --- help and completion --------------------------------------------------------

@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name):
    result = invoke(None, name, "--help")
    assert result.code == 0, result
    assert "Example" in result.stdout
    assert f"podman-sandbox {name}" in result.stdout.split("Example", 1)[1]


def test_top_level_help_lists_every_command():
    out = invoke(None, "--help").stdout
    for name in COMMANDS:
        assert f"  {name} " in out or f"  {name}\n" in out


@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F _podman_sandbox_completion podman-sandbox"),
    ("zsh", "#compdef podman-sandbox"),
    ("fish", "complete --no-files --command podman-sandbox"),
])
def test_completion_script_is_generated(shell, marker):
    """Through the real entry point (fast path first, then click's mechanism)."""
    env = dict(os.environ, _PODMAN_SANDBOX_COMPLETE=f"{shell}_source")
    proc = subprocess.run([sys.executable, "-m", "podman_sandbox"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout
    assert "_PODMAN_SANDBOX_COMPLETE" in proc.stdout
    # The completion command prints the same script.
    assert invoke(None, "completion", shell).stdout.strip() == proc.stdout.strip()


def test_completion_completes_commands_and_options():
    env = dict(os.environ, _PODMAN_SANDBOX_COMPLETE="bash_complete",
               COMP_WORDS="podman-sandbox lo", COMP_CWORD="1")
    out = subprocess.run([sys.executable, "-m", "podman_sandbox"], env=env,
                         capture_output=True, text=True, timeout=30).stdout
    assert out.split() == ["plain,local-image", "plain,logs", "plain,log"]
    env.update(COMP_WORDS="podman-sandbox gc --u", COMP_CWORD="2")
    out = subprocess.run([sys.executable, "-m", "podman_sandbox"], env=env,
                         capture_output=True, text=True, timeout=30).stdout
    assert out.split() == ["plain,--under"]


def test_completion_without_a_shell_uses_SHELL():
    assert "#compdef" in invoke(None, "completion", env={"SHELL": "/usr/bin/zsh"}).stdout
    result = invoke(None, "completion", env={"SHELL": "/bin/tcsh"})
    assert result.code == 2 and "bash, zsh, fish" in result.stderr


def test_schema_command_prints_the_packaged_schema():
    import json

    from click.testing import CliRunner

    from podman_sandbox.cli.main import cli
    from podman_sandbox.schema.validate import load_schema

    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == load_schema()

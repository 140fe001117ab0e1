"""Terminal behaviour: colour only on a TTY and never with NO_COLOR; --quiet and
--verbose; progress on stderr; podman output streamed or passed through untouched."""

from __future__ import annotations

import io
import os
import stat
import sys

import pytest

from fake_runner import invoke, make_project, recorded_world
from podman_sandbox.engine.runner import Runner
from podman_sandbox.errors import PodmanError
from podman_sandbox.output import Output

ESC = "\033["


class Terminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def emit(monkeypatch, *, tty: bool, env: dict[str, str] | None = None) -> str:
    for var in ("NO_COLOR", "TERM"):
        monkeypatch.delenv(var, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    term = Terminal(tty)
    monkeypatch.setattr(sys, "stderr", term)
    out = Output()
    out.step("pulling")
    out.notice("careful")
    out.error("broken")
    return term.getvalue()


def test_colour_on_a_terminal(monkeypatch):
    text = emit(monkeypatch, tty=True)
    assert f"{ESC}1;34m==> {ESC}0mpulling" in text
    assert f"{ESC}1;31mpodman-sandbox: error: {ESC}0mbroken" in text


def test_no_colour_when_not_a_terminal(monkeypatch):
    text = emit(monkeypatch, tty=False)
    assert ESC not in text
    assert text.splitlines() == ["==> pulling", "podman-sandbox: careful", "podman-sandbox: error: broken"]


@pytest.mark.parametrize("value", ["1", "yes", ""])
def test_no_colour_with_NO_COLOR_even_on_a_terminal(monkeypatch, value):
    text = emit(monkeypatch, tty=True, env={"NO_COLOR": value})
    assert ESC not in text and "==> pulling" in text


def test_no_colour_on_a_dumb_terminal(monkeypatch):
    assert ESC not in emit(monkeypatch, tty=True, env={"TERM": "dumb"})


def test_quiet_silences_progress_but_not_notices_or_errors(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    term = Terminal(False)
    monkeypatch.setattr(sys, "stderr", term)
    out = Output(quiet=True)
    out.step("pulling")
    out.notice("discarding 2 paths")
    out.error("broken")
    assert term.getvalue().splitlines() == ["podman-sandbox: discarding 2 paths",
                                            "podman-sandbox: error: broken"]


# --- through the CLI ----------------------------------------------------------

@pytest.fixture
def missing(tmp_path, monkeypatch):
    """A project whose sandbox does not exist yet (its setup result is cached)."""
    project = make_project(tmp_path, monkeypatch)
    return recorded_world(project, "inspect_missing.json")


def test_apply_prints_steps_on_stderr_and_quiet_silences_them(missing):
    loud = invoke(missing, "apply")
    assert loud.code == 0, loud
    assert "==> create: no sandbox container yet" in loud.stderr
    assert loud.stdout == ""
    missing.containers.clear()
    quiet = invoke(missing, "--quiet", "apply")
    assert quiet.code == 0, quiet
    assert "==>" not in quiet.stderr and quiet.stdout == ""
    assert missing.subcommands().count("run") == 2  # the work was done both times


def test_errors_are_one_line_with_a_hint_and_no_traceback(missing):
    missing.fail["run"] = (125, "Error: crun: cgroups in hybrid mode not supported\n")
    result = invoke(missing, "apply")
    assert result.code == 125
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith("podman-sandbox: error: create ") and "hybrid mode" in lines[-2]
    assert lines[-1].startswith("  hint: ") and "doctor" in lines[-1]


# --- the real Runner, against a stand-in podman executable --------------------

@pytest.fixture
def fake_podman(tmp_path):
    """An executable that prints what it was given, one argument per line, and obeys
    a few commands: 'out TEXT', 'err TEXT', 'bytes', 'exit N'."""
    script = tmp_path / "podman"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  out) printf "%s\\n" "$2" ;;\n'
        '  err) printf "%s\\n" "$2" >&2 ;;\n'
        "  bytes) printf '\\033[31mred\\033[0m\\377\\376\\000end' ;;\n"
        '  exit) exit "$2" ;;\n'
        '  *) for a in "$@"; do printf "[%s]\\n" "$a"; done ;;\n'
        "esac\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_verbose_shows_each_podman_command_before_it_runs(fake_podman, capfd):
    Runner(podman=fake_podman, verbose=True).run(["podman", "inspect", "a b", "$(x)"], what="t")
    err = capfd.readouterr().err
    assert err == "+ podman inspect 'a b' '$(x)'\n"


def test_not_verbose_shows_nothing(fake_podman, capfd):
    result = Runner(podman=fake_podman).run(["podman", "inspect", "a b"], what="t")
    assert capfd.readouterr().err == ""
    assert result.stdout == "[inspect]\n[a b]\n"  # one value, one argument


def test_streamed_output_goes_to_stderr_as_it_comes(fake_podman, capfd):
    result = Runner(podman=fake_podman).run(["podman", "out", "step output"], what="t", stream=True)
    captured = capfd.readouterr()
    assert captured.err == "step output\n" and captured.out == ""
    assert result.stdout == ""  # not captured: written straight to our stderr


def test_streamed_failure_names_the_exit_code(fake_podman, capfd):
    with pytest.raises(PodmanError, match="setup step 1/1 failed: exit 3"):
        Runner(podman=fake_podman).run(["podman", "exit", "3"], what="setup step 1/1", stream=True)


def test_passthrough_keeps_bytes_and_exit_code(fake_podman, capfdbinary):
    runner = Runner(podman=fake_podman)
    assert runner.passthrough(["podman", "bytes"]) == 0
    assert capfdbinary.readouterr().out == b"\033[31mred\033[0m\xff\xfe\x00end"
    assert runner.passthrough(["podman", "exit", "7"]) == 7


def test_runner_refuses_anything_but_podman(fake_podman):
    with pytest.raises(AssertionError):
        Runner(podman=fake_podman).run(["sh", "-c", "true"], what="t")
    assert os.path.basename(fake_podman) == "podman"

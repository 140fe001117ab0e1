"""`execute -i` in a real pseudo-terminal (tmux), and no TTY without one."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from harness import podman, wait_for

from podman_sandbox.locate import find_spec_file


@pytest.fixture
def classic_box(sandbox):
    """Classic mode (no sandbox.yaml), a sandbox name of its own."""
    assert find_spec_file(str(sandbox.root)) is None, "a sandbox.yaml above the test folder"
    name = f"pstest-{uuid.uuid4().hex[:12]}"
    config = sandbox.root / "config" / "podman-sandbox" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'{{"image": "{sandbox.image}", "name": "{name}"}}')
    return sandbox


class Tmux:
    """A tmux server of our own (own socket), so a user's tmux is never touched."""

    def __init__(self, env: dict, cwd: str):
        self.socket = f"pstest-{uuid.uuid4().hex[:10]}"
        self.env = {k: v for k, v in env.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env["TERM"] = "xterm"
        self.cwd = cwd

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, check=True, timeout=30).stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", command)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.tmux("capture-pane", "-p", "-J", "-t", "t").splitlines()]

    def wait_for(self, predicate, what: str, timeout: float = 120) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the pane shows:\n" + "\n".join(lines))
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env,
                       capture_output=True, check=False)


@pytest.fixture
def tmux(classic_box):
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is not installed: CI must install it (.ci/run)")
        pytest.skip("tmux is not installed")
    t = Tmux(classic_box.env, str(classic_box.project))
    yield t
    t.kill()


def _cli(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "podman_sandbox", *args])


def test_execute_interactive_runs_a_shell_in_a_terminal(classic_box, tmux):
    # After the shell ends, print its exit code and keep the pane for us to read.
    tmux.start(f"{_cli('execute', '-i', 'sh')}; echo EXITED=$?; sleep 60")
    tmux.wait_for(lambda ls: any(line.startswith("/workspace #") for line in ls), "the shell prompt")
    # Typed text and output differ: the answer appears only if the shell computed it.
    tmux.tmux("send-keys", "-t", "t", "echo $((6*7)); test -t 0 && echo T$((1+1))TY", "Enter")
    lines = tmux.wait_for(lambda ls: "T2TY" in ls, "the shell's answer")
    assert "42" in lines
    # Ctrl-C reaches the command in the sandbox and leaves the shell (and the session) alive.
    # (A Ctrl-C that did not reach it: the sleep outlasts the wait below, which fails.)
    tmux.tmux("send-keys", "-t", "t", "sleep 3600; echo NOT-INTERRUPTED", "Enter")
    [box] = classic_box.containers()
    assert wait_for(lambda: "sleep 3600" in podman("top", box["Id"], "args", check=False).stdout), \
        "the sleep never started in the sandbox"
    tmux.tmux("send-keys", "-t", "t", "C-c")
    tmux.tmux("send-keys", "-t", "t", "echo BACK-$((1+1))", "Enter")
    lines = tmux.wait_for(lambda ls: "BACK-2" in ls, "the shell after Ctrl-C")
    assert "NOT-INTERRUPTED" not in lines and not any(line.startswith("EXITED=") for line in lines)
    tmux.tmux("send-keys", "-t", "t", "exit 7", "Enter")
    tmux.wait_for(lambda ls: "EXITED=7" in ls, "the exit code")


def test_no_terminal_without_interactive_even_on_a_terminal(classic_box, tmux):
    classic_box.ok("execute", "true")  # started outside, so the pane shows only the answer
    probe = "test -t 0 && echo STDIN-IS-A-TTY || echo STDIN-NOT-A-TTY"
    tmux.start(f"{_cli('execute', probe)}; echo EXITED=$?; sleep 60")
    lines = tmux.wait_for(lambda ls: any(line.startswith("EXITED=") for line in ls), "the command")
    assert "STDIN-NOT-A-TTY" in lines and "EXITED=0" in lines


def test_no_terminal_when_stdin_is_not_one(classic_box):
    probe = "test -t 0 && echo tty || echo notty"
    for args in (("execute", probe), ("execute", "-i", probe)):
        result = classic_box.run(*args, input="")
        assert (result.returncode, result.stdout) == (0, "notty\n"), (args, result)
    # -i with piped stdin still passes the data through.
    assert classic_box.ok("execute", "-i", "cat", input="piped\n").stdout == "piped\n"

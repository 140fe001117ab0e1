"""The one place podman is called. argv lists only: never a shell on the host."""

from __future__ import annotations

import subprocess
import sys

from podman_sandbox.engine import connection
from podman_sandbox.errors import PodmanError, PodmanMissingError
from podman_sandbox.lite import which


def _echo(argv: list[str]) -> None:
    """verbose: the command as a shell would read it, before it starts."""
    import shlex

    sys.stderr.write("+ " + shlex.join([*connection.argv(), *argv[1:]]) + "\n")
    sys.stderr.flush()


class Result:
    """What a podman call answered. A plain class, not a dataclass: the survey's first
    reads (engine/firstlook.py) start before anything imports dataclasses (~10 ms)."""

    __slots__ = ("argv", "returncode", "stdout", "stderr")

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return (f"Result(argv={self.argv!r}, returncode={self.returncode!r}, "
                f"stdout={self.stdout!r}, stderr={self.stderr!r})")


class Pending:
    """A podman call Runner.start began: result() waits for it, once."""

    def __init__(self, argv: list[str], proc: subprocess.Popen | None = None,
                 result: Result | None = None):
        self.argv = argv
        self._proc = proc
        self._result = result

    def result(self) -> Result:
        if self._result is None:
            assert self._proc is not None
            out, err = self._proc.communicate()
            self._result = Result(self.argv, self._proc.returncode, out, err)
        return self._result

    def cancel(self) -> None:
        """Not needed after all: ended, if still running, and reaped (reads only)."""
        if self._result is None and self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.communicate()


class Runner:
    """Runs podman. verbose echoes every command to stderr as it starts."""

    def __init__(self, podman: str = "podman", verbose: bool = False):
        self.podman = podman
        self.verbose = verbose

    def executable(self) -> str:
        path = which(self.podman)
        if not path:
            raise PodmanMissingError(
                "podman is not installed (not found on PATH)",
                hint="install it (Debian/Ubuntu: apt-get install podman; Fedora: dnf install podman), "
                     "then run `podman-sandbox doctor`")
        return path

    def run(self, argv: list[str], *, what: str, check: bool = True,
            stream: bool = False, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
        """Run argv (argv[0] is 'podman'). stream: output goes to our stderr as it comes.
        env: the environment podman gets (default: ours)."""
        assert argv and argv[0] == "podman", argv
        full = [*connection.argv(self.executable()), *argv[1:]]
        if self.verbose:
            _echo(argv)
        try:
            if stream:
                sys.stderr.flush()
                streamed = subprocess.run(full, stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno(),
                                          stdin=subprocess.DEVNULL, env=env)
                result = Result(argv, streamed.returncode, "", "")
            else:
                proc = subprocess.run(full, capture_output=True, text=True, input=input,
                                      stdin=None if input is not None else subprocess.DEVNULL, env=env)
                result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        except FileNotFoundError as exc:
            raise PodmanMissingError(f"podman could not be started: {exc}") from None
        if check and result.returncode != 0:
            # Only a failure needs the catalogue (its dataclasses cost ~2 ms to import).
            from podman_sandbox.engine.failures import hint_for, podman_reason
            raise PodmanError(f"{what} failed: {podman_reason(result.stderr) if not stream else f'exit {result.returncode}'}",
                              argv=argv, stderr=result.stderr, returncode=result.returncode,
                              hint=hint_for(result.stderr))
        return result

    def start(self, argv: list[str], *, what: str) -> Pending:
        """Start argv now, read its answer later (Pending.result(); never checked: the
        caller's reader judges it). For a read a caller will likely need, run beside
        another one instead of after it."""
        assert argv and argv[0] == "podman", argv
        full = [*connection.argv(self.executable()), *argv[1:]]
        if self.verbose:
            _echo(argv)
        try:
            proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True)
        except FileNotFoundError as exc:
            raise PodmanMissingError(f"podman could not be started: {exc}") from None
        return Pending(argv, proc)

    def passthrough(self, argv: list[str]) -> int:
        """Run argv on our own stdin, stdout and stderr (bytes pass through untouched);
        return podman's exit code. For output the user reads as it comes (`logs`)."""
        assert argv and argv[0] == "podman", argv
        full = [*connection.argv(self.executable()), *argv[1:]]
        if self.verbose:
            _echo(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            return subprocess.run(full).returncode
        except FileNotFoundError as exc:
            raise PodmanMissingError(f"podman could not be started: {exc}") from None

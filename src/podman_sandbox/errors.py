"""One exception family for everything podman-sandbox reports to a user.

The CLI turns each into one readable line on stderr and a distinct exit code.
Codes sit above the range programs commonly use for themselves (pytest uses
0-5, shells 1-2), because `execute` passes the inner command's code through
and a script must be able to tell the tool's failure from the command's.
124-127 follow timeout(1) and podman run, 128+N means killed by signal N.
"""

from __future__ import annotations

# Exit codes, documented in the README and in `podman-sandbox --help`.
EXIT_OK = 0
EXIT_FAILED = 1  # cannot be done as asked (nothing to commit, a foreign container); also a bug
EXIT_INTERNAL = EXIT_FAILED
EXIT_USAGE = 2  # bad command-line usage (click's own code)
EXIT_NOT_STOPPED = 119  # execute: processes the command started could not be stopped
EXIT_LOCKED = 120  # another podman-sandbox holds the sandbox lock too long
EXIT_SPEC = 121  # sandbox.yaml or config.json is invalid, too large, not a file, or unsafe
EXIT_PODMAN_MISSING = 122  # podman (or an optional extra, e.g. the MCP SDK) not installed or not working
EXIT_REFUSED = 123  # the action would destroy user data; needs --force
EXIT_TIMEOUT = 124  # execute --timeout ran out (as timeout(1))
EXIT_PODMAN = 125  # a podman operation failed (as podman run's 125)
EXIT_INTERRUPTED = 130  # SIGINT (128 + 2)


class SandboxError(Exception):
    """Base class: a failure we can explain in one line."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        out = [self.message]
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


class SpecError(SandboxError):
    """sandbox.yaml / config.json is invalid. Carries every problem at once."""

    exit_code = EXIT_SPEC

    def __init__(self, problems: list[str], hint: str | None = None):
        self.problems = list(problems)
        summary = self.problems[0] if len(self.problems) == 1 else (
            f"{len(self.problems)} problems in the sandbox spec"
        )
        super().__init__(summary, hint)

    def lines(self) -> list[str]:
        out = list(self.problems)
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


class PodmanMissingError(SandboxError):
    exit_code = EXIT_PODMAN_MISSING


class MissingExtraError(SandboxError):
    """An optional extra (mcp) is not installed; the hint says how (extras.install_hint)."""

    exit_code = EXIT_PODMAN_MISSING


class PodmanError(SandboxError):
    """A podman command failed; message names the operation and podman's reason."""

    exit_code = EXIT_PODMAN

    def __init__(self, message: str, argv: list[str] | None = None, stderr: str = "",
                 returncode: int | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.argv = argv or []
        self.stderr = stderr
        self.returncode = returncode


class RefusedError(SandboxError):
    """The plan would discard something the user made and nobody said --force."""

    exit_code = EXIT_REFUSED


class LockError(SandboxError):
    """The sandbox lock cannot be had: held too long, or no safe folder for it."""


class LockTimeoutError(LockError):
    exit_code = EXIT_LOCKED


class UsageError(SandboxError):
    exit_code = EXIT_USAGE


class WorkspacePathError(RefusedError):
    """A path given to the API or the MCP server leads out of /workspace (.., an absolute
    path elsewhere, a symlink) or to something that is not a plain file or folder."""

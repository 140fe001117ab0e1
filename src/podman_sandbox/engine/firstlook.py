"""The survey's first reads, begun as soon as the spec is known.

A full-path command (a first `execute`, `start`, `apply`) then builds the Spec,
checks consent, imports the planner, computes the desired state and checks the
mount sources before its survey asks Podman anything: tens of ms of Python, and
the survey's inspect is a Go process of about as long. Begun here, as soon as the
validated document names the sandbox and its image (app.App.converge), under the
sandbox lock (taken first, and held until the converge is done), the inspect and,
when a change is likely, the saved states' listing run while Python works; the
survey reads their answers (engine/apply.survey). Holding the lock first keeps
what they answer what the survey would have seen: no other podman-sandbox
command changes the sandbox between these reads and the plan.

Only when the lock is free at once: a look never makes the checks before the
converge (consent, the project folder) wait behind another command; without one
the converge takes the lock itself, after them. Closed before a question on a
terminal (its reads ended, the lock released), the converge takes it again.

Reads only: nothing is changed before the converge's checks (consent, mount
sources) have passed. Cheap to import (no planner, no Jinja, no YAML).
"""

from __future__ import annotations

from contextlib import ExitStack

from podman_sandbox.engine import answers, images
from podman_sandbox.engine.lock import sandbox_lock
from podman_sandbox.engine.names import survey_names

TYPE_CHECKING = False  # typing's import costs milliseconds; mypy sees True
if TYPE_CHECKING:  # pragma: no cover - types only
    from podman_sandbox.engine.runner import Pending, Result, Runner


class FirstLook:
    """The sandbox lock, held, and the survey's reads, running: a context manager
    (leaving it waits for the reads and releases the lock)."""

    def __init__(self, runner: Runner, name: str, image: str, *, change_likely: bool):
        """name, image: the sandbox's container and image (a look for other names than
        the converge's own is not used: engine/apply.converge). LockTimeoutError when
        another command holds the sandbox's lock (never waits)."""
        self.name = name
        self.names = survey_names(name, image)
        self.closed = False
        self._stack = ExitStack()
        self._stack.enter_context(sandbox_lock(name, wait=0))
        self._inspect: Pending | None = None
        self._states: Pending | None = None
        try:
            self._inspect = runner.start(answers.inspect_argv(self.names), what="podman inspect")
            if change_likely:
                self._states = answers.start_images(runner, images.state_repo(name))
        except BaseException:
            self.close()
            raise

    def inspect(self, names: list[str]) -> Result | None:
        """The inspect's answer when it asked exactly names (else None: ask again), once."""
        found, self._inspect = self._inspect, None
        if found is None or names != self.names:
            if found is not None:
                found.result()
            return None
        return found.result()

    def states(self, repo: str) -> Pending | None:
        """The saved states' listing, begun for repo, once (None: not begun)."""
        found, self._states = self._states, None
        if found is not None and repo != images.state_repo(self.name):
            found.result()
            return None
        return found

    def close(self, *, discard: bool = False) -> None:
        """Wait for the reads (discard: end them) and release the lock (a converge after
        it takes its own)."""
        self.closed = True
        pending, self._inspect, self._states = (self._inspect, self._states), None, None
        try:
            for read in pending:  # read or not, never left running
                if read is not None and discard:
                    read.cancel()
                elif read is not None:
                    read.result()
        finally:
            self._stack.close()

    def __enter__(self) -> FirstLook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""A per-sandbox file lock around reconcile and commit.

Two commands on one sandbox at once must not both create it, nor commit over
each other. flock is released by the kernel if we die, so a crash never
leaves a stale lock behind.

Lock files live in a private folder (private.py): $XDG_RUNTIME_DIR may be a
shared, sticky folder where another user planted a symlink at the lock path
(we would create a file where it points) or a lock file they hold (we would
wait for them). A folder that fails the checks is passed over for the next
one (paths.lock_dirs); the file is opened without following a symlink.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager

from podman_sandbox import paths, private
from podman_sandbox.errors import LockError, LockTimeoutError

DEFAULT_WAIT = 300.0


def lock_dir() -> str:
    """The first folder of paths.lock_dirs that is (or can be made) private."""
    problems = []
    for folder, top in paths.lock_dirs():
        try:
            return private.private_dir(folder, top=top)
        except OSError as exc:
            problems.append(str(exc))
    raise LockError(f"no safe folder for the sandbox locks: {'; '.join(problems)}",
                    hint="make XDG_RUNTIME_DIR or XDG_CACHE_HOME a folder only you can write")


@contextmanager
def sandbox_lock(name: str, wait: float = DEFAULT_WAIT):
    path = os.path.join(lock_dir(), f"{name}.lock")
    try:
        fd = private.open_private(path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:  # only we (and root) can put anything in that folder
        raise LockError(f"cannot use the lock file {path}: {exc.strerror or exc}") from None
    waited = False  # what the with-statement gets: another command held it first
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = True
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"another podman-sandbox command has been working on {name!r} "
                        f"for over {wait:.0f}s", hint=f"lock file: {path}") from None
                time.sleep(0.05)
        yield waited
    finally:
        os.close(fd)


def setup_lock(owner_key: str, wait: float = DEFAULT_WAIT):
    """The project's lock around pulling and building its setup image, shared by the
    project's sandbox and all its instances (each holds only its own sandbox lock
    otherwise). '@' is in no sandbox name: it never is a sandbox's lock."""
    return sandbox_lock(f"@setup-{owner_key}", wait)


def workspace_lock(project_key: str, wait: float = DEFAULT_WAIT):
    """The project's lock around making an instance's worktree (`git worktree add`
    writes the repository's shared files)."""
    return sandbox_lock(f"@workspace-{project_key}", wait)

"""A per-sandbox file lock around reconcile and commit.

Two commands on one sandbox at once must not both create it, nor commit over
each other. flock is released by the kernel if we die, so a crash never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager

from podman_sandbox import paths
from podman_sandbox.errors import LockTimeoutError

DEFAULT_WAIT = 300.0


@contextmanager
def sandbox_lock(name: str, wait: float = DEFAULT_WAIT):
    folder = paths.lock_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"another podman-sandbox command has been working on {name!r} "
                        f"for over {wait:.0f}s", hint=f"lock file: {path}") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)

"""Which sandbox governs the current directory.

A project is the folder of the nearest sandbox.yaml above the current
directory (found like git finds .git), or the file named by -f/--file or
PODMAN_SANDBOX_FILE. With none, "classic" mode: the user's config.json
governs and the current directory itself is mounted, as the original tool did.

Standard library only: the fast path of `execute` imports this.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple

from podman_sandbox import paths

SPEC_NAMES = ("sandbox.yaml", "sandbox.yml")
WORKSPACE = "/workspace"


# A named tuple, not a dataclass: dataclasses imports inspect, ~10 ms on the hot path.
class Target(namedtuple("Target", "mode spec_path project_dir cwd")):
    """mode: "project" or "classic"; spec_path: sandbox.yaml, or the user's
    config.json (may not exist); project_dir: host folder mounted at /workspace."""

    __slots__ = ()

    @property
    def workdir(self) -> str:
        """The cwd's place under /workspace (a subfolder of a project runs there)."""
        rel = os.path.relpath(self.cwd, self.project_dir)
        if rel == "." or rel.startswith(".."):
            return WORKSPACE
        return WORKSPACE + "/" + rel.replace(os.sep, "/")


def _logical_cwd() -> str:
    """$PWD when it names the cwd (keeps the user's symlinked path), else getcwd."""
    real = os.getcwd()
    pwd = os.environ.get("PWD")
    if pwd and os.path.isabs(pwd):
        try:
            if os.path.samefile(pwd, real):
                return os.path.normpath(pwd)
        except OSError:
            pass
    return real


def _walk_up(start: str) -> tuple[str | None, str | None]:
    """(the spec file that governs, a spec file skipped because someone else owns it).

    Like git's safe.directory: a sandbox.yaml owned by another user (say, one
    planted in a shared /tmp above your folder) would choose the image, the
    setup steps and the mounts of your sandbox. The walk stops there.
    """
    folder = start
    trusted = (os.geteuid(), 0)
    while True:
        for name in SPEC_NAMES:
            candidate = os.path.join(folder, name)
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_uid not in trusted:
                return None, candidate
            return candidate, None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None, None
        folder = parent


def find_spec_file(start: str) -> str | None:
    return _walk_up(start)[0]


def foreign_spec_file(start: str) -> str | None:
    """A sandbox.yaml above start that was ignored because another user owns it."""
    return _walk_up(start)[1]


def locate(spec_file: str | None = None, cwd: str | None = None) -> Target:
    cwd = os.path.abspath(cwd) if cwd else _logical_cwd()
    spec_file = spec_file or os.environ.get("PODMAN_SANDBOX_FILE") or None
    if spec_file:
        path = os.path.abspath(os.path.join(cwd, os.path.expanduser(spec_file)))
        return Target("project", path, os.path.dirname(path), cwd)
    found = find_spec_file(cwd)
    if found:
        return Target("project", found, os.path.dirname(found), cwd)
    return Target("classic", paths.user_config_path(), cwd, cwd)

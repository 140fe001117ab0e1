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

from podman_sandbox import paths
from podman_sandbox.private import others_can_write, trusted_owner

SPEC_NAMES = ("sandbox.yaml", "sandbox.yml")
WORKSPACE = "/workspace"  # where the project is mounted in every sandbox


# A plain class: a dataclass imports inspect (~10 ms), a named tuple collections (~1 ms),
# and the fast path of `execute` makes one of these.
class Target:
    """mode: "project" or "classic"; spec_path: sandbox.yaml, or the user's
    config.json (may not exist); project_dir: host folder mounted at /workspace."""

    __slots__ = ("mode", "spec_path", "project_dir", "cwd")

    def __init__(self, mode: str, spec_path: str, project_dir: str, cwd: str):
        self.mode = mode
        self.spec_path = spec_path
        self.project_dir = project_dir
        self.cwd = cwd

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Target):
            return NotImplemented
        return (self.mode, self.spec_path, self.project_dir, self.cwd) == (
            other.mode, other.spec_path, other.project_dir, other.cwd)

    def __hash__(self) -> int:
        return hash((self.mode, self.spec_path, self.project_dir, self.cwd))

    def __repr__(self) -> str:
        return (f"Target(mode={self.mode!r}, spec_path={self.spec_path!r}, "
                f"project_dir={self.project_dir!r}, cwd={self.cwd!r})")

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


def _foreign(folder: str, candidate: str, st: os.stat_result) -> str | None:
    """Why another user decides what candidate (a spec file found in folder) says and
    mounts; None when nobody but us (and root) can. Judged: the name itself (a
    symlink is its owner's choice of target), the file it leads to, and the folder
    holding the name, which is what gets mounted at /workspace."""
    if not trusted_owner(st.st_uid):
        return "another user owns it"
    if stat.S_ISLNK(st.st_mode):
        target = os.stat(candidate)
        if not trusted_owner(target.st_uid):
            return "another user owns the file it links to"
    where = os.stat(folder)
    if not trusted_owner(where.st_uid):
        return f"another user owns its folder {folder}"
    if others_can_write(where) and not where.st_mode & stat.S_ISVTX:
        return f"other users can write its folder {folder}"
    return None


def foreign_reason(path: str) -> str | None:
    """Why another user controls the spec file at path; None: nobody but us and root."""
    try:
        return _foreign(os.path.dirname(path), path, os.lstat(path))
    except OSError:
        return None  # missing or unreadable: reading it says so


def _walk_up(start: str) -> tuple[str | None, tuple[str, str] | None]:
    """(the spec file that governs, (a spec file skipped, why)).

    Like git's safe.directory: a sandbox.yaml another user controls (say, one
    planted in a shared /tmp above your folder, or their symlink to your own
    spec in a folder of theirs) would choose the image, the setup steps and
    the mounts of your sandbox, or mount their folder in it. The walk stops there.
    """
    folder = start
    while True:
        for name in SPEC_NAMES:
            candidate = os.path.join(folder, name)
            try:
                if not stat.S_ISREG(os.stat(candidate).st_mode):
                    continue  # a folder, a FIFO: not a spec file
                why = _foreign(folder, candidate, os.lstat(candidate))
            except OSError:
                continue  # missing, a dangling link
            if why:
                return None, (candidate, why)
            return candidate, None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None, None
        folder = parent


def find_spec_file(start: str) -> str | None:
    return _walk_up(start)[0]


def foreign_spec_file(start: str) -> tuple[str, str] | None:
    """(a sandbox.yaml above start that was ignored, why: another user controls it)."""
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

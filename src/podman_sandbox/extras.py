"""How to install an optional extra (mcp, kube) into the installation that is running.

The package is not on PyPI, so `pip install 'podman-sandbox[EXTRA]'` cannot work; and
on Debian 12 and Ubuntu a bare `pip install` is refused. The hint names the extra's
packages (as pyproject.toml declares them, read from the installed metadata) and the
installer that owns this interpreter: pipx's `inject`, else this interpreter's pip.
Imported only when an extra is missing: standard library only.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterable

DISTRIBUTION = "podman-sandbox"
# pipx keeps each app in PIPX_HOME/venvs/APP (~/.local/pipx or ~/.local/share/pipx).
_PIPX_VENV = re.compile(r"[/\\]pipx[/\\]venvs[/\\]([^/\\]+)$")


def extra_requirements(extra: str, requires: Iterable[str] | None) -> list[str]:
    """The requirements (without markers) that `extra` adds, e.g. ["mcp>=1.10"]."""
    found = []
    for line in requires or ():
        requirement, _, marker = line.partition(";")
        if re.search(r"""extra\s*==\s*["']""" + re.escape(extra) + r"""["']""", marker):
            found.append(requirement.strip())
    return found or [extra]  # metadata missing (a source tree on sys.path): name the extra


def install_hint(extra: str, prefix: str | None = None, executable: str | None = None,
                 requires: Iterable[str] | None = None) -> str:
    """One line saying how to add `extra` to this installation."""
    prefix = sys.prefix if prefix is None else prefix
    executable = sys.executable if executable is None else executable
    if requires is None:
        requires = _installed_requires()
    packages = " ".join(shlex.quote(r) for r in extra_requirements(extra, requires))
    pipx = _PIPX_VENV.search(prefix.rstrip("/\\"))
    if pipx:
        return f"pipx inject {pipx.group(1)} {packages}"
    return f"{shlex.quote(executable)} -m pip install {packages}"


def _installed_requires() -> list[str]:
    from importlib import metadata

    try:
        return metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []

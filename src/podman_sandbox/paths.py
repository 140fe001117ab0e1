"""Where podman-sandbox keeps its files (XDG base directories honoured).

Standard library only: the fast path of `execute` imports this.
"""

from __future__ import annotations

import os


def _xdg(var: str, fallback: str) -> str:
    value = os.environ.get(var)
    return value if value and os.path.isabs(value) else os.path.expanduser(fallback)


def config_dir() -> str:
    return os.path.join(_xdg("XDG_CONFIG_HOME", "~/.config"), "podman-sandbox")


def user_config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def cache_dir() -> str:
    """Derived data only: safe to delete at any time."""
    return os.path.join(_xdg("XDG_CACHE_HOME", "~/.cache"), "podman-sandbox")


def lock_dirs() -> list[tuple[str, str]]:
    """Where sandbox locks may live, best first, as (folder, the tool's own folder above
    it): $XDG_RUNTIME_DIR (may be shared and sticky, so engine/lock.py checks it), then
    the cache folder."""
    found = []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        found.append((os.path.join(runtime, "podman-sandbox", "locks"), os.path.join(runtime, "podman-sandbox")))
    found.append((os.path.join(cache_dir(), "locks"), cache_dir()))
    return found


def state_dir() -> str:
    """What the user decided (approvals): not derived, never under a workspace."""
    return os.path.join(_xdg("XDG_STATE_HOME", "~/.local/state"), "podman-sandbox")


def approvals_dir() -> str:
    return os.path.join(state_dir(), "approvals")

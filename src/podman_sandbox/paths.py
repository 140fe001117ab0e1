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


def lock_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return os.path.join(runtime, "podman-sandbox", "locks")
    return os.path.join(cache_dir(), "locks")


def state_dir() -> str:
    """What the user decided (approvals): not derived, never under a workspace."""
    return os.path.join(_xdg("XDG_STATE_HOME", "~/.local/state"), "podman-sandbox")


def approvals_dir() -> str:
    return os.path.join(state_dir(), "approvals")

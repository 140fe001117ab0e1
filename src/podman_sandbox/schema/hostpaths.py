"""Host folders too broad to hand to a sandbox: the whole host, a folder that holds
your home folder, or a system folder. Used for /workspace and for extra mounts.
"""

from __future__ import annotations

import os

# Top-level system folders: mounting one exposes (or, read-write, endangers) the host.
SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
                  "/libx32", "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin",
                  "/srv", "/sys", "/tmp", "/usr", "/var")


def real_path(path: str) -> str:
    """path with every symlink resolved (normalised as written when that fails)."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.normpath(path)


def broad_reason(path: str, home: str | None = None) -> str | None:
    """What mounting path would expose, when that is too much; None when it is fine."""
    real = real_path(path)
    if real == "/":
        return "the whole host (/)"
    home = home if home is not None else os.path.expanduser("~")
    if home and os.path.isabs(home) and home != "/":
        real_home = real_path(home)
        if real == real_home:
            return f"your whole home folder ({home})"
        if real_home.startswith(real.rstrip("/") + "/"):
            return f"{real} (it holds your home folder)"
    if real in {real_path(p) for p in SYSTEM_FOLDERS}:
        return f"the system folder {real}"
    return None

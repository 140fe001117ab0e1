"""Facts about the host that change what Podman can enforce."""

from __future__ import annotations

import os
from functools import lru_cache


def is_rootless() -> bool:
    return os.geteuid() != 0


@lru_cache(maxsize=1)
def cgroup_version() -> int:
    return 2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else 1


def rootless_cgroup_v1() -> bool:
    """Podman ignores --memory, --cpus and --pids-limit for rootless on cgroup v1."""
    return is_rootless() and cgroup_version() == 1

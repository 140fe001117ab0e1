"""Read a container's effective limits and OOM counters from its cgroup, on the host.

Podman's own reports go stale after `podman update` (inspect and stats keep
the old memory value) and Podman 4.3 never sets OOMKilled, so the cgroup is
the truth. We find it through the container's init process: /proc/PID/cgroup
names its path under /sys/fs/cgroup (v1: per controller; v2: one path).

Standard library only: `execute` reads the OOM counter before and after.
"""

from __future__ import annotations

import os

CGROUP_ROOT = "/sys/fs/cgroup"
UNLIMITED_THRESHOLD = 1 << 60  # cgroup v1 writes "no limit" as 2^63 rounded to a page


def _cgroup_dirs(pid: int) -> dict[str, str]:
    """Controller -> directory on the host; key "" for cgroup v2's unified tree."""
    dirs: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return dirs
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for ctrl in controllers.split(","):
            if ctrl == "":
                dirs[""] = os.path.join(CGROUP_ROOT, path.lstrip("/"))
            elif ctrl == "memory":
                dirs["memory"] = os.path.join(CGROUP_ROOT, "memory", path.lstrip("/"))
    return dirs


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return None


def memory_limit(pid: int) -> tuple[bool, int | None]:
    """(readable, limit in bytes or None for no limit)."""
    dirs = _cgroup_dirs(pid)
    if "memory" in dirs:
        value = _read(os.path.join(dirs["memory"], "memory.limit_in_bytes"))
    elif "" in dirs:
        value = _read(os.path.join(dirs[""], "memory.max"))
    else:
        value = None
    if value is None:
        return False, None
    if value == "max" or int(value) >= UNLIMITED_THRESHOLD:
        return True, None
    return True, int(value)


def oom_kills(pid: int) -> int | None:
    """How many processes the kernel killed for memory in this cgroup so far."""
    dirs = _cgroup_dirs(pid)
    if "memory" in dirs:
        text = _read(os.path.join(dirs["memory"], "memory.oom_control"))
        key = "oom_kill"
    elif "" in dirs:
        text = _read(os.path.join(dirs[""], "memory.events"))
        key = "oom_kill"
    else:
        return None
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    if "memory" in dirs:  # old kernels: no oom_kill line; failcnt counts limit hits
        failcnt = _read(os.path.join(dirs["memory"], "memory.failcnt"))
        return int(failcnt) if failcnt is not None else None
    return None


def cpu_limit(pid: int) -> float | None:
    """Cores allowed (quota / period); 0.0 for no limit; None when unreadable."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            base = os.path.join(CGROUP_ROOT, controllers, path.lstrip("/"))
            quota = _read(os.path.join(base, "cpu.cfs_quota_us"))
            period = _read(os.path.join(base, "cpu.cfs_period_us"))
            if quota is None or period is None:
                return None
            return 0.0 if int(quota) <= 0 else round(int(quota) / int(period), 3)
        if controllers == "":
            text = _read(os.path.join(CGROUP_ROOT, path.lstrip("/"), "cpu.max"))
            if text is None:
                return None
            quota, _, period = text.partition(" ")
            return 0.0 if quota == "max" else round(int(quota) / int(period), 3)
    return None

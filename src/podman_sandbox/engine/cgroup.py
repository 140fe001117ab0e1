"""Read a container's effective limits and OOM counters from its cgroup, on the host.

Podman 4's own reports go stale after `podman update` (inspect and stats keep
the old memory value; Podman 5's do not) and OOMKilled stays false on cgroup
v1 (Podman 4.3 and 5.4 alike), so the cgroup is the truth. We find it through the container's init process: /proc/PID/cgroup
names its path under /sys/fs/cgroup (v1: per controller; v2: one path).

Standard library only: `execute` reads the OOM counter before and after.
"""

from __future__ import annotations

import os

CGROUP_ROOT = "/sys/fs/cgroup"
UNLIMITED_THRESHOLD = 1 << 60  # cgroup v1 writes "no limit" as 2^63 rounded to a page


def cgroup_version() -> int:
    """2 on the unified hierarchy; 1 on v1 and hybrid hosts (v1 controllers, v2 tree beside)."""
    return 2 if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")) else 1


def limits_ignored(rootless: bool | None = None, version: int | None = None) -> bool:
    """Podman ignores --memory, --cpus and --pids-limit: rootless on cgroup v1 ("Resource
    limits are not supported and ignored on cgroups V1 rootless systems"). The facts
    default to this host's (euid, cgroup_version); host.rootless_cgroup_v1 passes its own
    (a remote engine's are asked of the engine)."""
    if rootless is None:
        rootless = os.geteuid() != 0
    return rootless and (cgroup_version() if version is None else version) == 1


def cgroup_dirs(pid: int) -> dict[str, str] | None:
    """Controller -> its directory on the host, from /proc/PID/cgroup; key "" for
    cgroup v2's unified tree. None when the process is gone. Malformed lines are skipped."""
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as fh:
            lines = fh.read().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return None
    dirs: dict[str, str] = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            dirs[""] = os.path.join(CGROUP_ROOT, path.lstrip("/"))
            continue
        for ctrl in controllers.split(","):
            # v1 mounts a hierarchy under its controllers' joined names (cpu,cpuacct).
            dirs[ctrl] = os.path.join(CGROUP_ROOT, controllers, path.lstrip("/"))
    return dirs


def read_value(path: str) -> str | None:
    """A cgroup file's value, stripped; None when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("ascii", "replace").strip()
    except OSError:
        return None


def memory_limit(pid: int) -> tuple[bool, int | None]:
    """(readable, limit in bytes or None for no limit)."""
    dirs = cgroup_dirs(pid) or {}
    if "memory" in dirs:
        value = read_value(os.path.join(dirs["memory"], "memory.limit_in_bytes"))
    elif "" in dirs:
        value = read_value(os.path.join(dirs[""], "memory.max"))
    else:
        value = None
    if value is None:
        return False, None
    if value == "max" or int(value) >= UNLIMITED_THRESHOLD:
        return True, None
    return True, int(value)


def oom_kills(pid: int) -> int | None:
    """How many processes the kernel killed for memory in this cgroup so far."""
    dirs = cgroup_dirs(pid) or {}
    if "memory" in dirs:
        text = read_value(os.path.join(dirs["memory"], "memory.oom_control"))
        key = "oom_kill"
    elif "" in dirs:
        text = read_value(os.path.join(dirs[""], "memory.events"))
        key = "oom_kill"
    else:
        return None
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    if "memory" in dirs:  # old kernels: no oom_kill line; failcnt counts limit hits
        failcnt = read_value(os.path.join(dirs["memory"], "memory.failcnt"))
        return int(failcnt) if failcnt is not None else None
    return None


def cpu_limit(pid: int) -> float | None:
    """Cores allowed (quota / period); 0.0 for no limit; None when unreadable."""
    dirs = cgroup_dirs(pid) or {}
    if "cpu" in dirs:
        quota = read_value(os.path.join(dirs["cpu"], "cpu.cfs_quota_us"))
        period = read_value(os.path.join(dirs["cpu"], "cpu.cfs_period_us"))
    elif "" in dirs:
        quota, _, period = (read_value(os.path.join(dirs[""], "cpu.max")) or "").partition(" ")
    else:
        return None
    if quota is None:
        return None
    try:
        if quota in ("max", "-1") or int(quota) <= 0:
            return 0.0
        return round(int(quota) / int(period), 3) if period is not None else None
    except ValueError:
        return None


# v1 hierarchies that give a container a cgroup of its own, in the order we ask them.
_V1_PROCS_FROM = ("pids", "freezer", "memory", "cpu", "cpuacct", "name=systemd")


def member_pids(pid: int) -> set[int] | None:
    """Host pids of every process in the cgroup of pid and in the cgroups below it.
    None when that cannot be read. Rootless on cgroup v1 the "container's" cgroup is
    the user's own, shared with the host: callers must check namespaces too."""
    dirs = cgroup_dirs(pid)
    if not dirs:
        return None
    names = ("",) if cgroup_version() == 2 else _V1_PROCS_FROM
    top = next((dirs[n] for n in names if n in dirs), None)
    if top is None:
        return None
    found: set[int] = set()
    readable = False
    for folder, _subdirs, _files in os.walk(top):
        text = read_value(os.path.join(folder, "cgroup.procs"))
        if text is None:
            continue
        readable = True
        found.update(int(line) for line in text.split() if line.isdigit())
    return found if readable else None

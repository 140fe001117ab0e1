"""Is the memory limit asked for the one in force? One rule, for `status` and the API.

Which limits this host ignores at all (rootless Podman on cgroup v1) is
host.unenforced_limits; this module answers the rest: what the kernel enforces on
the running container now, and whether that is what the spec asks for.
"""

from __future__ import annotations

from podman_sandbox.engine import cgroup, connection, host
from podman_sandbox.engine.actual import Observed


def effective_memory(actual: Observed) -> int | None:
    """The memory limit the kernel enforces on the running container, from its cgroup
    (Podman 4's inspect goes stale after a live update); None: not running, no limit,
    unreadable, or a host where Podman sets no limits."""
    if actual.state != "running" or not actual.pid or host.rootless_cgroup_v1():
        return None
    if connection.is_remote():  # read in the sandbox (actual.observe), not in our /proc
        return (actual.observed or {}).get("memory")
    return cgroup.memory_limit(actual.pid)[1]


def memory_in_force(requested: int | None, actual: Observed, effective: int | None) -> bool:
    """The requested limit (None: none) is the one the kernel enforces. Not running, only
    "no limit" is in force; where Podman sets no limits, only "no limit" ever is."""
    if host.rootless_cgroup_v1():
        return requested is None
    if actual.state != "running":
        return requested is None
    return actual.memory_enforced and effective == requested

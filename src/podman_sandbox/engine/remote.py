"""A remote Podman engine (engine/connection.py): what differs when the service runs
on another machine.

- The workspace: a bind mount resolves on the server, so the local project folder
  is not what it would mount (Podman issues #8473, #13358: an empty /workspace,
  silently). We mount a folder the user names on the server
  (--remote-workspace PATH or PODMAN_SANDBOX_REMOTE_WORKSPACE) and refuse without
  one. It is the user's setting, not a sandbox.yaml field: a checked-in file must
  not choose which server folder is mounted read-write.
- Extra `mounts:` name host paths of this machine: refused.
- Limits and processes: read through the engine (an exec inside the sandbox),
  never from this host's /proc and /sys.
- The engine itself: `podman info` (host.serviceIsRemote, rootless, cgroup version).
"""

from __future__ import annotations

import json
import os
import posixpath

from podman_sandbox.engine import connection
from podman_sandbox.errors import PodmanError, RefusedError

WORKSPACE_ENV = "PODMAN_SANDBOX_REMOTE_WORKSPACE"
_WHY = ("on a remote Podman engine a bind mount resolves on the server, where this "
        "machine's project folder does not exist")

_info: dict | None = None  # `podman info` of the engine, once per process


def workspace_path() -> str | None:
    """The server folder to mount at /workspace (--remote-workspace / the variable)."""
    return os.environ.get(WORKSPACE_ENV) or None


def workspace_source(project_dir: str) -> str:
    """What Podman mounts at /workspace: the project here, the named folder on a remote engine."""
    remote = workspace_path() if connection.is_remote() else None
    return remote or project_dir


def check_spec(spec) -> None:
    """Refuse (exit 123) what cannot be honest on a remote engine; nothing when local."""
    if not connection.is_remote():
        return
    path = workspace_path()
    if not path:
        raise RefusedError(
            f"no workspace for {connection.describe()}: {_WHY}, so /workspace would be empty",
            hint=f"name the project's folder on the server with --remote-workspace PATH "
                 f"(or {WORKSPACE_ENV}=PATH), or run against local Podman "
                 f"(unset {connection.HOST_ENV} and {connection.CONNECTION_ENV})")
    if not posixpath.isabs(path) or posixpath.normpath(path) in ("/", "//") or ":" in path:
        raise RefusedError(f"refusing remote workspace {path!r}: it must be an absolute "
                           "folder on the server, not / and without ':'")
    if spec.mounts:
        raise RefusedError(
            f"refusing mounts on {connection.describe()}: their sources are paths on this "
            f"machine, and {_WHY.split(', where')[0]}",
            hint="remove `mounts:` for this target, or run against local Podman")


def engine_info(runner) -> dict:
    """`podman info` of the engine (cached): {"remote", "rootless", "cgroup", "host"}."""
    global _info
    if _info is None:
        result = runner.run(["podman", "info", "--format", "json"], what="podman info", check=False)
        try:
            data = json.loads(result.stdout) if result.returncode == 0 else None
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            # Guessing here would call a rootless engine's ignored limits enforced.
            reason = (result.stderr or "").strip().splitlines()[-1:] or ["no answer"]
            raise PodmanError(f"podman info failed on the engine {connection.describe()}: "
                              f"{reason[0]}", stderr=result.stderr or "",
                              returncode=result.returncode)
        host = data.get("host") or {}
        _info = {"remote": bool(host.get("serviceIsRemote")),
                 "rootless": bool((host.get("security") or {}).get("rootless")),
                 "cgroup": host.get("cgroupVersion") or "",
                 "host": host.get("hostname") or ""}
    return _info


def rootless_cgroup_v1() -> bool:
    """The remote engine's answer to host.rootless_cgroup_v1 (False until asked)."""
    return bool(_info and _info["rootless"] and _info["cgroup"] == "v1")


# Printed by `sh` inside the sandbox: the memory limit, then the CPU quota and period
# (cgroup v2 with its own namespace, else v1), as the kernel enforces them there.
_LIMITS_SCRIPT = r"""
if [ -r /sys/fs/cgroup/memory.max ]; then
    cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/cpu.max
else
    cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
fi
"""


def parse_limits(text: str) -> tuple[bool, int | None, float | None]:
    """(readable, memory bytes or None, cpus: 0.0 no limit, None unknown) from _LIMITS_SCRIPT."""
    from podman_sandbox.engine.cgroup import UNLIMITED_THRESHOLD

    lines = text.split("\n")
    if len(lines) < 2:
        return False, None, None
    memory_text, cpu_text = lines[0].strip(), lines[1].split()
    try:
        memory = None if memory_text == "max" or int(memory_text) >= UNLIMITED_THRESHOLD \
            else int(memory_text)
    except ValueError:
        return False, None, None
    cpus = None
    if len(cpu_text) == 2:
        try:
            quota, period = cpu_text
            cpus = 0.0 if quota in ("max", "-1") or int(quota) <= 0 else round(int(quota) / int(period), 3)
        except ValueError:
            cpus = None
    return True, memory, cpus


def limits_inside(runner, container: str) -> tuple[bool, int | None, float | None]:
    """The limits the sandbox's cgroup enforces, asked of the sandbox itself."""
    result = runner.run(["podman", "exec", container, "sh", "-c", _LIMITS_SCRIPT],
                        what="read the sandbox's limits", check=False)
    return parse_limits(result.stdout) if result.returncode == 0 else (False, None, None)

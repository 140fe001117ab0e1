"""The disk limit (`disk:`): the most a sandbox may write to its own filesystem.

Without one, code filling the container's /tmp fills Podman's whole store.
Podman enforces `--storage-opt size=` only where its storage driver can:
overlay on xfs mounted with project quotas (prjquota), and zfs. Elsewhere
(overlay on ext4, as on most laptops, vfs, and btrfs: Podman 4.3's btrfs
driver answers "unknown option size") it refuses the option, so the
sandbox is made without it and plan, apply, status and doctor say plainly that
the limit is NOT enforced, as for limits rootless Podman ignores.

Standard library only; one `podman info` per process, and only when asked.
"""

from __future__ import annotations

import json
import os

_QUOTA_OPTIONS = {"prjquota", "pquota"}  # xfs project quotas, enforced
_cache: dict = {}


def storage_facts(info: dict) -> tuple[str, str, str]:
    """(driver, backing filesystem, graph root) from `podman info --format json`."""
    store = info.get("store") or info.get("Store") or {}
    status = store.get("graphStatus") or store.get("GraphStatus") or {}
    return (store.get("graphDriverName") or store.get("GraphDriverName") or "",
            status.get("Backing Filesystem") or "",
            store.get("graphRoot") or store.get("GraphRoot") or "")


def mount_options(path: str, mountinfo: str | None = None) -> set[str]:
    """Mount and superblock options of the filesystem holding path (from mountinfo)."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
                mountinfo = fh.read()
        except OSError:
            return set()
    best, options = "", set()
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(" "), right.split(" ")
        if len(fields) < 6 or len(extra) < 3:
            continue
        point = fields[4]
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, options = point, set(fields[5].split(",")) | set(extra[2].split(","))
    return options


def unsupported_reason(driver: str, backing: str, options: set[str]) -> str | None:
    """Why Podman cannot enforce `disk:` with this storage; None when it can."""
    if driver == "zfs":
        return None
    if driver == "overlay" and backing == "xfs":
        if options & _QUOTA_OPTIONS:
            return None
        return ("Podman's storage is overlay on xfs without project quotas: mount it with "
                "prjquota to enforce it")
    where = f"{driver or 'unknown'}" + (f" on {backing}" if backing else "")
    return (f"Podman's storage here ({where}) cannot limit a container's size; it needs overlay "
            "on xfs mounted with prjquota, or zfs")


def reason_for(runner) -> str | None:
    """unsupported_reason for this host's Podman (asked once per process)."""
    if "reason" not in _cache:
        result = runner.run(["podman", "info", "--format", "json"], what="podman info", check=False)
        try:
            info = json.loads(result.stdout or "{}") or {}
        except json.JSONDecodeError:
            info = {}
        driver, backing, root = storage_facts(info)
        _cache["reason"] = unsupported_reason(driver, backing,
                                              mount_options(os.path.realpath(root)) if root else set())
    return _cache["reason"]


def not_enforced(runner, container: dict) -> str | None:
    """The sentence to show when container asks for a disk limit this host cannot enforce."""
    size = container.get("disk")
    reason = reason_for(runner) if size else None
    if not reason:
        return None
    from podman_sandbox.schema.sizes import format_size
    return f"disk: {format_size(size)} requested but NOT enforced: {reason}"

"""Facts about the host that change what Podman can do or enforce here.

Rootless Podman (an ordinary user) differs from Podman run as root in three
ways that matter to a sandbox:

- user ids: root in the container is the user on the host (the rest of the
  container's ids come from the user's /etc/subuid and /etc/subgid ranges);
- limits: on a cgroup v1 host Podman ignores --memory, --cpus and
  --pids-limit for a rootless container ("Resource limits are not supported
  and ignored on cgroups V1 rootless systems");
- networking: the default network (slirp4netns) needs /dev/net/tun.

Standard library only, no podman calls: the engine asks these questions on
every converge, `doctor` asks the rest (the functions below it are for it).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from podman_sandbox.engine.cgroup import cgroup_version, limits_ignored

# Spec fields that are resource limits Podman enforces through cgroups.
LIMIT_FIELDS = ("memory", "cpus", "pids_limit")

NOT_ENFORCED_REASON = ("rootless Podman cannot set resource limits on cgroup v1 hosts "
                       "(run as root, or on a cgroup v2 host with delegated controllers)")

TUN_DEVICE = "/dev/net/tun"
TUN_FIX = (f"rootless networking (slirp4netns, or pasta on Podman 5) needs {TUN_DEVICE} to be readable and writable "
           "by you: set `network: none` or `network: host` "
           "(`podman-sandbox configure --network none`), or have an administrator run "
           f"`chmod 0666 {TUN_DEVICE}` (its usual mode)")


def is_rootless() -> bool:
    return os.geteuid() != 0


def rootless_cgroup_v1() -> bool:
    """Podman ignores --memory, --cpus and --pids-limit for rootless on cgroup v1."""
    from podman_sandbox.engine import connection
    if connection.is_remote():  # the server's rootlessness and cgroups, not ours
        from podman_sandbox.engine import remote
        return remote.rootless_cgroup_v1()
    return limits_ignored(is_rootless(), cgroup_version())


def limits_enforced() -> bool:
    """Can Podman enforce memory, cpus and pids limits for us on this host?"""
    return not rootless_cgroup_v1()


def requested_limits(container: dict) -> dict:
    """The limits a canonical container (Desired.container) asks for: field -> value."""
    found = {}
    for key in LIMIT_FIELDS:
        value = container.get(key)
        if value:  # None / 0 mean "no limit"
            found[key] = value
    return found


def unenforced_limits(container: dict) -> dict:
    """The requested limits this host will not enforce (empty when all are)."""
    return {} if limits_enforced() else requested_limits(container)


def describe_limits(limits: dict) -> str:
    """"memory 64m, pids limit 2048" for messages."""
    from podman_sandbox.schema.sizes import format_size  # not on the fast path

    parts = []
    for key, value in limits.items():
        shown = format_size(value) if key == "memory" else value
        parts.append(f"{key.replace('_', ' ')} {shown}")
    return ", ".join(parts)


def not_enforced_message(container: dict) -> str | None:
    """One line for apply/configure/start output, or None when everything is enforced."""
    limits = unenforced_limits(container)
    if not limits:
        return None
    return f"{describe_limits(limits)} requested but NOT enforced: {NOT_ENFORCED_REASON}"


def numeric_user(user: str | None) -> tuple[int, int | None] | None:
    """(uid, gid or None) for a `user:` written as uid[:gid]; None for a name or nothing."""
    if not user:
        return None
    uid, _, gid = str(user).partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        return None
    return int(uid), (int(gid) if gid else None)


def keep_id_args(user: str | None) -> list[str]:
    """User-namespace flags for the sandbox container.

    Rootless Podman maps root in the container to the user on the host, so by
    default (no `user:`, or root) nothing is needed: files written in /workspace
    are the user's and packages can be installed as root inside. A sandbox that
    runs as another numeric uid N gets `--userns=keep-id:uid=N,gid=G`: the host
    user becomes N inside, so /workspace is writable by N and what N writes
    there is the user's on the host. As root on the host, nothing is mapped.
    """
    ids = numeric_user(user)
    if not is_rootless() or ids is None or ids[0] == 0:
        return []
    uid, gid = ids
    return [f"--userns=keep-id:uid={uid},gid={uid if gid is None else gid}"]


# ---------------------------------------------------------------------------
# Rootless prerequisites, for `doctor`. Each *_problem() returns None when all
# is well, else one sentence saying what is wrong and how to fix it.


def user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


@dataclass(frozen=True)
class IdRange:
    start: int
    count: int


def subid_ranges(kind: str = "uid", user: str | None = None,
                 path: str | None = None) -> list[IdRange]:
    """The user's ranges in /etc/subuid (kind "uid") or /etc/subgid (kind "gid").

    Lines are `name-or-uid:start:count`; both the name and the numeric id count.
    """
    path = path or f"/etc/sub{kind}"
    name = user or user_name()
    ids = {name}
    try:
        ids.add(str(pwd.getpwnam(name).pw_uid))
    except KeyError:
        pass
    ranges = []
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in ids and parts[1].isdigit() and parts[2].isdigit():
            ranges.append(IdRange(int(parts[1]), int(parts[2])))
    return ranges


def subid_problem(user: str | None = None) -> str | None:
    """Rootless containers need subordinate uid and gid ranges (65536 ids is usual)."""
    name = user or user_name()
    missing = [f"/etc/sub{kind}" for kind in ("uid", "gid")
               if sum(r.count for r in subid_ranges(kind, name)) < 65536]
    if not missing:
        return None
    return (f"{name} has no range of 65536 ids in {' and '.join(missing)}: rootless Podman "
            f"cannot map the container's users. Fix (as root): "
            f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name} "
            "(pick a range no other user has), then `podman system migrate`")


def idmap_tools_problem() -> str | None:
    """newuidmap/newgidmap (package uidmap) set up the container's id ranges."""
    import shutil

    missing = [tool for tool in ("newuidmap", "newgidmap") if shutil.which(tool) is None]
    if not missing:
        return None
    return (f"{' and '.join(missing)} not found: rootless Podman needs them to use the "
            "subuid/subgid ranges. Fix: install the package uidmap (Debian/Ubuntu: "
            "apt-get install uidmap; Fedora: dnf install shadow-utils)")


def runtime_dir() -> str | None:
    return os.environ.get("XDG_RUNTIME_DIR") or None


def runtime_dir_problem() -> str | None:
    """Rootless Podman keeps its sockets and locks in $XDG_RUNTIME_DIR.

    A login session (systemd-logind) makes /run/user/UID; `su`, `sudo -u`,
    cron and CI runners often do not. Podman then falls back to a folder in
    /tmp, which works but can go stale across reboots.
    """
    path = runtime_dir()
    uid = os.geteuid()
    fix = (f"Fix: log in as the user (a login session creates /run/user/{uid}), or as root: "
           f"mkdir -p /run/user/{uid} && chown {uid}: /run/user/{uid} && chmod 0700 /run/user/{uid}, "
           f"then export XDG_RUNTIME_DIR=/run/user/{uid}")
    if not path:
        return f"XDG_RUNTIME_DIR is not set. {fix}"
    try:
        st = os.stat(path)
    except OSError:
        return f"XDG_RUNTIME_DIR={path} does not exist. {fix}"
    if st.st_uid != uid:
        return f"XDG_RUNTIME_DIR={path} belongs to uid {st.st_uid}, not to you (uid {uid}). {fix}"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"XDG_RUNTIME_DIR={path} is not writable by you. {fix}"
    return None


def storage_conf_path() -> str:
    """The user's Podman storage settings (rootless)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "containers", "storage.conf")


def storage_driver_from_info(info: dict) -> str | None:
    """The storage driver in use, from `podman info --format json`."""
    store = info.get("store") or info.get("Store") or {}
    return store.get("graphDriverName") or store.get("GraphDriverName") or None


def storage_driver_note(driver: str | None) -> str | None:
    """vfs works everywhere but copies every layer: say how to get overlay."""
    if driver != "vfs" or not is_rootless():
        return None
    return (f"storage driver vfs: works, but every container and commit copies whole images "
            f"(slow and large for big images). For native overlay (Linux 5.13+) or "
            f"fuse-overlayfs put driver = \"overlay\" under [storage] in {storage_conf_path()}, "
            "with runroot and graphroot too (the values `podman info` shows; without them "
            "Podman 4.3's commit fails when XDG_CONFIG_HOME is set), then `podman system reset` "
            "(this deletes your local images and containers)")


def tun_usable() -> bool:
    """Can slirp4netns or pasta (the default rootless network) open /dev/net/tun?"""
    return not is_rootless() or os.access(TUN_DEVICE, os.R_OK | os.W_OK)


def tun_problem() -> str | None:
    if tun_usable():
        return None
    return f"{TUN_DEVICE} is not usable: the default network (bridge) cannot work; {TUN_FIX}"

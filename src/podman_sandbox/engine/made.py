"""The container a converge has just started, found in /proc instead of by `podman inspect`.

A first `execute` must check the new sandbox's mounts in /proc/PID/mountinfo
before anything runs in it (mountcheck.verify), which needs the init's pid:
asking `podman inspect` for it costs a Go process, about 45 ms, a tenth of
that execute. Podman's monitor knows it: `podman run --detach` prints the new
container's id, the container's conmon carries that id (`-c ID`) and the pid
file it writes (`-p FILE`) on its command line, and the init is conmon's child.

Trusted only when every link holds: a conmon process of our own user whose
first `-c` is exactly the id, a pid file of ours (or root's) that nobody else
can write, and a process in it whose parent is that conmon and whose cgroup is
the container's (libpod-ID: a forged conmon cannot place one there). Anything else
(another runtime monitor, a remote engine, no /proc) is None, and the caller
asks `podman inspect` as before. Standard library only.
"""

from __future__ import annotations

import os
import stat

_HEX = frozenset("0123456789abcdef")


def _options(args: list[bytes]) -> dict[bytes, bytes]:
    """The first value of each of conmon's -c (container id) and -p (pid file)."""
    found: dict[bytes, bytes] = {}
    for flag, value in zip(args, args[1:]):
        if flag in (b"-c", b"-p") and flag not in found:
            found[flag] = value
    return found


def _parent(pid: int, proc: str) -> int | None:
    try:
        with open(f"{proc}/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        return int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


def _in_cgroup_of(pid: int, container_id: bytes, proc: str) -> bool:
    """pid is in the container's own cgroup (libpod-ID, whatever the manager): neither
    another user nor code in another sandbox can put a process there. No cgroups
    (rootless on cgroup v1): False, and the caller asks Podman."""
    try:
        with open(f"{proc}/{pid}/cgroup", "rb") as fh:
            return b"libpod-" + container_id in fh.read()
    except OSError:
        return False


def _read_pid(path: bytes) -> int | None:
    """The pid in Podman's pid file, if the file is ours or root's and only writable by its owner."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid not in (0, os.geteuid()) \
                or info.st_mode & 0o022:
            return None
        pid = int(os.read(fd, 64).strip() or b"0")
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return pid if pid > 0 else None


def find(container_id: str, proc: str = "/proc") -> tuple[int, str] | None:
    """(the init's pid, the pid file Podman writes it to) of the running container
    container_id (a full 64-hex id, as `podman run --detach` prints it), or None.
    proc: where /proc is (tests give a made-up one)."""
    if len(container_id) != 64 or not set(container_id) <= _HEX:
        return None
    wanted = container_id.encode()
    me = os.geteuid()
    try:
        entries = os.listdir(proc)
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        base = f"{proc}/{entry}"
        try:
            if os.stat(base).st_uid != me:
                continue
            with open(base + "/comm", "rb") as fh:
                if fh.read().strip() != b"conmon":
                    continue
            with open(base + "/cmdline", "rb") as fh:
                options = _options(fh.read().split(b"\0"))
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if options.get(b"-c") != wanted:
            continue
        pid_file = options.get(b"-p", b"")
        pid = _read_pid(pid_file) if pid_file else None
        if pid is None or _parent(pid, proc) != int(entry) or not _in_cgroup_of(pid, wanted, proc):
            continue  # a forgery naming the id (code in another sandbox can): look further
        return pid, os.fsdecode(pid_file)
    return None

"""A process's state, parent and start time, from /proc/PID/stat.

The start time (clock ticks since boot) tells a process from a later one with
the same pid, and orders processes: `execute` notes when its exec began and
what the sandbox's init is. Standard library only (the hot path of execute).
"""

from __future__ import annotations

GONE = ("Z", "X", "x")  # ended: a zombie waiting to be reaped, or dead


def stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time); None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        # The command name (field 2) may hold spaces and ')': split after the last ')'.
        fields = data[data.rindex(b")") + 2:].split()
        return fields[0].decode(), int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def start_time(pid: int, ended: bool = False) -> int | None:
    """pid's start time while it runs (with ended: also once it has ended, until reaped)."""
    st = stat(pid)
    if st is None or (st[0] in GONE and not ended):
        return None
    return st[2]

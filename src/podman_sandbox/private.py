"""Files only this user can write: the spec cache, records, locks, approvals.

Another local user must never be able to plant, rewrite or redirect what
podman-sandbox trusts later (a cached spec that mounts /, a record that sends
`execute` to another container, a symlink at a lock path, an approval). So
every such file lives in a directory that is checked, not assumed:

- the directory is owned by us and open to nobody else (0700; made so
  whatever the umask, and an existing one of ours is tightened);
- every directory above it (the real path and the path as written) is owned
  by us or root and not writable by others, unless it is sticky like /tmp
  (where others cannot rename or remove what is ours);
- files are opened without following a symlink, and trusted only when they
  are regular, ours and not writable by group or others;
- new files are written to a fresh temporary name (O_EXCL) and renamed.

Anything that fails a check raises UnsafePathError, an OSError: callers that
treat their file as a cache (unusable = slower) need no new code path.

Standard library only, and only cheap calls: the fast path of `execute` uses it.
"""

from __future__ import annotations

import os
import stat

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class UnsafePathError(OSError):
    """A path another user could write or redirect: never trusted."""


def _check_ancestor(path: str, uid: int) -> None:
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} is not a folder")
    if st.st_uid not in (uid, 0):
        raise UnsafePathError(f"{path} belongs to another user (uid {st.st_uid})")
    if st.st_mode & _WRITABLE_BY_OTHERS and not st.st_mode & stat.S_ISVTX:
        raise UnsafePathError(f"{path} is writable by other users")


def _check_chain(path: str, uid: int) -> None:
    """Every folder from / down to path (path included), as written and as it really is."""
    for variant in {os.path.normpath(path), os.path.realpath(path)}:
        parts = variant.split(os.sep)
        for i in range(1, len(parts) + 1):
            _check_ancestor(os.sep.join(parts[:i]) or os.sep, uid)


def private_dir(path: str) -> str:
    """path as a folder only we can use (made with its parents when missing); raises
    UnsafePathError when it, or a folder above it, could be changed by another user."""
    path = os.path.abspath(path)
    uid = os.geteuid()
    missing = []
    head = path
    while not os.path.lexists(head):
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    _check_chain(os.path.dirname(missing[-1] if missing else path), uid)  # the folders above
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)  # umask can only take bits away from 0700
        except FileExistsError:
            pass  # made meanwhile: checked below like any existing folder
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} is not a folder of ours (a symlink or a file)")
    if st.st_uid != uid:
        raise UnsafePathError(f"{path} belongs to another user (uid {st.st_uid})")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, from an earlier version or a loose umask
    _check_chain(path, uid)
    return path


def _checked(fd: int, path: str) -> int:
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file"
    elif st.st_uid != os.geteuid():
        problem = f"belongs to another user (uid {st.st_uid})"
    elif st.st_mode & _WRITABLE_BY_OTHERS:
        problem = "is writable by other users"
    if problem:
        os.close(fd)
        raise UnsafePathError(f"{path} {problem}")
    return fd


def open_private(path: str, flags: int = os.O_RDONLY) -> int:
    """An fd of path, a regular file of ours that nobody else can write; never through a
    symlink. With O_CREAT a new file is made mode 0600."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    return _checked(fd, path)


def read_private(path: str, limit: int = 1 << 20) -> bytes:
    """The bytes of a private file (see open_private); UnsafePathError when it is larger
    than limit (nothing of ours is)."""
    fd = open_private(path)
    try:
        data = os.read(fd, limit + 1)
        chunks = [data]
        total = len(data)
        while data and total <= limit:
            data = os.read(fd, limit + 1 - total)
            chunks.append(data)
            total += len(data)
    finally:
        os.close(fd)
    if total > limit:
        raise UnsafePathError(f"{path} is larger than {limit} bytes")
    return b"".join(chunks)


def write_private(path: str, data: bytes) -> None:
    """Replace path with data, atomically, as a file only we can read or write.
    The folder must be private already (private_dir)."""
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

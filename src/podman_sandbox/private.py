"""Files only this user can write: the spec cache, records, locks, the user's config.

Another local user must never be able to plant, rewrite or redirect what
podman-sandbox trusts later (a cached spec that mounts /, a record that sends
`execute` to another container, a symlink at a lock path, an approval). So
every such file lives in a directory that is checked, not assumed:

- the directory is owned by us and open to nobody else (0700; made so
  whatever the umask, and an existing one of ours is tightened, as are the
  tool's own folders above it: an older version may have made them loose);
- every directory above it (the real path and the path as written) is owned
  by us or root and not writable by others, unless it is sticky like /tmp
  (where others cannot rename or remove what is ours); a symlink on the way
  must be ours or root's (in a sticky folder its owner could re-point it);
- files are opened without following a symlink, and trusted only when they
  are regular, ours and not writable by group or others;
- new files are written to a fresh temporary name (O_EXCL) and renamed.

"Writable by others" allows one exception: write access for our own private
group (the user-private-group convention, umask 002), a group named after us
with no other member, that no other user has as their primary group.

Anything that fails a check raises UnsafePathError, an OSError: callers that
treat their file as a cache (unusable = slower) need no new code path.

Standard library only, and only cheap calls: the fast path of `execute` uses it.
"""

from __future__ import annotations

import os
import stat

_TRUSTED_OWNERS = (0,)  # besides ourselves
_private_gid_cache: dict = {}


class UnsafePathError(OSError):
    """A path another user could write or redirect: never trusted."""


def _is_own_private_group(gid: int) -> bool:
    """gid is our user-private group: named after us, no other member, nobody else's primary group."""
    uid = os.geteuid()
    key = (uid, gid)
    if key not in _private_gid_cache:
        import grp
        import pwd

        try:
            me = pwd.getpwuid(uid)
            group = grp.getgrgid(gid)
            _private_gid_cache[key] = (
                me.pw_gid == gid and group.gr_name == me.pw_name
                and set(group.gr_mem) <= {me.pw_name}
                and all(p.pw_uid == uid for p in pwd.getpwall() if p.pw_gid == gid))
        except KeyError:
            _private_gid_cache[key] = False
    return _private_gid_cache[key]


def others_can_write(st: os.stat_result) -> bool:
    """Someone but us (and root) may write what st describes (a sticky bit aside)."""
    if st.st_mode & stat.S_IWOTH:
        return True
    return bool(st.st_mode & stat.S_IWGRP) and not _is_own_private_group(st.st_gid)


def trusted_owner(uid: int) -> bool:
    """uid is us or root: the owners whose files and folders we may rely on."""
    return uid == os.geteuid() or uid in _TRUSTED_OWNERS


def _check_folder(path: str, st: os.stat_result) -> None:
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} is not a folder")
    if not trusted_owner(st.st_uid):
        raise UnsafePathError(f"{path} belongs to another user (uid {st.st_uid})")
    if others_can_write(st) and not st.st_mode & stat.S_ISVTX:
        raise UnsafePathError(f"{path} is writable by other users")


def _prefixes(path: str) -> list[str]:
    """/a/b -> ["/", "/a", "/a/b"] (path absolute and normalised)."""
    parts = path.split(os.sep)
    return [os.sep.join(parts[:i]) or os.sep for i in range(1, len(parts) + 1)]


def check_chain(path: str) -> None:
    """Every folder from / down to path (path included), as written and as it really is:
    owned by us or root and not writable by others unless sticky; a symlink on the way
    ours or root's. Raises UnsafePathError (or another OSError: missing, ...)."""
    written = os.path.normpath(os.path.abspath(path))
    linked = False
    for prefix in _prefixes(written):
        st = os.lstat(prefix)
        if stat.S_ISLNK(st.st_mode):
            if not trusted_owner(st.st_uid):
                raise UnsafePathError(f"{prefix} is a symlink of another user (uid {st.st_uid})")
            linked = True  # where it leads is checked below, on the real path
            continue
        _check_folder(prefix, st)
    if linked:
        for prefix in _prefixes(os.path.realpath(written)):
            _check_folder(prefix, os.lstat(prefix))


def private_dir(path: str, top: str | None = None) -> str:
    """path as a folder only we can use, made with its parents when missing; raises
    UnsafePathError when it, or a folder above it, could be changed by another user.

    top: the tool's own folder that path is in (e.g. ~/.cache/podman-sandbox); the
    folders from top down to path are ours to tighten, those above it only checked.
    """
    path = os.path.abspath(path)
    first = os.path.abspath(top) if top else path
    if path != first and not path.startswith(first.rstrip(os.sep) + os.sep):
        raise ValueError(f"{path} is not in {first}")
    while not os.path.lexists(os.path.dirname(first)):  # missing parents: made by us too
        first = os.path.dirname(first)
    check_chain(os.path.dirname(first))
    uid = os.geteuid()
    for folder in _prefixes(path)[len(_prefixes(first)) - 1:]:
        try:
            os.mkdir(folder, 0o700)  # umask can only take bits away from 0700
        except FileExistsError:
            pass  # an existing one (or made meanwhile): checked like any other
        st = os.lstat(folder)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(f"{folder} is not a folder of ours (a symlink or a file)")
        if st.st_uid != uid:
            raise UnsafePathError(f"{folder} belongs to another user (uid {st.st_uid})")
        if st.st_mode & 0o077:
            # Ours, from an earlier version or a loose umask. Its parent is checked or
            # private already, so nobody can swap it for a symlink before this chmod.
            os.chmod(folder, 0o700)
    return path


def _checked(fd: int, path: str) -> int:
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file"
    elif st.st_uid != os.geteuid():
        problem = f"belongs to another user (uid {st.st_uid})"
    elif others_can_write(st):
        problem = "is writable by other users"
    if problem:
        os.close(fd)
        raise UnsafePathError(f"{path} {problem}")
    return fd


def open_private(path: str, flags: int = os.O_RDONLY) -> int:
    """An fd of path, a regular file of ours that nobody else can write; never through a
    symlink, never blocking (a FIFO). With O_CREAT a new file is made mode 0600."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    return _checked(fd, path)


def read_bounded(fd: int, limit: int) -> bytes:
    """What fd holds, but never more than limit + 1 bytes (more than limit: too large)."""
    chunks = []
    total = 0
    while total <= limit:  # a file may grow while we read it
        data = os.read(fd, limit + 1 - total)
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def read_private(path: str, limit: int = 1 << 20) -> bytes:
    """The bytes of a private file (see open_private); UnsafePathError when it is larger
    than limit (nothing of ours is). The folder's safety is the caller's (private_dir)."""
    fd = open_private(path)
    try:
        data = read_bounded(fd, limit)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnsafePathError(f"{path} is larger than {limit} bytes")
    return data


def write_private(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace path with data, atomically: written to a new file (O_EXCL, never through a
    planted symlink) with exactly mode (0600 by default, whatever the umask), then renamed.
    For a private file the folder must be private already (private_dir)."""
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, mode & 0o777)  # exact, whatever the umask
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

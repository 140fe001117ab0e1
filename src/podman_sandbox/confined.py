"""Files under /workspace, read and written from the host, confined to the project folder.

/workspace is the project folder's bind mount, so the API and the MCP server
read and write it on the host side, as the user. Code inside the sandbox can
change that folder at any moment, and is an adversary: it can plant a
symlink to ~/.ssh, swap a folder for a symlink between our check and our
open, or put a FIFO or a device node where a file was. So a path is never
resolved by the kernel in one go:

- the path is taken apart first: relative, or absolute under /workspace;
  `..` and NUL are refused; nothing else is interpreted;
- each folder on the way is opened relative to the one before
  (openat(2) with O_NOFOLLOW | O_DIRECTORY): a symlink anywhere fails the
  open itself, so swapping one in after a check changes nothing;
- the last component is opened with O_PATH | O_NOFOLLOW (no side effect,
  even on a FIFO or a device), checked to be a regular file with fstat,
  and only then reopened through /proc/self/fd for reading or writing:
  the very inode that was checked. A new file is made with O_CREAT | O_EXCL
  | O_NOFOLLOW. A file with other hard links is not written (defence in
  depth: from inside, link(2) across the bind mount fails with EXDEV).

Symlinks are never followed, not even ones that point inside: a symlink's
target means something else in the sandbox than on the host. `list` shows
them as symlinks. Extra mounts over paths under /workspace are not seen
here: this is the project folder on the host.

Standard library only, cheap: the API imports it.
"""

from __future__ import annotations

import errno
import os
import stat

from podman_sandbox.errors import SandboxError, WorkspacePathError
from podman_sandbox.locate import WORKSPACE

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 16


def components(path: str) -> list[str]:
    """path's components under /workspace ([] for /workspace itself); refused when it
    could lead elsewhere."""
    if not isinstance(path, str):
        raise WorkspacePathError(f"a path must be a string, not {type(path).__name__}")
    if "\0" in path:
        raise WorkspacePathError(f"refusing {path!r}: a path cannot hold a NUL byte")
    rest = path
    if path.startswith("/"):
        if path != WORKSPACE and not path.startswith(WORKSPACE + "/"):
            raise WorkspacePathError(f"refusing {path}: only paths under {WORKSPACE} can be used "
                                     f"(relative paths are taken from {WORKSPACE})")
        rest = path[len(WORKSPACE):]
    parts = [p for p in rest.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise WorkspacePathError(f"refusing {path}: '..' is not allowed in a path")
    return parts


def workdir(cwd: str | None, default: str) -> str:
    """The working directory in the sandbox for cwd (relative to /workspace, or under it)."""
    if cwd is None:
        return default
    parts = components(cwd)
    return "/".join([WORKSPACE, *parts])


def _shown(parts: list[str]) -> str:
    return "/".join([WORKSPACE, *parts])


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _refuse_link(dir_fd: int, name: str, parts: list[str], exc: OSError) -> None:
    """Turn a failed open into a clear error: a symlink (refused), missing, not a folder."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise SandboxError(f"{_shown(parts)}: no such file or folder") from None
    except OSError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise WorkspacePathError(f"refusing {_shown(parts)}: it is a symlink, and symlinks are "
                                 "not followed (they could lead out of /workspace)") from None
    if st is not None and not stat.S_ISDIR(st.st_mode) and exc.errno == errno.ENOTDIR:
        raise SandboxError(f"{_shown(parts)}: not a folder") from None
    raise SandboxError(f"{_shown(parts)}: {exc.strerror}") from None


def _open_dir(root: str, parts: list[str], *, create: bool = False) -> int:
    """An fd of the folder root/parts, opened one component at a time, never through a
    symlink. create: make missing folders (0777 & ~umask)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, name in enumerate(parts):
            try:
                nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise SandboxError(f"{_shown(parts[:i + 1])}: no such file or folder") from None
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile: the open below judges what it is
                try:
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    _refuse_link(fd, name, parts[:i + 1], exc)
            except OSError as exc:
                _refuse_link(fd, name, parts[:i + 1], exc)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_regular(dir_fd: int, name: str, parts: list[str], flags: int) -> int:
    """Reopen name (in dir_fd) with flags, only if it is a regular file, never through a
    symlink: O_PATH first (no side effect on a FIFO or device), then the checked inode."""
    try:
        pfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        raise SandboxError(f"{_shown(parts)}: no such file") from None
    try:
        st = os.fstat(pfd)
        if stat.S_ISLNK(st.st_mode):
            raise WorkspacePathError(f"refusing {_shown(parts)}: it is a symlink, and symlinks "
                                     "are not followed (they could lead out of /workspace)")
        if stat.S_ISDIR(st.st_mode):
            raise SandboxError(f"{_shown(parts)}: is a folder")
        if not stat.S_ISREG(st.st_mode):
            raise WorkspacePathError(f"refusing {_shown(parts)}: not a regular file")
        if flags & os.O_WRONLY and st.st_nlink > 1:
            raise WorkspacePathError(f"refusing to write {_shown(parts)}: it has other hard "
                                     "links, which may be outside /workspace")
        return os.open(f"/proc/self/fd/{pfd}", flags | os.O_CLOEXEC)
    finally:
        os.close(pfd)


def _in_folder_of(root: str, path: str, act):
    """act(folder fd, name, parts) on the last component of path, in its folder reached
    one component at a time without following a link."""
    parts = components(path)
    if not parts:
        raise SandboxError(f"{WORKSPACE}: is a folder")
    dfd = _open_dir(root, parts[:-1])
    try:
        return act(dfd, parts[-1], parts)
    finally:
        os.close(dfd)


def _open_file(root: str, path: str) -> int:
    """A read descriptor of the regular file at path, reached without following a link."""
    return _in_folder_of(root, path, lambda dfd, name, parts: _open_regular(dfd, name, parts, os.O_RDONLY))


def _read_link(root: str, path: str) -> str:
    return _in_folder_of(root, path, lambda dfd, name, parts: os.readlink(name, dir_fd=dfd))


def _read(root: str, path: str, max_bytes: int | None = None) -> bytes:
    """The bytes of the file at path (at most max_bytes: the start of a larger file)."""
    fd = _open_file(root, path)
    chunks, size = [], 0
    with os.fdopen(fd, "rb", buffering=0) as fh:
        while max_bytes is None or size < max_bytes:
            chunk = fh.read(CHUNK if max_bytes is None else min(CHUNK, max_bytes - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks)


def _write(root: str, path: str, data: bytes, *, parents: bool = True) -> int:
    """Write data to the file at path (made 0666 & ~umask when new, else truncated);
    parents: make missing folders. Returns the bytes written."""
    parts = components(path)
    if not parts:
        raise SandboxError(f"{WORKSPACE}: is a folder")
    dfd = _open_dir(root, parts[:-1], create=parents)
    try:
        try:
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o666, dir_fd=dfd)
        except FileExistsError:
            fd = _open_regular(dfd, parts[-1], parts, os.O_WRONLY | os.O_TRUNC)
    finally:
        os.close(dfd)
    with os.fdopen(fd, "wb", buffering=0) as fh:
        view = memoryview(data)
        while view:
            view = view[fh.write(view):]
    return len(data)


def _listing(root: str, path: str = "") -> list[dict[str, object]]:
    """The entries of the folder at path: {"name", "kind" (file, dir, symlink, other),
    "size"}, sorted by name; symlinks are listed, never followed."""
    parts = components(path)
    dfd = _open_dir(root, parts)
    entries: list[dict[str, object]] = []
    try:
        with os.scandir(dfd) as found:
            for entry in found:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone meanwhile
                entries.append({"name": entry.name, "kind": _kind(st.st_mode),
                                "size": st.st_size if stat.S_ISREG(st.st_mode) else None})
    finally:
        os.close(dfd)
    return sorted(entries, key=lambda e: str(e["name"]))



def _told(path: str, exc: OSError) -> SandboxError:
    """An OSError (the folder removed under us, a full disk...) as one line."""
    return SandboxError(f"{path}: {exc.strerror or exc}")


def open_file(root: str, path: str) -> int:
    """A read descriptor of the regular file at path: every folder on the way opened
    without following a symlink, the file itself checked before it is opened (see the
    module's notes); SandboxError when it is not a regular file reached so."""
    try:
        return _open_file(root, path)
    except OSError as exc:
        raise _told(path, exc) from None


def read_link(root: str, path: str) -> str:
    """The target of the symlink at path (never followed), every folder on the way opened
    without following a link; SandboxError when path is not a link reached so."""
    try:
        return _read_link(root, path)
    except OSError as exc:
        raise _told(path, exc) from None


def read(root: str, path: str, max_bytes: int | None = None) -> bytes:
    """The bytes of the file at path (at most max_bytes: the start of a larger file)."""
    try:
        return _read(root, path, max_bytes)
    except OSError as exc:
        raise _told(path, exc) from None


def write(root: str, path: str, data: bytes, *, parents: bool = True) -> int:
    """Write data to the file at path (made 0666 & ~umask when new, else truncated);
    parents: make missing folders. Returns the bytes written."""
    try:
        return _write(root, path, data, parents=parents)
    except OSError as exc:
        raise _told(path, exc) from None


def listing(root: str, path: str = "") -> list[dict[str, object]]:
    """The entries of the folder at path: {"name", "kind" (file, dir, symlink, other),
    "size"}, sorted by name; symlinks are listed, never followed."""
    try:
        return _listing(root, path)
    except OSError as exc:
        raise _told(path, exc) from None

"""The workspace of a Pod: the project in as a tar stream, and back out of it.

In: pack() is the project as `tar x` in the Pod reads it on stdin (the kube
backend sends it over the exec websocket; the kube play test through `podman
exec -i`, the same bytes). It takes what the project's own rule takes for a
folder (engine/inputs.py: the .gitignore, never .git/), regular files and
symlinks (as links, never followed), with the permission bits less setuid,
setgid and sticky, and no owner (`tar -o`: the files are the Pod user's).

Out: unpack() reads `tar c` of the Pod's /workspace into a folder that must not
exist yet. What the Pod sends is the sandbox's: only folders and regular files
are written, each name checked (no absolute path, no '..'), never a symlink,
hard link or device, so nothing can lead a write outside the folder.

Standard library only.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import IO, Any, Iterator

from podman_sandbox import confined
from podman_sandbox.engine import inputs
from podman_sandbox.errors import SandboxError
from podman_sandbox.locate import WORKSPACE

# GNU tar and busybox tar both read these; -o on extraction: do not restore owners.
FILL_ARGV = ("tar", "-x", "-o", "-f", "-", "-C", WORKSPACE)
READ_ARGV = ("tar", "-c", "-f", "-", "-C", WORKSPACE, ".")
CHUNK = 1 << 16
_MODE_BITS = 0o777  # no setuid, setgid or sticky bit travels either way


class _Chunks:
    """A write-only file for tarfile's stream mode; the caller takes what was written."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


class _Exactly:
    """size bytes of an open file: a file that shrank while it was read is padded with
    zeros, one that grew is cut (the sandbox may write the project meanwhile)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.left = fd, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = os.read(self.fd, n) if n else b""
        data += b"\0" * (n - len(data))
        self.left -= n
        return data


def entries(project_dir: str):
    """What goes into the Pod: the project's files as the folder rule takes them."""
    try:
        # boundary "/": a symlink is sent as a link, whatever it names (nothing follows it).
        found, _ = inputs.select(project_dir, ("",), boundary="/")
    except inputs.InputError as exc:
        raise SandboxError(f"cannot copy the project into the Pod: {exc}") from None
    return [e for e in found if e.kind in ("f", "l")]


def pack(project_dir: str) -> Iterator[bytes]:
    """The project as one tar stream, in pieces of about CHUNK bytes."""
    sink = _Chunks()
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for entry in entries(project_dir):
            info = tarfile.TarInfo(entry.rel)
            info.mtime = int(entry.st.st_mtime)
            info.mode = entry.st.st_mode & _MODE_BITS
            # Code in a local sandbox of the project can swap a folder on the way for a
            # link after the walk: no component is followed (confined.py).
            if entry.kind == "l":
                try:
                    info.type, info.linkname = tarfile.SYMTYPE, confined.read_link(project_dir, entry.rel)
                except SandboxError:
                    continue  # gone, or reached through a link, since the walk
                tar.addfile(info)
            else:
                try:
                    fd = confined.open_file(project_dir, entry.rel)
                except SandboxError:
                    continue  # gone, or replaced by a link or a non-file, since the walk
                try:
                    st = os.fstat(fd)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    info.size = st.st_size
                    tar.addfile(info, _Exactly(fd, st.st_size))
                finally:
                    os.close(fd)
            if sum(map(len, sink.parts)) >= CHUNK:
                yield sink.take()
    yield sink.take()


class _Reader:
    """A readable file over an iterator of byte chunks (tarfile's stream mode reads it)."""

    def __init__(self, chunks) -> None:
        self.chunks, self.buffer = iter(chunks), b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buffer) < n:
            more = next(self.chunks, None)
            if more is None:
                break
            self.buffer += more
        if n < 0:
            n = len(self.buffer)
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data


def _safe_name(name: str) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts or not parts:
        return None
    if any(any(ord(ch) < 32 for ch in p) for p in parts):
        return None
    return "/".join(parts)


def unpack(source: IO[bytes] | Iterator[bytes], dest: str) -> dict:
    """The tar stream of the Pod's /workspace into dest (made here; must not exist).
    Returns {"files", "folders", "skipped": [names]}.

    Everything is written through a descriptor of the folder made here, never through
    the name dest again: whoever can write dest's parent (another local user, when it
    is theirs) could swap dest for a link between the mkdir and the writes."""
    os.mkdir(dest, 0o700)
    root = _open_made_folder(dest)
    skipped: list[str] = []
    stream: Any = source if hasattr(source, "read") else _Reader(source)
    try:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|")
        except tarfile.ReadError as exc:
            raise SandboxError(f"the Pod's workspace did not arrive as a tar stream: {exc}") from None
        try:
            files, folders = _unpack_members(tar, root, skipped)
        except tarfile.TarError as exc:
            raise SandboxError(f"the Pod's workspace stream broke off ({exc}); what came is in "
                               f"{dest}") from None
        _still_there(dest, root)
    finally:
        os.close(root)
    return {"files": files, "folders": folders, "skipped": skipped}


def _open_made_folder(dest: str) -> int:
    """A descriptor of the folder os.mkdir just made at dest: refused when a link or a
    folder not ours stands there now."""
    try:
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SandboxError(f"{dest} was replaced right after it was made ({exc.strerror}): "
                           "nothing was written", hint=_SWAP_HINT) from None
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
        os.close(fd)
        raise SandboxError(f"{dest} was replaced right after it was made (by a folder not "
                           "made here): nothing was written", hint=_SWAP_HINT)
    return fd


def _still_there(dest: str, root: int) -> None:
    """dest is still the folder the files went into (else say where they are not)."""
    try:
        now = os.stat(dest, follow_symlinks=False)
    except OSError:
        now = None
    made = os.fstat(root)
    if now is None or (now.st_dev, now.st_ino) != (made.st_dev, made.st_ino):
        raise SandboxError(f"{dest} was moved or replaced while the Pod's files were written: "
                           "they are not there (nothing went through what replaced it)",
                           hint=_SWAP_HINT)


_SWAP_HINT = ("someone else can change the folder it is in: pull into a folder of your own, "
              "e.g. under your home folder")


def _makedirs_at(root: int, rel: str) -> None:
    """rel and the folders above it, under the folder root; each must be a folder.
    Nothing but folders and regular files is ever made under root, and root is
    private: a name below it cannot be a link."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        try:
            os.mkdir(prefix, 0o755, dir_fd=root)
        except FileExistsError:
            if not stat.S_ISDIR(os.stat(prefix, dir_fd=root, follow_symlinks=False).st_mode):
                raise


def _unpack_members(tar, root: int, skipped: list[str]) -> tuple[int, int]:
    files = folders = 0
    with tar:
        for member in tar:
            rel = _safe_name(member.name)
            if rel is None or not (member.isdir() or member.isreg()):
                if rel is not None or member.name not in (".", "./"):
                    skipped.append(member.name)
                continue
            # O_EXCL | O_NOFOLLOW: a name sent twice fails; a folder where a file was
            # (or the reverse) fails too: either is left out, never a traceback.
            try:
                parent = os.path.dirname(rel)
                if parent:
                    _makedirs_at(root, parent)
                if member.isdir():
                    _makedirs_at(root, rel)
                    folders += 1
                    continue
                fd = os.open(rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             (member.mode & _MODE_BITS) | stat.S_IRUSR | stat.S_IWUSR, dir_fd=root)
            except OSError:
                skipped.append(member.name)
                continue
            with os.fdopen(fd, "wb") as out:
                data = tar.extractfile(member)
                while data is not None:
                    piece = data.read(CHUNK)
                    if not piece:
                        break
                    out.write(piece)
            files += 1
    return files, folders

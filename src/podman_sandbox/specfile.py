"""Reading a sandbox.yaml or config.json: regular files of bounded size only.

sandbox.yaml sits in /workspace, which the sandboxed code can write: it can
grow the file to 16 GiB (sparse, so it costs no disk) or swap it for a FIFO,
and the host-side `execute` must neither read all of it nor wait forever.
So every read of a spec file goes through read_spec_file: opened without
blocking (a FIFO opens at once), checked with fstat before reading, and read
at most MAX_SPEC_BYTES + 1 bytes.

Standard library only: the fast path keys its record by the spec's bytes.
"""

from __future__ import annotations

import errno
import os
import stat

from podman_sandbox.private import read_bounded

MAX_SPEC_BYTES = 1 << 20  # 1 MiB: far above any real spec (documented in the README)


class SpecFileError(OSError):
    """A spec file that must not be read (too large, not a regular file); strerror says why."""


def _too_large() -> SpecFileError:
    return SpecFileError(errno.EFBIG, f"too large (a spec file may hold at most {MAX_SPEC_BYTES >> 20} MiB)")


def read_spec_file(path: str) -> bytes:
    """The bytes of the spec file at path (symlinks followed: the user's own links work).

    Raises FileNotFoundError, IsADirectoryError, SpecFileError or another OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", path)
        if not stat.S_ISREG(st.st_mode):
            raise SpecFileError(errno.EINVAL, "not a regular file (a FIFO, a device, ...)")
        if st.st_size > MAX_SPEC_BYTES:
            raise _too_large()
        data = read_bounded(fd, MAX_SPEC_BYTES)
        if len(data) > MAX_SPEC_BYTES:
            raise _too_large()
        return data
    finally:
        os.close(fd)

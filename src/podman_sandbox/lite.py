"""Cheap stand-ins for standard-library modules whose imports cost every start
milliseconds: sha256 without hashlib (which loads OpenSSL), which() without shutil
(which loads fnmatch, bz2 and lzma), signals without the signal module (which loads
enum: ~5 ms). Same results; the fast path and the steps a full-path command takes
before it asks Podman anything use these."""

from __future__ import annotations

import os

try:  # the builtin sha256 is hashlib's, byte for byte
    from _sha2 import sha256  # type: ignore[import-not-found]  # Python >= 3.12; builtin, no stub
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # Python <= 3.11; builtin, no stub
    except ImportError:
        from hashlib import sha256

# signal.py wraps _signal, turning its numbers into enums: the same functions, with plain
# ints for signals and handlers (a handler gets the number either way). Never pass the
# signal module's enums to these, nor use .name on their constants (mypy reads signal's
# stubs, which type them as enums).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as signals
else:
    import _signal as signals

__all__ = ["sha256", "signals", "which"]


def which(name: str) -> str | None:
    """shutil.which(name), but never from a relative PATH entry: a name with a / is that
    file; else the first match in an absolute PATH folder. An empty entry, or an empty
    PATH, would mean the current folder, usually the project, which the sandbox writes:
    a `podman` it dropped there must never run on the host."""
    if os.sep in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not os.path.isabs(folder):
            continue
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None

"""The fast-path record: "this spec file, as it is now, is served by that running container".

Written after every successful converge; read by `execute` before anything
else. A record is trusted only while the container's init process is alive
with the same start time, so a container stopped, removed or re-created
behind our back makes the record stale and `execute` takes the full path.
The spec file's bytes are part of the key, so editing sandbox.yaml (or the
user config) invalidates it without parsing anything.

Standard library only: this is the hot path.
"""

from __future__ import annotations

import hashlib
import json
import os

from podman_sandbox import paths

# Environment that changes which Podman (and storage) we talk to.
_PODMAN_ENV = ("CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINERS_CONF",
               "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF")


def record_key(spec_path: str, project_dir: str) -> str:
    try:
        with open(spec_path, "rb") as fh:
            content = fh.read()
    except OSError:
        content = b"<absent>"
    h = hashlib.sha256()
    for part in (spec_path, project_dir, str(os.getuid()),
                 *(os.environ.get(v, "") for v in _PODMAN_ENV)):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(content)
    return h.hexdigest()


def _path(key: str) -> str:
    return os.path.join(paths.cache_dir(), "records", key[:32] + ".json")


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: distinguishes a live process from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else None


def read(key: str) -> dict | None:
    """The record for key when its container is still running, else None."""
    try:
        with open(_path(key), "r", encoding="utf-8") as fh:
            rec = json.load(fh)
        pid = int(rec["pid"])
        if not rec.get("container") or pid <= 0:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if process_start_time(pid) != rec.get("starttime"):
        return None
    return rec


def write(key: str, *, container: str, container_id: str, pid: int, spec_hash: str,
          memory: int | None) -> None:
    rec = {"container": container, "id": container_id, "pid": pid,
           "starttime": process_start_time(pid), "hash": spec_hash, "memory": memory}
    path = _path(key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(rec, fh)
    os.replace(tmp, path)


def forget(key: str) -> None:
    try:
        os.unlink(_path(key))
    except OSError:
        pass

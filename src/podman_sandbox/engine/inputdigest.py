"""The content digest of a set of inputs (engine/inputs.py), cheap when little changed.

Each file's digest is its content's sha256 and its permission bits (a symlink:
its target text). The set's digest covers every entry's path and digest, as a
Containerfile's COPY is keyed in Podman's build cache: a `touch` changes
nothing, an edit or a chmod does.

Hashing reads only what changed: a private cache (private.py; no other user
and nothing in the sandbox can plant a stale hash there) maps each path to
the stat data it had when hashed. An entry whose ctime is less than
RACY_SECONDS old is not cached: a write within the same clock tick would
leave every stat field as it was (any later write changes the ctime). The cache also keeps the last few manifests (path -> digest),
so `plan` can name the files that changed since the sandbox was made.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field

from podman_sandbox import paths, private
from podman_sandbox.engine import inputs

RACY_SECONDS = 2
KEEP_MANIFESTS = 8


@dataclass(frozen=True)
class Digest:
    digest: str  # sha256 hex of every entry's path and digest
    signature: str  # inputs.signature_of: what the fast path compares
    files: dict = field(default_factory=dict, compare=False)  # rel -> entry digest


def _cache_path(name: str) -> str:
    folder = private.private_dir(os.path.join(paths.cache_dir(), "inputs"), top=paths.cache_dir())
    return os.path.join(folder, hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
                        + ".json")


def _load(name: str) -> dict:
    try:
        data = json.loads(private.read_private(_cache_path(name), limit=64 << 20))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("name") == name else {}


def _store(name: str, data: dict) -> None:
    try:
        private.write_private(_cache_path(name), json.dumps(data).encode("utf-8", "surrogateescape"))
    except (OSError, ValueError):
        pass  # a cache we cannot write only costs speed


def _hash_file(path: str, st) -> str:
    """Content and permission bits of the regular file st describes; opened without
    following a symlink, and only if it still is that file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
            raise inputs.InputError(f"{path} changed while it was being read; run the command again")
        h = hashlib.sha256()
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            h.update(chunk)
    finally:
        os.close(fd)
    return f"f{stat.S_IMODE(st.st_mode):o}:{h.hexdigest()}"


def _entry_digest(root: str, entry) -> str:
    full = os.path.join(root, entry.rel)
    if entry.kind == "f":
        return _hash_file(full, entry.st)
    if entry.kind == "l":
        return "l:" + os.readlink(full)
    if entry.kind == "o":
        return f"o{stat.S_IFMT(entry.st.st_mode):o}"
    return "m"


def digest(root: str, includes, *, cache_name: str, **select) -> Digest:
    """The Digest of what includes name under root (inputs.select's keywords). Raises
    inputs.InputError for an input that escapes or cannot be read."""
    entries, ignore_st = inputs.select(root, includes, **select)
    cache = _load(cache_name)
    files_cached = cache.get("files")
    known = files_cached if isinstance(files_cached, dict) else {}
    fresh_after = (time.time() - RACY_SECONDS) * 1e9
    files, cached = {}, {}
    for entry in entries:
        line = inputs._stat_line(entry.st)
        old = known.get(entry.rel)
        if isinstance(old, list) and len(old) == 2 and old[0] == line and entry.kind != "m":
            files[entry.rel] = old[1]
        else:
            try:
                files[entry.rel] = _entry_digest(root, entry)
            except OSError as exc:
                raise inputs.InputError(f"cannot read input {entry.rel}: {exc.strerror}") from None
        if entry.st is not None and entry.st.st_ctime_ns < fresh_after:
            cached[entry.rel] = [line, files[entry.rel]]
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode("utf-8", "surrogateescape"))
    result = Digest(h.hexdigest(), inputs.signature_of(entries, ignore_st), files)
    manifests = dict(cache["manifests"]) if isinstance(cache.get("manifests"), dict) else {}
    newest = list(manifests)[-1:] == [result.digest]
    manifests.pop(result.digest, None)
    manifests[result.digest] = files  # newest last
    manifests = dict(list(manifests.items())[-KEEP_MANIFESTS:])
    if cached != known or not newest:
        _store(cache_name, {"name": cache_name, "files": cached, "manifests": manifests})
    return result


def previous(cache_name: str, digest: str) -> str | None:
    """The digest hashed before digest (the last different one the cache keeps)."""
    order = list(_load(cache_name).get("manifests") or {})
    if digest in order:
        order.remove(digest)
    return order[-1] if order else None


def changed_files(cache_name: str, old: str | None, new: str) -> list[str] | None:
    """The paths whose digest differs between two digests of cache_name; None: unknown."""
    manifests = _load(cache_name).get("manifests") or {}
    before, after = manifests.get(old or ""), manifests.get(new)
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))

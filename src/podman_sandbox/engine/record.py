"""The fast-path record: "this spec file, as it is now, is served by that container".

Written after every successful converge (engine/apply.py); read by `execute`
before anything else (fastpath.py). What a record may be trusted for:

- Its key covers everything the desired state is computed from without
  parsing anything: the spec file's bytes, its path and the project folder,
  the package version (a new version may build another desired state), and
  the environment that changes which Podman we talk to or how paths resolve
  (uid, HOME, CONTAINER_HOST, CONTAINERS_CONF, ...). Editing sandbox.yaml,
  the user config or any of these makes the key different: no record, full
  path.
- It names the container by id and notes its init process (pid and start
  time from /proc) and the limits its cgroup enforced (memory, swap, CPU
  quota, pids). A record serves a *running* container only while that same
  process is alive and the cgroup still enforces the same limits: a
  container stopped, removed or re-created behind our back, or a
  `podman update` we did not make, makes it stale.
- Only one record names a container: writing one removes the others for the
  same container, so reverting an edit after a live update can never find
  an old record whose limits the container no longer has.

Records are private files (private.py): made 0600 in a folder only we can
use, and one that is not ours, is writable by others or sits in a folder
another user could change is never read (the full path runs instead).

A record whose process is gone still says which container served the spec:
`execute` may start that very container (by id, never by name) and must then
find the same limits again, or fall back to the full path (fastpath.py).

A record written when the converge found the container in sync also notes
the spec's image and its id: a plain `apply` then confirms "nothing to
change" with the one `podman inspect` the full path makes (same container id
and process, the image name still pointing at the image it was made from).

What a record alone does not see: a new image under the same tag. `apply`,
`plan`, `start` and `status` compare image ids; a fast `execute` keeps using
the running container until then, as `podman exec` would.

Standard library only, and only cheap modules: this is the hot path.
"""

from __future__ import annotations

import os

from podman_sandbox import __version__, paths, private
from podman_sandbox.lite import sha256
from podman_sandbox.engine.cgroup import cgroup_dirs, read_value
from podman_sandbox.specfile import read_spec_file


FORMAT = "podman-sandbox-record 2"
UNREADABLE = "unreadable"  # the key of a spec file that cannot be read: no record has it

# Environment that changes which Podman (and storage) we talk to, or how the
# spec resolves (HOME: `~` in mount sources).
_ENV = ("HOME", "CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINERS_CONF",
        "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "XDG_RUNTIME_DIR",
        "XDG_DATA_HOME", "XDG_CONFIG_HOME")

_FIELDS = ("key", "container", "id", "pid", "starttime", "limits", "hash", "memory", "pidfile",
           "image", "base", "insync", "links", "watch", "watchsig")
# watch: the setup inputs and build context the desired state was computed from
# (engine/inputs.watch_text); watchsig: their stat signature then. The spec file's bytes
# do not show an edit of requirements.txt: a record serves only while that signature holds.
# links: "SOURCE\x1fREAL" per extra mount, tab-separated: the desired state holds the real
# path (engine/mountcheck.py), so a record serves only while each source resolves as then.
_LINK, _LINKS = "\x1f", "\t"

# Files that hold the limits `podman update` can change, per cgroup version.
_V1_FILES = (("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
             ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"), ("pids", "pids.max"))
_V2_FILES = ("memory.max", "memory.swap.max", "cpu.max", "pids.max")


def record_key(spec_path: str, project_dir: str, instance: str = "") -> str:
    """The key of the spec file as it is on disk now (its bytes included). A file that
    cannot be read (too large, a FIFO, ...) gets a key no record has: the full path says why.
    instance: an instance's records are its own (never the plain sandbox's, nor another's)."""
    try:
        content = read_spec_file(spec_path)
    except FileNotFoundError:
        content = None
    except OSError:
        return UNREADABLE
    return key_for(spec_path, project_dir, content, instance)


def key_for(spec_path: str, project_dir: str, content: bytes | None, instance: str = "") -> str:
    h = sha256()
    if instance:  # only then: the plain sandbox's keys stay as they were
        h.update(b"instance\0" + instance.encode("utf-8", "surrogateescape") + b"\0")
    for part in (FORMAT, __version__, spec_path, project_dir, str(os.getuid()),
                 *(os.environ.get(v, "") for v in _ENV)):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(b"absent" if content is None else b"file\0" + content)
    return h.hexdigest()


def _dir() -> str:
    """The records folder, private (made so when needed); UnsafePathError when it cannot be."""
    return private.private_dir(os.path.join(paths.cache_dir(), "records"), top=paths.cache_dir())


def _path(key: str) -> str:
    return os.path.join(_dir(), key[:32] + ".rec")  # OSError: no safe folder, no record


# --- the process and its cgroup, from /proc and /sys (no Podman call) -----------------

def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc/PID/stat; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    if len(fields) < 20:
        return None
    return fields[0].decode(), fields[19].decode()


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: tells a live process from a reused pid."""
    st = _stat(pid)
    return st[1] if st else None


def _alive_since(pid: int) -> str | None:
    """The start time of pid when it is running (not a zombie, not gone)."""
    st = _stat(pid)
    if st is None or st[0] in ("Z", "X", "x"):
        return None
    return st[1]


def limits(pid: int) -> str | None:
    """The limits the cgroup of pid enforces, as one comparable string; None: no such process."""
    dirs = cgroup_dirs(pid)
    if dirs is None:
        return None
    if any(c in dirs for c in ("memory", "cpu", "pids")):
        values = [(read_value(os.path.join(dirs[c], f)) if c in dirs else None) or "-" for c, f in _V1_FILES]
    elif "" in dirs:
        values = [read_value(os.path.join(dirs[""], f)) or "-" for f in _V2_FILES]
    else:
        values = []
    return ";".join(values)


# --- records ------------------------------------------------------------------------

def _load(path: str) -> dict | None:
    try:
        lines = private.read_private(path, limit=65536).decode("utf-8", "surrogateescape").split("\n")
    except OSError:  # missing, or not a private file of ours: never trusted
        return None
    if not lines or lines[0] != FORMAT:
        return None
    rec: dict = {}
    for line in lines[1:]:
        name, sep, value = line.partition(" ")
        if sep and name in _FIELDS:
            rec[name] = value
    try:
        rec["pid"] = int(rec["pid"])
        rec["memory"] = int(rec["memory"]) if rec.get("memory") not in (None, "", "-") else None
    except (KeyError, ValueError):
        return None
    if rec["pid"] <= 0 or not rec.get("container") or not rec.get("id") or "key" not in rec:
        return None
    return rec


def lookup(key: str) -> dict | None:
    """The record for key, whether or not its container still runs (see read())."""
    if key == UNREADABLE:
        return None
    try:
        rec = _load(_path(key))
    except OSError:
        return None
    if rec is None or rec["key"] != key:
        return None
    for source, real in _links(rec):
        if os.path.realpath(source) != real:
            return None  # a mount source points elsewhere now: the full path decides
    if rec.get("watch"):
        from podman_sandbox.engine import inputs  # only for specs with inputs or build

        if inputs.watch_signature(rec["watch"]) != rec.get("watchsig"):
            return None  # an input changed (or cannot be read): the full path decides
    return rec


def _links(rec: dict) -> tuple[tuple[str, str], ...]:
    """The record's (source, real path) per extra mount, as write() took them."""
    return tuple(tuple(pair.partition(_LINK)[::2])
                 for pair in filter(None, rec.get("links", "").split(_LINKS)))


def is_live(rec: dict) -> bool:
    """The record's container process is the one it noted, and enforces the same limits."""
    pid = rec["pid"]
    if _alive_since(pid) != rec.get("starttime"):
        return False
    return limits(pid) == rec.get("limits")


def write(key: str, *, container: str, container_id: str, pid: int, spec_hash: str,
          memory: int | None, pid_file: str | None = None, image: str | None = None,
          base_id: str | None = None, in_sync: bool = False,
          links: tuple[tuple[str, str], ...] = (), watch: str = "", watchsig: str = "") -> None:
    """Note that container (running, init process pid) serves the spec of key.

    image and base_id: the spec's image and the id it had; in_sync: the
    converge found the container in sync with the spec (then `apply` may
    confirm that with one podman inspect, see fastpath.py).
    Every other record naming the same container goes first: the container
    may no longer be what they describe.
    """
    starttime = _alive_since(pid)
    found = limits(pid)
    values = {"key": key, "container": container, "id": container_id, "pid": str(int(pid)),
              "starttime": starttime, "limits": found, "hash": spec_hash,
              "memory": "-" if memory is None else str(int(memory)), "pidfile": pid_file or "",
              "image": image or "", "base": base_id or "",
              "insync": "1" if in_sync and image and base_id else "0",
              "links": _LINKS.join(f"{s}{_LINK}{r}" for s, r in links),
              "watch": watch, "watchsig": watchsig}
    forget_container(container, keep=key)
    if key == UNREADABLE or starttime is None or found is None or not container_id or \
            any(v is None or "\n" in v for v in values.values()):
        forget(key)  # nothing trustworthy to note
        return
    text = FORMAT + "\n" + "".join(f"{name} {values[name]}\n" for name in _FIELDS)
    try:
        private.write_private(_path(key), text.encode("utf-8", "surrogateescape"))
    except OSError:  # a record we cannot write only costs speed
        forget(key)


def restarted(rec: dict, pid: int) -> dict | None:
    """After the record's container was started again: the updated record, or None
    when the new process does not enforce the limits the record noted."""
    starttime = _alive_since(pid)
    if starttime is None or limits(pid) != rec.get("limits"):
        return None
    new = dict(rec, pid=pid, starttime=starttime)
    write(new["key"], container=new["container"], container_id=new["id"], pid=pid,
          spec_hash=new.get("hash", ""), memory=new.get("memory"), pid_file=new.get("pidfile"),
          image=new.get("image"), base_id=new.get("base"), in_sync=new.get("insync") == "1",
          # Podman's start mounts each source again: keep checking them.
          links=_links(new), watch=new.get("watch", ""), watchsig=new.get("watchsig", ""))
    return new


def forget(key: str | None) -> None:
    if not key or key == UNREADABLE:
        return
    try:
        os.unlink(_path(key))
    except OSError:
        pass


def forget_container(container: str, keep: str | None = None) -> None:
    """Remove every record that names container (except the one for keep)."""
    try:
        folder = _dir()
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if name.endswith(".json"):
            stale = True  # the first record format
        elif name.endswith(".rec"):
            rec = _load(path)
            stale = rec is None or (rec["container"] == container and rec["key"] != keep)
        else:
            continue
        if stale:
            try:
                os.unlink(path)
            except OSError:
                pass

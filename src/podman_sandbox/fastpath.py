"""`execute` and `apply` on an in-sync sandbox with the standard library alone.

People run thousands of small commands in a sandbox; each pays our start-up.
This module recognises the plain forms of `execute` (global -f/--file, then
`execute [-i] [--timeout N] [--] COMMAND`), looks up the fast-path record for
the governing spec file as it is now (engine/record.py) and:

- when the record's container still runs as recorded (same init process,
  same limits in its cgroup), hands the command to `podman exec`;
- when that container has stopped (a reboot, `podman stop`), starts that
  same container by id under the sandbox lock, checks that the new process
  enforces the recorded limits, renews the record and runs the command.

Plain `apply` with a record that says the container was in sync with this
spec confirms that with the one `podman inspect` the full path would make
(see try_apply) and says so.

Consent (trust.py) needs no check here: a record is written only by a
converge that passed it, is keyed by the spec file's bytes (an edit that adds
a grant finds no record), and `allow --revoke` forgets it.

It never imports click, yaml, jsonschema, jinja2 or deepdiff, and `execute`
keeps even the standard library to cheap modules (no hashlib, json, shutil,
uuid, dataclasses, subprocess; `apply` adds json to read the inspect):
tests/unit/test_hot_path_imports.py holds it to that. Anything else, or any
doubt, returns None and the full CLI takes over, which converges (and then
runs the command).
"""

from __future__ import annotations

import os

from podman_sandbox.engine import connection
from podman_sandbox.lite import which


def _split_globals(argv: list[str]) -> tuple[str | None, list[str]] | None:
    """(-f/--file value, the rest) when only -f/--file come before the command; else None."""
    spec_file = None
    args = list(argv)
    while args and args[0].startswith("-"):
        arg = args.pop(0)
        if arg in ("-f", "--file") and args:
            spec_file = args.pop(0)
        elif arg.startswith("--file="):
            spec_file = arg[len("--file="):]
        else:
            return None
    return spec_file, args


def _parse(argv: list[str]) -> dict | None:
    """The options of the `execute` forms we serve; None for anything else (the CLI decides)."""
    split = _split_globals(argv)
    if split is None or not split[1] or split[1][0] != "execute":
        return None
    opts: dict = {"file": split[0], "interactive": False, "timeout": None}
    args = split[1][1:]
    command = None
    while args:
        arg = args.pop(0)
        if arg == "--":
            if len(args) != 1 or command is not None:
                return None
            command = args.pop(0)
        elif arg in ("-i", "--interactive"):
            opts["interactive"] = True
        elif arg == "--timeout" and args:
            opts["timeout"] = args.pop(0)
        elif arg.startswith("--timeout="):
            opts["timeout"] = arg[len("--timeout="):]
        elif arg.startswith("-") or command is not None:
            return None
        else:
            command = arg
    if command is None:
        return None
    if opts["timeout"] is not None:
        from podman_sandbox.timeouts import parse_timeout
        try:
            opts["timeout"] = parse_timeout(opts["timeout"])
        except ValueError:
            return None  # the CLI says why (exit 2), before anything starts
    opts["command"] = command
    return opts


def _spawn_quietly(argv: list[str]) -> int:
    """Run argv (no shell) with no input and its output discarded; its exit status."""
    null = os.devnull
    actions = [(os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0)]
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    return status


def _read_pid(path: str) -> int | None:
    try:
        with open(path, "rb") as fh:
            pid = int(fh.read().strip() or b"0")
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def start_again(rec: dict, podman: str) -> dict | None:
    """Start the record's stopped container (by id) and renew the record; None: full path."""
    from podman_sandbox.engine import record

    if record.process_start_time(rec["pid"]) == rec.get("starttime"):
        return None  # still running, but its limits changed behind our back: converge
    if not rec.get("pidfile"):
        return None
    from podman_sandbox.engine.lock import sandbox_lock
    from podman_sandbox.errors import LockError

    try:
        with sandbox_lock(rec["container"], wait=0):
            now = record.lookup(rec["key"])
            if now is None or now["id"] != rec["id"]:
                return None  # a converge changed things meanwhile
            if record.is_live(now):
                return now  # someone else started it meanwhile
            if _spawn_quietly([*connection.argv(podman), "start", now["id"]]) != 0:
                return None  # gone (removed, re-created): the full path knows what to do
            pid = _read_pid(now["pidfile"])
            return record.restarted(now, pid) if pid else None
    except LockError:
        return None  # another command is working on it (or no safe lock): the full path


def _take_instance(argv: list[str]) -> tuple[str, list[str]] | None:
    """(the instance asked for, argv without --instance) as click reads them: the option
    anywhere before `--`, else PODMAN_SANDBOX_INSTANCE; "" for the plain sandbox. None
    (the CLI decides) for --workspace, a missing value or a name that is not valid."""
    from podman_sandbox import instance

    name, rest = None, []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            rest += [arg, *args]
            break
        if arg == "--instance":
            if not args:
                return None
            name = args.pop(0)
        elif arg.startswith("--instance="):
            name = arg[len("--instance="):]
        elif arg == "--workspace" or arg.startswith("--workspace="):
            return None  # making an instance: the full path
        else:
            rest.append(arg)
    if name is None:
        name = os.environ.get(instance.ENV, "")
    if name and not instance.valid_name(name):
        return None
    return name, rest


def live_record(rec: dict, podman: str) -> dict | None:
    """rec with its container running: as recorded, or the same container started
    again by id (start_again); None: the full path must converge."""
    from podman_sandbox.engine import record

    return rec if record.is_live(rec) else start_again(rec, podman)


def _record_for(spec_file: str | None, instance: str = ""):
    """(target, podman, record) for the spec as it is now; None when any is missing."""
    from podman_sandbox.engine import record
    from podman_sandbox.locate import locate

    if connection.is_remote():
        return None  # this host's /proc says nothing about a remote engine's sandbox
    try:
        target = locate(spec_file)
    except OSError:
        return None
    podman = which("podman")
    if podman is None:
        return None
    rec = record.lookup(record.record_key(target.spec_path, target.project_dir, instance))
    if rec is None:
        return None
    return target, podman, rec


def serve(argv: list[str]) -> int | None:
    """The exit code when the fast path served argv; None: the full CLI must."""
    taken = _take_instance(argv)
    if taken is None:
        return None
    instance, argv = taken
    split = _split_globals(argv)
    if split is None or not split[1]:
        return None  # another option, or no command: the CLI's
    if split[1][0] == "execute":
        return try_execute(argv, instance)
    if split[1][0] == "apply":
        return try_apply(argv, instance)
    return None


def plain_execute(argv: list[str]) -> dict | None:
    """The options of a plain `execute` form (see _parse) with "instance" added (as click
    reads --instance and PODMAN_SANDBOX_INSTANCE; "" for none); None for anything else.
    __main__ runs such a command without click when the fast path cannot serve it."""
    taken = _take_instance(argv)
    if taken is None:
        return None
    opts = _parse(taken[1])
    if opts is not None:
        opts["instance"] = taken[0]
    return opts


def try_execute(argv: list[str], instance: str = "") -> int | None:
    """instance: an instance's record only (engine/record.py keys it), its log written."""
    opts = _parse(argv)
    if opts is None:
        return None
    found = _record_for(opts["file"], instance)
    if found is None:
        return None
    target, podman, rec = found
    try:
        rec = live_record(rec, podman)
    except KeyboardInterrupt:
        return 130
    if rec is None:
        return None
    from podman_sandbox.engine import execute

    import time
    started = time.time()
    # By id: the record vouches for that container, whatever holds its name now.
    code = execute.run(rec["id"], opts["command"], workdir=target.workdir,
                       interactive=opts["interactive"], timeout=opts["timeout"],
                       init_pid=rec["pid"], memory_limit=rec.get("memory"), podman=podman)
    if instance:
        from podman_sandbox import instance as inst
        inst.append_log(inst.folder(target.project_dir, instance), started, code, opts["command"])
    return code


# --- apply with nothing to change ---------------------------------------------------

def _parse_apply(argv: list[str]) -> dict | None:
    """Plain `apply` (after -f/--file at most); None for anything else (--json, --force, -q...)."""
    split = _split_globals(argv)
    return {"file": split[0]} if split is not None and split[1] == ["apply"] else None


def _capture(argv: list[str]) -> str | None:
    """stdout of argv (no shell; stdin and stderr /dev/null); None unless it exits 0."""
    read_end, write_end = os.pipe()
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, write_end, 1),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_CLOSE, read_end)]
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    finally:
        os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as out:
        while True:
            chunk = out.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    return b"".join(chunks).decode("utf-8", "replace")


def confirms(entries: list, rec: dict, *, live: bool) -> bool:
    """In sync (engine/insync.py), from the answer to `podman inspect NAME IMAGE` (its
    entries, read by engine/answers.py) and the record of a converge that found the
    sandbox in sync: the recorded container (so its labels and creation settings are
    those found), the recorded process with the recorded limits (live: record.is_live),
    made from the image the spec's image name still points at."""
    from podman_sandbox.engine import answers, insync

    container, image = answers.sandbox_entries(rec["container"], entries)
    recorded = (container is not None and container.id == rec["id"]
                and container.pid == rec["pid"] and rec.get("insync") == "1")
    return container is not None and insync.in_sync(
        running=container.running, managed=container.managed, ours=recorded,
        same_state=recorded and live, base_id=(image or {}).get("Id") or None,
        built_from=container.built_from)


def try_apply(argv: list[str], instance: str = "") -> int | None:
    """`apply` with nothing to change: the record says the container was in sync with
    this spec; one `podman inspect` (as the full path makes) shows that it still runs
    as recorded and that the image name still points at the image it was made from.
    The limits are checked in its cgroup (record.is_live). Anything else: the full path."""
    opts = _parse_apply(argv)
    if opts is None:
        return None
    from podman_sandbox.engine import record

    found = _record_for(opts["file"], instance)
    if found is None:
        return None
    _, podman, rec = found
    if rec.get("insync") != "1" or not rec.get("image") or not rec.get("base"):
        return None
    from podman_sandbox.engine import answers
    from podman_sandbox.engine.cgroup import limits_ignored

    if limits_ignored():
        return None  # rootless on cgroup v1: the full path says which limits are not enforced
    from podman_sandbox.engine.lock import sandbox_lock
    from podman_sandbox.errors import LockError

    try:
        with sandbox_lock(rec["container"], wait=0):
            if not record.is_live(rec):
                return None
            names = [rec["container"], rec["image"]]
            out = _capture([*connection.argv(podman), *answers.inspect_argv(names)[1:]])
    except LockError:
        return None  # another command is changing it (or no safe lock): the full path
    except KeyboardInterrupt:
        return 130
    if out is None:
        return None
    from podman_sandbox.errors import SandboxError

    try:
        # Exit 0 (else out is None): an entry for each name, in order. live: is_live held
        # above, under the lock.
        if not confirms(answers.decode(out, "podman inspect"), rec, live=True):
            return None
    except SandboxError:
        return None  # an answer it cannot read, or a pod of that name: the full path says
    from podman_sandbox.output import Output

    Output().step(f"{rec['container']} is running and in sync: nothing changed")
    return 0

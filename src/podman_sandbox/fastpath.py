"""`execute` on an in-sync sandbox with the standard library alone.

People run thousands of small commands in a sandbox; each pays our start-up.
This module recognises the plain forms of `execute` (global -f/--file, then
`execute [-i] [--timeout N] [--] COMMAND`), looks up the fast-path record for
the governing spec file as it is now (engine/record.py) and:

- when the record's container still runs as recorded (same init process,
  same limits in its cgroup), hands the command to `podman exec`;
- when that container has stopped (a reboot, `podman stop`), starts that
  same container by id under the sandbox lock, checks that the new process
  enforces the recorded limits, renews the record and runs the command.

It never imports click, yaml, jsonschema, jinja2 or deepdiff, and keeps even
the standard library to cheap modules (no hashlib, json, shutil, uuid,
dataclasses, subprocess): tests/unit/test_hot_path_imports.py holds it to
that. Anything else, or any doubt, returns None and the full CLI takes over,
which converges and then runs the command.
"""

from __future__ import annotations

import os


def _parse(argv: list[str]) -> dict | None:
    """The options of the forms we serve; None for anything else (the CLI decides)."""
    opts: dict = {"file": None, "interactive": False, "timeout": None}
    args = list(argv)
    while args and args[0] != "execute":
        arg = args.pop(0)
        if arg in ("-f", "--file") and args:
            opts["file"] = args.pop(0)
        elif arg.startswith("--file="):
            opts["file"] = arg[len("--file="):]
        else:
            return None
    if not args:
        return None
    args.pop(0)
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
        try:
            opts["timeout"] = float(opts["timeout"])
        except ValueError:
            return None
        if not opts["timeout"] > 0:  # also rejects nan
            return None
    opts["command"] = command
    return opts


def which(name: str) -> str | None:
    """shutil.which without importing shutil (and fnmatch, re, bz2, lzma with it)."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or os.curdir, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


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
    from podman_sandbox.errors import LockTimeoutError

    try:
        with sandbox_lock(rec["container"], wait=0):
            now = record.lookup(rec["key"])
            if now is None or now["id"] != rec["id"]:
                return None  # a converge changed things meanwhile
            if record.is_live(now):
                return now  # someone else started it meanwhile
            if _spawn_quietly([podman, "start", now["id"]]) != 0:
                return None  # gone (removed, re-created): the full path knows what to do
            pid = _read_pid(now["pidfile"])
            return record.restarted(now, pid) if pid else None
    except LockTimeoutError:
        return None  # another command is working on it: the full path waits for it


def try_execute(argv: list[str]) -> int | None:
    opts = _parse(argv)
    if opts is None:
        return None
    from podman_sandbox.engine import record
    from podman_sandbox.locate import locate

    try:
        target = locate(opts["file"])
    except OSError:
        return None
    podman = which("podman")
    if podman is None:
        return None
    rec = record.lookup(record.record_key(target.spec_path, target.project_dir))
    if rec is None:
        return None
    if not record.is_live(rec):
        try:
            rec = start_again(rec, podman)
        except KeyboardInterrupt:
            return 130
        if rec is None:
            return None
    from podman_sandbox.engine import execute

    # By id: the record vouches for that container, whatever holds its name now.
    return execute.run(rec["id"], opts["command"], workdir=target.workdir,
                       interactive=opts["interactive"], timeout=opts["timeout"],
                       init_pid=rec["pid"], memory_limit=rec.get("memory"), podman=podman)

"""`execute` on a running, in-sync sandbox with the standard library alone.

People run thousands of small commands in a sandbox; each pays our start-up.
This module recognises the plain forms of `execute` (global -f/--file, then
`execute [-i] [--timeout N] [--] COMMAND`), finds the fast-path record for the
governing spec file as it is now (engine/record.py) and, when its container is
still alive, hands the command to `podman exec` without importing click,
yaml, jsonschema, jinja2 or deepdiff. Anything else, or any doubt, returns
None and the full CLI takes over, which converges and then runs the command.
"""

from __future__ import annotations

import os
import shutil


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
        if not opts["timeout"] > 0:
            return None
    opts["command"] = command
    return opts


def try_execute(argv: list[str]) -> int | None:
    opts = _parse(argv)
    if opts is None:
        return None
    from podman_sandbox.engine import record
    from podman_sandbox.locate import locate

    try:
        target = locate(opts["file"] or os.environ.get("PODMAN_SANDBOX_FILE"))
    except OSError:
        return None
    rec = record.read(record.record_key(target.spec_path, target.project_dir))
    podman = shutil.which("podman")
    if rec is None or podman is None:
        return None
    from podman_sandbox.engine import execute

    return execute.run(rec["container"], opts["command"], workdir=target.workdir,
                       interactive=opts["interactive"], timeout=opts["timeout"],
                       init_pid=rec["pid"], memory_limit=rec.get("memory"), podman=podman)

"""Instances: several sandboxes of one project, each with its own container, saved
states and copy of the files (--instance NAME, or PODMAN_SANDBOX_INSTANCE).

This module holds what the fast path of `execute` needs too: the instance name
rule, the container name, the instance's private folder in the user's state
directory and its command log. Standard library only, and only cheap modules.

An instance's folder, $XDG_STATE_HOME/podman-sandbox/instances/<project key>/<NAME>/,
is private (0700, private.py) and never mounted: it holds `meta.json` (where the
instance came from), `log` (every command run in it) and `workspace/` (the
worktree or copy mounted at /workspace). The sandbox can write workspace/ only.
"""

from __future__ import annotations

import os
import time

from podman_sandbox import paths, private

ENV = "PODMAN_SANDBOX_INSTANCE"
MAX_NAME = 32
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
NAME_RULE = (f"an instance name is 1 to {MAX_NAME} of a-z, 0-9, '_' and '-', "
             "starting with a letter or digit")
LOG_LIMIT = 16 << 20  # the log is read back bounded


def valid_name(name: str) -> bool:
    """Lower case only: state repositories are lower case, and sandbox/NAME must be a
    valid git branch whatever the file system (no '.', no '/')."""
    return (0 < len(name) <= MAX_NAME and name[0] not in "_-"
            and all(c in _NAME_CHARS for c in name))


def container_name(sandbox: str, name: str) -> str:
    """The instance's container: <sandbox name>--<NAME>, at most 63 characters."""
    full = f"{sandbox}--{name}"
    if len(full) <= 63:
        return full
    digest = _sha256(sandbox.encode()).hexdigest()[:8]
    return f"{sandbox[:63 - len(name) - 11]}-{digest}--{name}"


def _sha256(data: bytes):
    from podman_sandbox.engine.record import sha256  # the cheap builtin one
    return sha256(data)


def root() -> str:
    return os.path.join(paths.state_dir(), "instances")


def project_key(project_dir: str) -> str:
    """One folder per project (its real path): <folder name>-<16 hex>."""
    real = os.path.realpath(project_dir)
    base = "".join(c if c.isalnum() or c in "_.-" else "-" for c in os.path.basename(real))[:40]
    return f"{base.strip('.-') or 'root'}-{_sha256(real.encode()).hexdigest()[:16]}"


def folder(project_dir: str, name: str) -> str:
    """The instance's private folder (not made here)."""
    return os.path.join(root(), project_key(project_dir), name)


def ensure_folder(path: str) -> str:
    """path made private (0700, and every folder from the state dir down checked)."""
    return private.private_dir(path, top=paths.state_dir())


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"t": "\t", "n": "\n", "r": "\r"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def log_line(started: float, duration: float, code: int, command: str) -> str:
    """One tab-separated line: start time (UTC), duration in seconds, exit code, command."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    return f"{when}\t{duration:.3f}\t{code}\t{_escape(command)}\n"


def append_log(path: str, started: float, code: int, command: str) -> None:
    """Add a command to the instance's log. The log lives outside the sandbox, in the
    instance's private folder: code in the sandbox can neither read nor rewrite it.
    A log that cannot be written never fails the command (the folder was checked
    when the instance was made; a missing one means the instance was discarded)."""
    line = log_line(started, time.time() - started, code, command).encode("utf-8", "surrogateescape")
    try:
        fd = private.open_private(os.path.join(path, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except OSError:
        return
    try:
        os.write(fd, line)  # one write with O_APPEND: lines of parallel commands never mix
    except OSError:
        pass
    finally:
        os.close(fd)


def read_log(path: str) -> list[dict]:
    """The log's entries, oldest first."""
    try:
        data = private.read_private(os.path.join(path, "log"), limit=LOG_LIMIT)
    except FileNotFoundError:
        return []
    entries = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split("\t", 3)
        if len(parts) != 4:
            continue
        try:
            entries.append({"time": parts[0], "duration": float(parts[1]), "exit_code": int(parts[2]),
                            "command": unescape(parts[3])})
        except ValueError:
            continue
    return entries

"""Run one command in a running sandbox and pass everything through.

`podman exec` carries stdin, stdout and stderr byte for byte (we never read
them) and its exit code is the command's. What Podman alone gets wrong, and
this module adds:

- Ctrl-C / SIGTERM without a TTY kills only the podman client; the command
  keeps running in the container. We tag every exec with a unique
  environment variable, and on a signal (or --timeout) we find the tagged
  processes and their descendants from the host's /proc and end them.
- An OOM kill shows up only as exit 137 (Podman 4.3 never sets OOMKilled);
  we compare the cgroup's oom_kill counter before and after.

Standard library only: this is the hot path of `execute`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid

from podman_sandbox.engine import cgroup

EXEC_TAG = "PODMAN_SANDBOX_EXEC"
GRACE_SECONDS = 2.0
EXIT_TIMEOUT = 124
_SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def exec_argv(container: str, command: str, *, workdir: str, tag: str,
              tty: bool, podman: str = "podman") -> list[str]:
    """argv of `podman exec`: one value, one element; the command goes to sh -c in the sandbox."""
    argv = [podman, "exec", "--interactive"]
    if tty:
        argv.append("--tty")
    argv += ["--env", f"{EXEC_TAG}={tag}", "--workdir", workdir, container, "sh", "-c", "--", command]
    return argv


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def _tagged_processes(tag: str) -> set[int]:
    """Host pids whose environment carries our tag, plus all their descendants."""
    needle = f"{EXEC_TAG}={tag}".encode()
    children: dict[int, list[int]] = {}
    tagged: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            children.setdefault(ppid, []).append(pid)
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    tagged.add(pid)
        except (OSError, ValueError):
            continue
    found, todo = set(), list(tagged)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    # The podman client and conmon carry no tag, so only in-container processes match.
    found.discard(os.getpid())
    return found


def _signal_all(pids: set[int], signum: int) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            os.kill(pid, signum)
            alive.add(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return alive


def end_tagged(tag: str, container: str, first_signal: int, podman: str = "podman") -> None:
    """End the command and everything it started: first_signal, then SIGKILL after a grace."""
    pids = _signal_all(_tagged_processes(tag), first_signal)
    if not pids:
        # Host /proc was not readable for them (e.g. another user inside a rootless
        # sandbox): ask the sandbox itself.
        _end_from_inside(tag, container, first_signal, podman)
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        pids = {p for p in pids if os.path.exists(f"/proc/{p}")}
        if not pids:
            return
        time.sleep(0.05)
    _signal_all(_tagged_processes(tag) | pids, signal.SIGKILL)


def _end_from_inside(tag: str, container: str, signum: int, podman: str) -> None:
    script = (
        'for d in /proc/[0-9]*; do '
        'if grep -q "$1" "$d/environ" 2>/dev/null; then kill -"$2" "${d#/proc/}" 2>/dev/null; fi; '
        'done; sleep 1; '
        'for d in /proc/[0-9]*; do '
        'if grep -q "$1" "$d/environ" 2>/dev/null; then kill -9 "${d#/proc/}" 2>/dev/null; fi; '
        'done'
    )
    argv = [podman, "exec", container, "sh", "-c", script, "sh", f"{EXEC_TAG}={tag}", str(int(signum))]
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ))
    os.waitpid(pid, 0)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run(container: str, command: str, *, workdir: str, interactive: bool = False,
        timeout: float | None = None, init_pid: int | None = None,
        memory_limit: int | None = None, podman: str = "podman", verbose: bool = False) -> int:
    """Run command in the sandbox; return the exit code to give the user.
    verbose: show the podman exec command first (as Runner does for the others)."""
    tty = interactive and sys.stdin.isatty()
    tag = uuid.uuid4().hex
    argv = exec_argv(container, command, workdir=workdir, tag=tag, tty=tty, podman=podman)
    if verbose:
        import shlex
        sys.stderr.write("+ " + shlex.join(["podman", *argv[1:]]) + "\n")
        sys.stderr.flush()
    oom_before = cgroup.oom_kills(init_pid) if init_pid else None

    def on_signal(signum, _frame):
        raise _Stop(signum)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM)
    previous = {s: signal.signal(s, on_signal) for s in handled}
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ)
    except FileNotFoundError:
        for s, h in previous.items():
            signal.signal(s, h)
        raise
    stopped_by = None
    try:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            _, status = os.waitpid(child, 0)
        except _Stop as stop:
            signal.setitimer(signal.ITIMER_REAL, 0)
            stopped_by = stop.signum
            # SIGALRM is our timeout; end it as timeout(1) does, with SIGTERM first.
            first = signal.SIGTERM if stop.signum == signal.SIGALRM else stop.signum
            for s in handled:  # a second Ctrl-C must not leave things half done
                signal.signal(s, signal.SIG_IGN)
            end_tagged(tag, container, first, podman)
            _, status = os.waitpid(child, 0)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

    if stopped_by == signal.SIGALRM:
        sys.stderr.write(f"podman-sandbox: timed out after {timeout:g}s; "
                         "the command and everything it started were stopped\n")
        return EXIT_TIMEOUT
    if stopped_by is not None:
        return _SIGNAL_EXIT.get(stopped_by, 128 + stopped_by)
    code = _exit_code(status)
    if code == 137 and init_pid:
        oom_after = cgroup.oom_kills(init_pid)
        if oom_before is not None and oom_after is not None and oom_after > oom_before:
            from podman_sandbox.schema.sizes import format_size
            limit = f" of {format_size(memory_limit)}" if memory_limit else ""
            sys.stderr.write(f"podman-sandbox: the command ran out of memory at the sandbox's "
                             f"limit{limit} and was killed (exit 137)\n")
    return code

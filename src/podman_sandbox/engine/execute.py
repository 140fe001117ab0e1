"""Run one command in a running sandbox and pass everything through.

`podman exec` carries stdin, stdout and stderr byte for byte (we never read
them) and its exit code is the command's. What Podman alone gets wrong, and
this module adds:

- Ctrl-C / SIGTERM without a TTY kills only the podman client; the command
  keeps running in the container. We tag every exec with a unique
  environment variable, and on a signal (or --timeout) we find the tagged
  processes and their descendants from the host's /proc and end them.
- An OOM kill shows up only as exit 137 (OOMKilled stays false on cgroup v1,
  Podman 4.3 and 5.4 alike);
  we compare the cgroup's oom_kill counter before and after.

Standard library only: this is the hot path of `execute`.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from podman_sandbox.engine import cgroup

EXEC_TAG = "PODMAN_SANDBOX_EXEC"
GRACE_SECONDS = 2.0
LATE_START_SECONDS = 1.0  # how long a command stopped before it started may take to show up
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


def end_tagged(tag: str, container: str, first_signal: int, podman: str = "podman") -> bool:
    """End the command and everything it started: first_signal, then SIGKILL after a grace.
    False when nothing carrying the tag was found."""
    pids = _signal_all(_tagged_processes(tag), first_signal)
    if not pids:
        # Root sees every process: the command has not started yet (the caller kills it
        # when it shows up). Rootless, the host's /proc may hide another user's processes
        # inside the sandbox: ask the sandbox itself.
        if os.geteuid() != 0:
            _end_from_inside(tag, container, first_signal, podman)
        return False
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        pids = {p for p in pids if os.path.exists(f"/proc/{p}")}
        if not pids:
            return True
        time.sleep(0.05)
    _signal_all(_tagged_processes(tag) | pids, signal.SIGKILL)
    return True


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


def _stop_command(child: int, tag: str, container: str, first_signal: int, podman: str,
                  status: int | None = None) -> int:
    """End the command and all it started, and reap the podman client; its wait status.

    status: the client's, when it has already ended (a Ctrl-C at a terminal reaches
    the client too, and it dies without stopping the command inside).
    A signal that comes very early may find nothing yet: the command can still start
    a moment later (even with the client gone), so what carries the tag is killed as
    it shows up, for LATE_START_SECONDS at most.
    """
    found = end_tagged(tag, container, first_signal, podman)
    start = time.monotonic()
    while True:
        if status is None:
            try:
                pid, wait_status = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pid, wait_status = child, 0
            if pid:
                status = wait_status
        now = time.monotonic()
        if status is not None and (found or now - start >= LATE_START_SECONDS):
            return status
        if status is None and now - start >= LATE_START_SECONDS:
            os.kill(child, signal.SIGKILL)  # stop waiting: the client at least goes
            return os.waitpid(child, 0)[1]
        late = _signal_all(_tagged_processes(tag), signal.SIGKILL)
        found = found or bool(late)
        time.sleep(0.02)


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
    tag = os.urandom(16).hex()  # not uuid: its import pulls in platform (ms on the hot path)
    argv = exec_argv(container, command, workdir=workdir, tag=tag, tty=tty, podman=podman)
    if verbose:
        import shlex
        sys.stderr.write("+ " + shlex.join(["podman", *argv[1:]]) + "\n")
        sys.stderr.flush()
    oom_before = cgroup.oom_kills(init_pid) if init_pid else None

    # A signal interrupts only the wait for the client. Anywhere else it is noted and
    # acted on right after, so no exception can escape from the middle of a cleanup.
    stopped: list[int] = []
    state = {"waiting": False}

    def on_signal(signum, _frame):
        if not stopped:
            stopped.append(signum)
        if state["waiting"]:
            state["waiting"] = False
            raise _Stop(signum)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM)
    previous = {s: signal.signal(s, on_signal) for s in handled}
    status = None
    try:
        # No signal between the spawn and knowing the child's pid; the child itself
        # starts with nothing blocked.
        signal.pthread_sigmask(signal.SIG_BLOCK, handled)
        try:
            child = os.posix_spawnp(argv[0], argv, os.environ, setsigmask=())
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            state["waiting"] = True
            if not stopped:
                _, status = os.waitpid(child, 0)
        except _Stop:
            pass
        finally:
            state["waiting"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s in handled:  # a second Ctrl-C must not leave things half done
            signal.signal(s, signal.SIG_IGN)
        if stopped == [signal.SIGALRM] and status is not None:
            stopped.clear()  # it ended by itself, just in time
        if stopped:
            # SIGALRM is our timeout; end it as timeout(1) does, with SIGTERM first.
            first = signal.SIGTERM if stopped[0] == signal.SIGALRM else stopped[0]
            status = _stop_command(child, tag, container, first, podman, status)
        elif os.WIFSIGNALED(status):
            # Someone killed the podman client itself; without it the command would
            # run on, unseen: end it too.
            end_tagged(tag, container, signal.SIGTERM, podman)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, h in previous.items():
            signal.signal(s, h)

    stopped_by = stopped[0] if stopped else None
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

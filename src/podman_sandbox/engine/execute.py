"""Run one command in a running sandbox and pass everything through.

`podman exec` carries stdin, stdout and stderr byte for byte (we never read
them) and its exit code is the command's. What Podman alone gets wrong, and
this module adds:

- Ctrl-C / SIGTERM without a TTY kills only the podman client; the command
  keeps running in the container. We tag every exec with a unique
  environment variable and note when it began; on a signal (or --timeout)
  engine/stopping.py ends every process in the sandbox that is the
  command's (by tag, ancestry and start time) and checks that none is left.
- The sandbox removed or stopped under a running command: Podman says 255
  or 137, which the command could have said itself; we notice that the
  sandbox's init is gone and say so with a code of our own (125). On a remote
  engine (125 there too: "no exec session") we ask the engine instead, since
  the init is a process of the server's.
- An OOM kill shows up only as exit 137 (OOMKilled stays false on cgroup v1,
  Podman 4.3 and 5.4 alike);
  we compare the cgroup's oom_kill counter before and after.

Two ways to carry the command's stdio: passthrough (run: the CLI's `execute`,
our own stdin, stdout and stderr) and capture (capture: the Python API and the
MCP server; stdin from bytes, stdout and stderr through pipes, chunk by chunk).
Both end in the same verdict (exit code, timed out, OOM, sandbox gone, left
over), so the guarantees above hold for either.

Standard library only: this is the hot path of `execute`.
"""

from __future__ import annotations

import os
import sys
import time

from podman_sandbox.engine import cgroup, connection
from podman_sandbox.engine.procstat import start_time
from podman_sandbox.lite import signals

EXEC_TAG = "PODMAN_SANDBOX_EXEC"
LATE_START_SECONDS = 1.0  # how long a command stopped before it started may take to show up
# What `podman exec` ends with when the sandbox goes away under it (SIGKILL; "container
# has already been removed"). A command that ends so itself waits this long for the
# verdict: rare, and the price of telling the two apart.
PODMAN_GONE_CODES = (137, 255)
# A remote client ends with 125 and "no exec session ... found" when the container is
# removed under it (Podman 4.3 over unix:// and tcp://).
REMOTE_GONE_CODES = (125, 137, 255)
GONE_WAIT_SECONDS = 1.0
_SIGNAL_EXIT: dict[int, int] = {signals.SIGINT: 130, signals.SIGTERM: 143, signals.SIGHUP: 129}


def exec_argv(container: str, command: str, *, workdir: str, tag: str,
              tty: bool, podman: str = "podman", env: dict | None = None) -> list[str]:
    """argv of `podman exec`: one value, one element; the command goes to sh -c in the sandbox.
    env: extra variables for this command; our tag comes last, so it is the one that counts."""
    argv = [*connection.argv(podman), "exec", "--interactive"]
    if tty:
        argv.append("--tty")
    for key, value in (env or {}).items():
        argv += ["--env", f"{key}={value}"]
    argv += ["--env", f"{EXEC_TAG}={tag}", "--workdir", workdir, container, "sh", "-c", "--", command]
    return argv


class Verdict:
    """What became of one command: code is what the CLI exits with (the command's own, or
    ours: 119 not all stopped, 124 timed out, 125 the sandbox went away, 128+N a signal).
    A plain class: a named tuple would import collections (~1 ms) on the fast path."""

    __slots__ = ("code", "timed_out", "oom_killed", "sandbox_gone", "not_stopped", "message")

    def __init__(self, code: int, timed_out: bool, oom_killed: bool, sandbox_gone: bool,
                 not_stopped: bool, message: str | None):
        self.code = code
        self.timed_out = timed_out
        self.oom_killed = oom_killed
        self.sandbox_gone = sandbox_gone
        self.not_stopped = not_stopped
        self.message = message


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


class _Exec:
    """One running `podman exec`: what identifies its processes in the sandbox."""

    def __init__(self, container: str, tag: str, init_pid: int | None, podman: str):
        self.container = container
        self.tag = tag
        self.remote = connection.is_remote()  # this host's /proc is not the sandbox's
        # init_pid is what the engine's inspect said; on a remote engine a pid of the
        # server's, never looked up in our /proc, only compared with the engine's answer.
        self.server_pid = init_pid if self.remote else None
        self.init_pid = None if self.remote else init_pid
        self.init_start = start_time(self.init_pid) if self.init_pid else None
        self.podman = podman
        self.since: int | None = None  # start time of the podman client: our exec is later
        self.spawned = time.monotonic()

    def gone_codes(self) -> tuple[int, ...]:
        """The exit codes Podman ends an exec with when the sandbox goes under it."""
        return REMOTE_GONE_CODES if self.remote else PODMAN_GONE_CODES

    def sandbox_gone(self, wait: bool = False) -> bool:
        """The sandbox's init is no longer the process it was: stopped or removed under us.
        wait: give it GONE_WAIT_SECONDS to go (`podman rm -f` may kill the command a
        moment before the init, and the client can report that moment first)."""
        if self.remote:
            # Each look costs a call to the engine: only for Podman's own codes (wait).
            return wait and self._gone_on_engine()
        if self.init_pid is None or self.init_start is None:
            return False
        deadline = time.monotonic() + (GONE_WAIT_SECONDS if wait else 0)
        while start_time(self.init_pid) == self.init_start:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _gone_on_engine(self) -> bool:
        """The engine says the container is missing, stopped, or runs another init
        (restarted, or replaced under the same name). No answer at all: not gone."""
        import subprocess

        argv = [*connection.argv(self.podman), "container", "inspect", "--format",
                "{{.State.Pid}}", self.container]
        deadline = time.monotonic() + GONE_WAIT_SECONDS
        while True:
            result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                return "no such container" in result.stderr.lower()
            pid = result.stdout.strip()
            if not pid.isdigit():
                return False  # an answer we cannot read says nothing
            if int(pid) == 0 or (self.server_pid and int(pid) != self.server_pid):
                return True  # stopped (no init), or another init than the command's
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _end_all(ex: _Exec, first_signal: int):
    """End everything of ex in the sandbox (engine/stopping.py): (scope, found any, left)."""
    from podman_sandbox.engine import stopping

    scope = stopping.Scope(ex.tag, ex.init_pid, ex.since)
    if ex.remote:
        # Only the sandbox can see its processes; "since" in its own clock ticks.
        ago = int((time.monotonic() - ex.spawned) * os.sysconf("SC_CLK_TCK")) + 1
        done = stopping.from_inside(scope, ex.container, first_signal, ex.podman, since=f"-{ago}")
        return scope, True, set() if done else {-1}
    found, left = stopping.stop(scope, first_signal)
    if os.geteuid() != 0 and (not scope.exact or not found):
        # Rootless, the host's /proc may hide the sandbox's processes: ask the sandbox.
        if stopping.from_inside(scope, ex.container, first_signal, ex.podman) is False:
            left = left or {-1}  # some are left, and the host cannot name them
    return scope, found, left


def _stop_command(child: int | None, ex: _Exec, first_signal: int,
                  status: int | None = None) -> tuple[int, set[int]]:
    """End the command and all it started, and reap the podman client:
    (its wait status, pids of ours still alive at the end: empty when all are gone).

    status: the client's, when it has already ended (a Ctrl-C at a terminal reaches
    the client too, and it dies without stopping the command inside); with no client
    at all (child None: the REST exec path), any value.
    A signal that comes very early may find nothing yet: the command can still start
    a moment later (even with the client gone), so what is ours is killed as it shows
    up, for LATE_START_SECONDS at most; then a last round checks that none is left.
    """
    from podman_sandbox.engine import stopping

    def client() -> int:
        assert child is not None, "no status given, so there is a podman client to reap"
        return child

    scope, found, left = _end_all(ex, first_signal)
    start = time.monotonic()
    if ex.remote:  # the sandbox did the stopping: reap the client
        while status is None:
            pid, wait_status = os.waitpid(client(), os.WNOHANG)
            if pid:
                return wait_status, left
            if time.monotonic() - start >= LATE_START_SECONDS:
                os.kill(client(), signals.SIGKILL)
                return os.waitpid(client(), 0)[1], left
            time.sleep(0.02)
        return status, left
    while True:
        if status is None:
            try:
                pid, wait_status = os.waitpid(client(), os.WNOHANG)
            except ChildProcessError:
                pid, wait_status = client(), 0
            if pid:
                status = wait_status
        now = time.monotonic()
        if status is not None and (found or now - start >= LATE_START_SECONDS):
            break
        if status is None and now - start >= LATE_START_SECONDS:
            os.kill(client(), signals.SIGKILL)  # stop waiting: the client at least goes
            status = os.waitpid(client(), 0)[1]
            break
        found = stopping.kill_now(scope)[0] or found
        time.sleep(0.02)
    # The last word, so that what we print is true.
    last_left = stopping.kill_now(scope)[1]
    return status, last_left | {p for p in left if p < 0}


def _not_stopped(left: set[int], what: str, timed_out: bool = False) -> Verdict:
    pids = " ".join(str(p) for p in sorted(left) if p > 0)
    named = f" (host pids {pids})" if pids else ""
    from podman_sandbox.errors import EXIT_NOT_STOPPED  # not at the top: the hot path
    return Verdict(EXIT_NOT_STOPPED, timed_out, False, False, True,
                   f"error: {what}, but processes it started could not be "
                   f"stopped{named}; `podman-sandbox stop` ends the whole sandbox")


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
    if not verbose and not connection.is_remote():
        # A Podman API socket of ours answers: no `podman exec` process (engine/restexec.py),
        # with a terminal of its own for -i at a terminal.
        from podman_sandbox.engine import restexec
        code = restexec.run(container, command, workdir=workdir, timeout=timeout,
                            init_pid=init_pid, memory_limit=memory_limit, podman=podman, tty=tty)
        if code is not None:
            return code
    tag = os.urandom(16).hex()  # not uuid: its import pulls in platform (ms on the hot path)
    argv = exec_argv(container, command, workdir=workdir, tag=tag, tty=tty, podman=podman)
    if verbose:
        import shlex
        sys.stderr.write("+ " + shlex.join(["podman", *argv[1:]]) + "\n")
        sys.stderr.flush()
    ex = _Exec(container, tag, init_pid, podman)
    oom_before = cgroup.oom_kills(ex.init_pid) if ex.init_pid else None

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

    handled = (signals.SIGINT, signals.SIGTERM, signals.SIGHUP, signals.SIGALRM)
    previous = {s: signals.signal(s, on_signal) for s in handled}
    status = None
    left: set[int] = set()
    try:
        # No signal between the spawn and knowing the child's pid; the child itself
        # starts with nothing blocked.
        signals.pthread_sigmask(signals.SIG_BLOCK, handled)
        try:
            child = os.posix_spawnp(argv[0], argv, os.environ, setsigmask=())
        finally:
            signals.pthread_sigmask(signals.SIG_UNBLOCK, handled)
        ex.since = start_time(child, ended=True)
        if timeout:
            signals.setitimer(signals.ITIMER_REAL, timeout)
        try:
            state["waiting"] = True
            if not stopped:
                _, status = os.waitpid(child, 0)
        except _Stop:
            pass
        finally:
            state["waiting"] = False
        signals.setitimer(signals.ITIMER_REAL, 0)
        for s in handled:  # a second Ctrl-C must not leave things half done
            signals.signal(s, signals.SIG_IGN)
        if stopped == [signals.SIGALRM] and status is not None:
            stopped.clear()  # it ended by itself, just in time
        if stopped:
            # SIGALRM is our timeout; end it as timeout(1) does, with SIGTERM first.
            first = signals.SIGTERM if stopped[0] == signals.SIGALRM else stopped[0]
            status, left = _stop_command(child, ex, first, status)
        elif status is not None and os.WIFSIGNALED(status) and not ex.sandbox_gone():
            # Someone killed the podman client itself; without it the command would
            # run on, unseen: end it too.
            left = _end_all(ex, signals.SIGTERM)[2]
    finally:
        signals.setitimer(signals.ITIMER_REAL, 0)
        for s, h in previous.items():
            signals.signal(s, h)

    verdict = _verdict(ex, status, stopped[0] if stopped else None, left, timeout,
                       oom_before, memory_limit)
    if verdict.message:
        sys.stderr.write(f"podman-sandbox: {verdict.message}\n")
    return verdict.code


def _verdict(ex: _Exec, status: int | None, stopped_by: int | None, left: set[int],
             timeout: float | None, oom_before: int | None, memory_limit: int | None) -> Verdict:
    """What became of the command, and the line to tell the user (None: nothing to say).
    stopped_by: SIGALRM for our timeout, else the signal that stopped it, or None."""
    container, init_pid = ex.container, ex.init_pid
    if stopped_by == signals.SIGALRM:
        if left:
            return _not_stopped(left, f"timed out after {timeout:g}s", timed_out=True)
        from podman_sandbox.errors import EXIT_TIMEOUT
        return Verdict(EXIT_TIMEOUT, True, False, False, False,
                       f"timed out after {timeout:g}s; "
                       "the command and everything it started were stopped")
    if stopped_by is not None:
        if left:
            return _not_stopped(left, f"interrupted by signal {stopped_by}")
        return Verdict(_SIGNAL_EXIT.get(stopped_by, 128 + stopped_by), False, False, False, False, None)
    assert status is not None, "not stopped by us, so the client's status is known"
    code = _exit_code(status)
    if left:
        return _not_stopped(left, "the podman client was killed")
    oom = False
    if code == 137 and init_pid:
        oom_after = cgroup.oom_kills(init_pid)
        oom = oom_before is not None and oom_after is not None and oom_after > oom_before
    if code != 0 and not oom and ex.sandbox_gone(wait=code in ex.gone_codes()):
        # Podman says 255 ("container has already been removed"), 137, or remotely 125:
        # any could be the command's own. Only our code says what happened.
        from podman_sandbox.errors import EXIT_PODMAN
        return Verdict(EXIT_PODMAN, False, False, True, False,
                       f"error: the sandbox {container} was stopped or "
                       f"removed while the command ran (podman exec ended with {code})")
    if code == 137 and ex.remote:
        return Verdict(code, False, False, False, False,
                       "the command was killed (exit 137); on a remote engine an out-of-memory "
                       "kill cannot be told from another SIGKILL")
    if oom:
        from podman_sandbox.schema.sizes import format_size
        limit = f" of {format_size(memory_limit)}" if memory_limit else ""
        return Verdict(code, False, True, False, False,
                       f"the command ran out of memory at the sandbox's "
                       f"limit{limit} and was killed (exit 137)")
    return Verdict(code, False, False, False, False, None)


def capture(container: str, command: str, *, workdir: str, input: bytes | None = None,
            env: dict | None = None, timeout: float | None = None, init_pid: int | None = None,
            memory_limit: int | None = None, podman: str = "podman"):
    """Run command with its stdio through pipes (the Python API, the MCP server).

    A generator of ("stdout" | "stderr", bytes) chunks as they come, byte for byte;
    its return value (StopIteration.value) is the Verdict. input: all of stdin (None:
    empty). The timeout is a deadline of our own, not SIGALRM, and no signal handler
    is installed, so any thread may call it. The podman client runs in a process group
    of its own (a Ctrl-C at the terminal reaches us, not it); a KeyboardInterrupt
    while we wait, or closing the generator early, ends the command and all it
    started (engine/stopping.py) before the exception goes on.
    """
    import select

    tag = os.urandom(16).hex()
    argv = exec_argv(container, command, workdir=workdir, tag=tag, tty=False, podman=podman, env=env)
    ex = _Exec(container, tag, init_pid, podman)
    oom_before = cgroup.oom_kills(ex.init_pid) if ex.init_pid else None
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if input else (-1, -1)
    stdin = ((os.POSIX_SPAWN_DUP2, in_r, 0) if input
             else (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    actions = [stdin, (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setpgroup=0)
    except BaseException:
        for fd in (out_r, out_w, err_r, err_w, in_r, in_w):
            if fd >= 0:
                os.close(fd)
        raise
    ex.since = start_time(child, ended=True)
    for fd in (out_w, err_w, in_r):
        if fd >= 0:
            os.close(fd)
    names = {out_r: "stdout", err_r: "stderr"}
    pending = memoryview(input or b"")
    if in_w >= 0:
        os.set_blocking(in_w, False)
    deadline = time.monotonic() + timeout if timeout else None
    poller = select.poll()
    for fd in names:
        poller.register(fd, select.POLLIN)
    if in_w >= 0:
        poller.register(in_w, select.POLLOUT)
    status = stopped_by = None
    left: set[int] = set()

    def close_stdin():
        nonlocal in_w
        if in_w >= 0:
            poller.unregister(in_w)
            os.close(in_w)
            in_w = -1

    def left_in_time() -> float | None:
        return None if deadline is None else deadline - time.monotonic()

    try:
        while names or in_w >= 0:
            wait = left_in_time()
            if wait is not None and wait <= 0:
                stopped_by = signals.SIGALRM
                break
            for fd, event in poller.poll(None if wait is None else max(1, int(wait * 1000))):
                if fd == in_w:
                    try:
                        pending = pending[os.write(in_w, pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # the command closed its stdin: the rest is not wanted
                        pending = memoryview(b"")
                    if not pending:
                        close_stdin()
                elif fd in names:
                    data = os.read(fd, 65536)
                    if data:
                        yield names[fd], data
                    else:
                        poller.unregister(fd)
                        os.close(fd)
                        del names[fd]
        while stopped_by is None:  # the client closed its output: it is about to exit
            pid, wait_status = os.waitpid(child, os.WNOHANG)
            if pid:
                status = wait_status
                break
            wait = left_in_time()
            if wait is not None and wait <= 0:
                stopped_by = signals.SIGALRM
                break
            time.sleep(0.005)
    except BaseException as exc:  # KeyboardInterrupt, the generator closed, ...
        first = signals.SIGINT if isinstance(exc, KeyboardInterrupt) else signals.SIGTERM
        try:
            _stop_command(child, ex, first, status)
        finally:
            close_stdin()
            for fd in names:
                os.close(fd)
        raise
    if stopped_by is not None:
        status, left = _stop_command(child, ex, signals.SIGTERM, status)
    elif status is not None and os.WIFSIGNALED(status) and not ex.sandbox_gone():
        left = _end_all(ex, signals.SIGTERM)[2]  # the client was killed: end what it ran
    close_stdin()
    try:
        for fd in list(names):  # what was written before the stop (the client is gone now)
            os.set_blocking(fd, False)
            try:
                while True:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    yield names[fd], data
            except BlockingIOError:
                pass
    finally:
        for fd in names:
            os.close(fd)
    return _verdict(ex, status, stopped_by, left, timeout, oom_before, memory_limit)

"""Run a command through Podman's REST API (libpod exec) instead of a `podman exec` process.

A `podman exec` costs a Go program's start-up and its own talk to the
storage, every time. When a Podman API service answers on a unix socket
(the standard rootful /run/podman/podman.sock or rootless
$XDG_RUNTIME_DIR/podman/podman.sock, or $PODMAN_SANDBOX_REST_SOCKET; never on a
remote engine), a long-lived process can
keep one connection and per command ask it to create an exec session
(POST /containers/{id}/exec), start it on a connection of its own that the
server upgrades to a raw stream (POST /exec/{id}/start: stdout and stderr
multiplexed in frames of an 8-byte header, stdin written back and closed
with a half-close), then read its exit code (GET /exec/{id}/json). For
`execute -i` at a terminal the session has a terminal (Tty: one raw stream,
its size given at the start and POST /exec/{id}/resize on SIGWINCH) and ours is
in raw mode until the command ends (run).

Every guarantee of engine/execute.py holds, through the same code: the exec
carries the same PODMAN_SANDBOX_EXEC tag; a timeout, an early close or a
Ctrl-C ends everything the command started with engine/stopping.py (from
"now" as the exec's start: there is no client process to date it by); OOM,
the sandbox gone and what is left over are told by execute's verdict.

A socket is used only when it is the user's or root's (another user's
socket would be their Podman) and answers a ping; the tool never starts a
service itself (a service it started would outlive the command, run with
our privileges and hold storage locks: the user's choice, not ours).
PODMAN_SANDBOX_REST=0 turns the path off. Any failure before the command
started (no such container, the service gone) returns None from start(),
and the caller takes the `podman exec` path.

Standard library only; socket and json are imported only when a socket is
there.
"""

from __future__ import annotations

import os
import stat
import time

from podman_sandbox.engine import execute
from podman_sandbox.lite import signals
from podman_sandbox.private import trusted_owner

API = "/v4.0.0/libpod"
FRAME_HEADER = 8
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# A local Podman API socket to use instead of the standard path (the service must run
# on this machine: its processes are stopped through this host's /proc).
SOCKET_ENV = "PODMAN_SANDBOX_REST_SOCKET"


def socket_path() -> str | None:
    """The API socket to use, or None: none there, not the user's, or turned off."""
    if os.environ.get("PODMAN_SANDBOX_REST") == "0":
        return None
    from podman_sandbox.engine import connection
    if connection.is_remote():
        # CONTAINER_HOST / --connection: the service may run elsewhere, so this host's
        # /proc cannot stop what it starts; `podman exec` through the connection serves.
        return None
    named = os.environ.get(SOCKET_ENV)
    if named:
        candidates = [named]  # a local API socket the user names (tests start their own)
    elif os.geteuid() == 0:
        candidates = ["/run/podman/podman.sock"]
    else:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        candidates = [os.path.join(runtime, "podman", "podman.sock")] if runtime else []
    for path in candidates:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISSOCK(st.st_mode) and trusted_owner(st.st_uid):
            return path
    return None


def _now_ticks() -> int:
    """Now, in the clock ticks since boot that /proc/PID/stat's start times count."""
    with open("/proc/uptime", "rb") as fh:
        return int(float(fh.read().split()[0]) * _CLK_TCK)


class Connection:
    """One API service: a kept-alive connection for the short requests. HTTP/1.1 by hand
    (a few lines): http.client would cost the CLI's fast path its import of email."""

    def __init__(self, path: str):
        import json
        import socket
        import threading

        self.path = path
        self._json = json
        self._socket = socket
        self._lock = threading.Lock()  # one request at a time (the MCP server's tools run in threads)
        self._sock = None
        self._errors = (OSError, ValueError)

    def _connect(self):
        sock = self._socket.socket(self._socket.AF_UNIX, self._socket.SOCK_STREAM)
        try:
            sock.settimeout(30)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        return sock

    @staticmethod
    def _head(sock, buf: bytes = b"") -> tuple[int, dict, bytes]:
        """Read a response's status line and headers: (status, headers, what followed)."""
        while b"\r\n\r\n" not in buf:
            if len(buf) > 65536:
                raise ValueError("response headers too long")
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("the service closed the connection")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"not an HTTP response: {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers, rest

    @staticmethod
    def _body(sock, headers: dict, rest: bytes) -> bytes:
        def more() -> bytes:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("the service closed the connection")
            return chunk
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out, buf = b"", rest
            while True:
                while b"\r\n" not in buf:
                    buf += more()
                size_line, _, buf = buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf += more()
                out, buf = out + buf[:size], buf[size + 2:]
                if size == 0:
                    return out
        length = int(headers.get("content-length", "0"))
        buf = rest
        while len(buf) < length:
            buf += more()
        return buf[:length]

    def _send(self, sock, method: str, url: str, data: bytes | None, extra: bytes = b"") -> None:
        sock.sendall(b"%s %s%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"%sContent-Length: %d\r\n\r\n%s"
                     % (method.encode(), API.encode(), url.encode(), extra, len(data or b""),
                        data or b""))

    def request(self, method: str, url: str, body: dict | None = None) -> tuple[int, object]:
        """(status, the decoded JSON answer or None); one retry on a connection gone stale."""
        data = self._json.dumps(body).encode() if body is not None else None
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._sock is None:
                        self._sock = self._connect()
                    self._send(self._sock, method, url, data)
                    status, headers, rest = self._head(self._sock)
                    raw = self._body(self._sock, headers, rest)
                    if headers.get("connection", "").lower() == "close":
                        self.close()
                    break
                except self._errors:
                    self.close()
                    if attempt == 2:
                        raise
        try:
            return status, self._json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def ping(self) -> bool:
        try:
            return self.request("GET", "/_ping")[0] == 200
        except self._errors:
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def start(self, container: str, argv: list[str], *, workdir: str, env: dict,
              stdin: bool, tty: bool = False, size: tuple[int, int] | None = None):
        """Create and start an exec session: (its id, the upgraded socket), or None when
        the command could not be started this way (the caller uses `podman exec`).
        tty: the session gets a terminal (one raw stream, no frames), as `podman exec -t`,
        of size (rows, columns) from its start (a resize after the start can come after
        the command looked)."""
        try:
            status, answer = self.request("POST", f"/containers/{container}/exec", {
                "AttachStdout": True, "AttachStderr": True, "AttachStdin": stdin, "Tty": tty,
                "Cmd": argv, "WorkingDir": workdir, "Env": [f"{k}={v}" for k, v in env.items()]})
            if status != 201 or not isinstance(answer, dict) or not answer.get("Id"):
                return None
            exec_id = str(answer["Id"])
            sock = self._connect()
            try:
                body: dict[str, object] = {"Detach": False, "Tty": tty}
                if size:
                    body.update(h=size[0], w=size[1])
                self._send(sock, "POST", f"/exec/{exec_id}/start", self._json.dumps(body).encode(),
                           b"Connection: Upgrade\r\nUpgrade: tcp\r\n")
                code, _headers, rest = self._head(sock)
                if code not in (101, 200):
                    sock.close()
                    return None
            except BaseException:
                sock.close()
                raise
            return exec_id, sock, rest
        except self._errors:
            return None

    def resize(self, exec_id: str, fd: int) -> None:
        """Give the session's terminal the size of ours (fd); quietly nothing if it cannot."""
        size = terminal_size(fd)
        if size is None:
            return
        try:
            self.request("POST", f"/exec/{exec_id}/resize?h={size[0]}&w={size[1]}")
        except self._errors:
            pass

    def exit_code(self, exec_id: str) -> int | None:
        """The exec session's exit code once it has ended; None when it cannot be had."""
        deadline = time.monotonic() + 5
        while True:
            try:
                status, answer = self.request("GET", f"/exec/{exec_id}/json")
            except self._errors:
                return None
            if status != 200 or not isinstance(answer, dict):
                return None
            if not answer.get("Running"):
                code = answer.get("ExitCode")
                return int(code) if isinstance(code, int) else None
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on fd; None when it has none."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return (size.lines, size.columns) if size.lines and size.columns else None


def connect() -> Connection | None:
    """A connection to the API service when one is there and answers; else None."""
    path = socket_path()
    if path is None:
        return None
    conn = Connection(path)
    if conn.ping():
        return conn
    conn.close()
    return None


def capture(conn: Connection, container: str, command: str, **kw):
    """execute.capture's contract over the REST API: a generator of ("stdout" | "stderr",
    bytes) chunks whose return value is the Verdict. If the session cannot even be
    started, it returns None at once (nothing ran): the caller uses `podman exec`.

    kw: workdir, input, env, timeout, init_pid, memory_limit, podman, and stdin_fd:
    copy stdin from this fd (the CLI) instead of input; state: the CLI's signal
    handling ({"waiting", "signal"}): a signal noted there, or execute._Stop raised
    while we wait, stops the command as that signal does in execute.run; tty: the
    session gets a terminal the size of stdin_fd's (resized when state["winch"] is
    set), its output comes as "stdout"; on_start(): called once the session runs.

    No `podman exec` client carries this command's tag on the host, so it is noted
    in stopping.IN_PROCESS_TAGS while it runs: another command's stop then spares it."""
    from podman_sandbox.engine import stopping

    tag = os.urandom(16).hex()
    stopping.IN_PROCESS_TAGS.add(tag.encode())
    try:
        return (yield from _capture(conn, container, command, tag, **kw))
    finally:
        stopping.IN_PROCESS_TAGS.discard(tag.encode())


def _capture(conn: Connection, container: str, command: str, tag: str, *, workdir: str,
             input: bytes | None = None, env: dict | None = None, timeout: float | None = None,
             init_pid: int | None = None, memory_limit: int | None = None,
             podman: str = "podman", stdin_fd: int | None = None, state: dict | None = None,
             tty: bool = False, on_start=None):
    import select

    full_env = {**(env or {}), execute.EXEC_TAG: tag}
    oom_before = execute.cgroup.oom_kills(init_pid) if init_pid else None
    ex = execute._Exec(container, tag, init_pid, podman)
    ex.since = _now_ticks() - 1  # our exec begins after this (ticks round down)
    started = conn.start(container, ["sh", "-c", "--", command], workdir=workdir,
                         env=full_env, stdin=bool(input) or stdin_fd is not None, tty=tty,
                         size=terminal_size(stdin_fd) if tty and stdin_fd is not None else None)
    if started is None:
        return None
    exec_id, sock, rest = started
    if on_start is not None:
        on_start()
    sock.setblocking(False)
    fd = sock.fileno()
    pending = memoryview(input) if input else None
    reading = stdin_fd is not None  # more stdin may come from stdin_fd
    if pending is None and not reading:
        sock.shutdown(conn._socket.SHUT_WR)
    buf = bytearray(rest)
    deadline = time.monotonic() + timeout if timeout else None
    stopped_by = None
    names = {1: "stdout", 2: "stderr"}

    def close_stdin() -> None:
        try:
            sock.shutdown(conn._socket.SHUT_WR)
        except OSError:
            pass

    def frames():
        """Whole frames in buf: (stream, payload), removed from buf. With a terminal
        there are no frames: what came is the terminal's output."""
        if tty:
            if buf:
                yield "stdout", bytes(buf)
                del buf[:]
            return
        while len(buf) >= FRAME_HEADER:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < FRAME_HEADER + size:
                return
            kind, payload = buf[0], bytes(buf[FRAME_HEADER:FRAME_HEADER + size])
            del buf[:FRAME_HEADER + size]
            if kind in names and payload:
                yield names[kind], payload

    try:
        ended = False
        while not ended:
            if state is not None and state["signal"]:
                stopped_by = state["signal"]
                break
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                stopped_by = signals.SIGALRM
                break
            if tty and stdin_fd is not None and state is not None and state.get("winch"):
                state["winch"] = False
                conn.resize(exec_id, stdin_fd)
            if tty:  # look at the terminal's size again (SIGWINCH) at least this often
                wait = 0.25 if wait is None else min(wait, 0.25)
            poller = select.poll()
            poller.register(fd, select.POLLIN | (select.POLLOUT if pending else 0))
            if reading and not pending and stdin_fd is not None:
                poller.register(stdin_fd, select.POLLIN)
            try:
                if state is not None:
                    state["waiting"] = True
                events = poller.poll(None if wait is None else max(1, int(wait * 1000)))
            except execute._Stop as stop:
                stopped_by = stop.signum
                break
            finally:
                if state is not None:
                    state["waiting"] = False
            for ready, event in events:
                if ready == stdin_fd:
                    data = os.read(stdin_fd, 65536)
                    if data:
                        pending = memoryview(data)
                    else:
                        reading = False
                        close_stdin()
                    continue
                if event & select.POLLOUT and pending:
                    try:
                        pending = pending[sock.send(pending[:65536]):]
                    except BlockingIOError:
                        pass
                    except OSError:  # the command closed its stdin: the rest is not wanted
                        pending, reading = None, False
                    if not pending:
                        pending = None
                        if not reading:
                            close_stdin()
                if event & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        ended = True
                        break
                    buf += data
                    yield from frames()
    except BaseException as exc:  # KeyboardInterrupt, the generator closed, ...
        first = signals.SIGINT if isinstance(exc, KeyboardInterrupt) else signals.SIGTERM
        try:
            execute._stop_command(None, ex, first, 0)
        finally:
            sock.close()
        raise
    sock.close()
    left: set[int] = set()
    if stopped_by is not None:
        # SIGALRM is our timeout; end it as timeout(1) does, with SIGTERM first.
        first = signals.SIGTERM if stopped_by == signals.SIGALRM else stopped_by
        left = execute._stop_command(None, ex, first, 0)[1]
        status = 0
    else:
        code = conn.exit_code(exec_id)
        # No exit code: the session (or the sandbox) went away under it; 255 is what
        # `podman exec` says then, and the verdict checks the sandbox's init.
        status = ((code if code is not None else 255) & 0xFF) << 8
    return execute._verdict(ex, status, stopped_by, left, timeout, oom_before, memory_limit)


def run(container: str, command: str, *, workdir: str, timeout: float | None = None,
        init_pid: int | None = None, memory_limit: int | None = None,
        podman: str = "podman", tty: bool = False) -> int | None:
    """`execute` over the REST API, stdio passed through byte for byte: the exit code
    execute.run would give; None when no socket is there or the command could not be
    started through it (then `podman exec`: nothing ran).

    tty (`-i` at a terminal): the session gets a terminal the size of ours, resized
    with it (SIGWINCH), and ours is in raw mode while it runs, so keys (Ctrl-C too)
    reach the command as they do through `podman exec -it`; the terminal's mode is
    put back on every way out (the end, a timeout, a signal, an error)."""
    path = socket_path()
    if path is None:
        return None
    conn = Connection(path)  # no ping: creating the exec session is the probe
    state: dict = {"waiting": False, "signal": None, "winch": False}

    def on_signal(signum, _frame):
        if signum == signals.SIGWINCH:
            state["winch"] = True  # the loop resizes the session's terminal
            return
        if not state["signal"]:
            state["signal"] = signum
        if state["waiting"]:  # only the wait is interrupted; elsewhere it is noted
            state["waiting"] = False
            raise execute._Stop(signum)

    handled = (signals.SIGINT, signals.SIGTERM, signals.SIGHUP) + ((signals.SIGWINCH,) if tty else ())
    previous = {s: signals.signal(s, on_signal) for s in handled}
    saved_mode: list = []

    def raw_mode() -> None:
        import termios
        import tty as ttys

        saved_mode.append(termios.tcgetattr(0))
        ttys.setraw(0, termios.TCSANOW)

    verdict = None
    try:
        chunks = capture(conn, container, command, workdir=workdir, timeout=timeout,
                         init_pid=init_pid, memory_limit=memory_limit, podman=podman,
                         stdin_fd=0, state=state, tty=tty, on_start=raw_mode if tty else None)
        try:
            while True:
                name, data = next(chunks)
                view = memoryview(data)
                try:
                    while view:
                        view = view[os.write(1 if name == "stdout" else 2, view):]
                except BrokenPipeError:  # our reader went (`| head`): as podman exec, stop
                    chunks.close()
                    return 128 + signals.SIGPIPE
        except StopIteration as done:
            verdict = done.value
    finally:
        if saved_mode:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved_mode[0])
        for s, h in previous.items():
            signals.signal(s, h)
        conn.close()
    if verdict is None:
        return None
    if verdict.message:
        os.write(2, f"podman-sandbox: {verdict.message}\n".encode())
    return verdict.code

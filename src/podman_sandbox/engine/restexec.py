"""Run a command through Podman's REST API (libpod exec) instead of a `podman exec` process.

A `podman exec` costs a Go program's start-up and its own talk to the
storage, every time. When a Podman API service answers on a unix socket
(CONTAINER_HOST=unix://..., or the standard rootful /run/podman/podman.sock
or rootless $XDG_RUNTIME_DIR/podman/podman.sock), a long-lived process can
keep one connection and per command ask it to create an exec session
(POST /containers/{id}/exec), start it on a connection of its own that the
server upgrades to a raw stream (POST /exec/{id}/start: stdout and stderr
multiplexed in frames of an 8-byte header, stdin written back and closed
with a half-close), then read its exit code (GET /exec/{id}/json).

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

Standard library only; http.client and socket are imported only when a
socket is there.
"""

from __future__ import annotations

import os
import signal
import stat
import time

from podman_sandbox.engine import execute
from podman_sandbox.private import trusted_owner

API = "/v4.0.0/libpod"
FRAME_HEADER = 8
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def socket_path() -> str | None:
    """The API socket to use, or None: none there, not the user's, or turned off."""
    if os.environ.get("PODMAN_SANDBOX_REST") == "0":
        return None
    host = os.environ.get("CONTAINER_HOST")
    if host:
        path = host[len("unix://"):] if host.startswith("unix://") else None
        candidates = [path] if path else []
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
    """One API service: a kept-alive connection for the short requests."""

    def __init__(self, path: str):
        import http.client
        import json
        import socket
        import threading

        self.path = path
        self._lock = threading.Lock()  # one request at a time (the MCP server's tools run in threads)
        self._json = json
        self._socket = socket

        class _Unix(http.client.HTTPConnection):
            def connect(conn) -> None:  # noqa: N805 - the connection, not ours
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(30)
                sock.connect(path)
                conn.sock = sock

        self._http = _Unix("localhost")
        self._errors = (OSError, http.client.HTTPException, ValueError)

    def request(self, method: str, url: str, body: dict | None = None) -> tuple[int, object]:
        """(status, the decoded JSON answer or None); one retry on a connection gone stale."""
        data = self._json.dumps(body).encode() if body is not None else None
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._http.request(method, API + url, body=data,
                                       headers={"Content-Type": "application/json"})
                    response = self._http.getresponse()
                    raw = response.read()
                    break
                except self._errors:
                    self._http.close()
                    if attempt == 2:
                        raise
        try:
            return response.status, self._json.loads(raw) if raw else None
        except ValueError:
            return response.status, None

    def ping(self) -> bool:
        try:
            return self.request("GET", "/_ping")[0] == 200
        except self._errors:
            return False

    def close(self) -> None:
        self._http.close()

    def start(self, container: str, argv: list[str], *, workdir: str, env: dict,
              stdin: bool):
        """Create and start an exec session: (its id, the upgraded socket), or None when
        the command could not be started this way (the caller uses `podman exec`)."""
        try:
            status, answer = self.request("POST", f"/containers/{container}/exec", {
                "AttachStdout": True, "AttachStderr": True, "AttachStdin": stdin, "Tty": False,
                "Cmd": argv, "WorkingDir": workdir, "Env": [f"{k}={v}" for k, v in env.items()]})
            if status != 201 or not isinstance(answer, dict) or not answer.get("Id"):
                return None
            exec_id = str(answer["Id"])
            sock = self._socket.socket(self._socket.AF_UNIX, self._socket.SOCK_STREAM)
            try:
                sock.settimeout(30)
                sock.connect(self.path)
                body = b'{"Detach":false,"Tty":false}'
                sock.sendall(b"POST %s/exec/%s/start HTTP/1.1\r\nHost: localhost\r\n"
                             b"Content-Type: application/json\r\nConnection: Upgrade\r\n"
                             b"Upgrade: tcp\r\nContent-Length: %d\r\n\r\n%s"
                             % (API.encode(), exec_id.encode(), len(body), body))
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise OSError("the service closed the connection")
                    head += chunk
                head, _, rest = head.partition(b"\r\n\r\n")
                code = head.split(b" ", 2)[1] if head.startswith(b"HTTP/") else b""
                if code not in (b"101", b"200"):
                    sock.close()
                    return None
            except BaseException:
                sock.close()
                raise
            return exec_id, sock, rest
        except self._errors:
            return None

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


def capture(conn: Connection, container: str, command: str, *, workdir: str,
            input: bytes | None = None, env: dict | None = None, timeout: float | None = None,
            init_pid: int | None = None, memory_limit: int | None = None,
            podman: str = "podman"):
    """execute.capture's contract over the REST API: a generator of ("stdout" | "stderr",
    bytes) chunks whose return value is the Verdict. If the session cannot even be
    started, it returns None at once (nothing ran): the caller uses `podman exec`."""
    import select

    tag = os.urandom(16).hex()
    full_env = {**(env or {}), execute.EXEC_TAG: tag}
    oom_before = execute.cgroup.oom_kills(init_pid) if init_pid else None
    ex = execute._Exec(container, tag, init_pid, podman)
    ex.since = _now_ticks() - 1  # our exec begins after this (ticks round down)
    started = conn.start(container, ["sh", "-c", "--", command], workdir=workdir,
                         env=full_env, stdin=bool(input))
    if started is None:
        return None
    exec_id, sock, rest = started
    sock.setblocking(False)
    fd = sock.fileno()
    pending = memoryview(input) if input else None
    if pending is None:
        sock.shutdown(conn._socket.SHUT_WR)
    buf = bytearray(rest)
    deadline = time.monotonic() + timeout if timeout else None
    poller = select.poll()
    stopped_by = None
    names = {1: "stdout", 2: "stderr"}

    def frames():
        """Whole frames in buf: (stream, payload), removed from buf."""
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
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                stopped_by = signal.SIGALRM
                break
            poller.register(fd, select.POLLIN | (select.POLLOUT if pending else 0))
            events = poller.poll(None if wait is None else max(1, int(wait * 1000)))
            for _fd, event in events:
                if event & select.POLLOUT and pending:
                    try:
                        pending = pending[sock.send(pending[:65536]):]
                    except BlockingIOError:
                        pass
                    except OSError:
                        pending = None
                    if not pending:
                        pending = None
                        try:
                            sock.shutdown(conn._socket.SHUT_WR)
                        except OSError:
                            pass
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
        first = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM
        try:
            execute._stop_command(None, ex, first, 0)
        finally:
            sock.close()
        raise
    sock.close()
    left: set[int] = set()
    if stopped_by is not None:
        left = execute._stop_command(None, ex, signal.SIGTERM, 0)[1]
        status = 0
    else:
        code = conn.exit_code(exec_id)
        # No exit code: the session (or the sandbox) went away under it; 255 is what
        # `podman exec` says then, and the verdict checks the sandbox's init.
        status = ((code if code is not None else 255) & 0xFF) << 8
    return execute._verdict(ex, status, stopped_by, left, timeout, oom_before, memory_limit)

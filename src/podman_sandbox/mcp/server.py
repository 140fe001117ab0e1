"""`podman-sandbox mcp`: a stdio MCP server whose tools drive one project's sandbox.

Built on the official MCP Python SDK (the optional extra `podman-sandbox[mcp]`)
and on the Python API (api.py): every tool is a Sandbox call, so the spec,
consent, ownership, locks and execute's guarantees are the CLI's.

What the agent gets: run a command (timeout, stdin, working folder), read,
write and list files under /workspace (confined.py: no `..`, no absolute path
elsewhere, no symlink), status, commit and reset. What it never gets: a way to
approve grants (a spec with unapproved mounts, capabilities, network: host...
is a tool error naming `podman-sandbox allow`, which only the user runs), a
path out of the workspace, or anything on the host beyond the project folder.

A command that times out, runs out of memory or fails is a normal result
that says so; a refused path or any SandboxError is a tool error (is_error)
with the CLI's message. Output over the limit keeps its start and its end.

Standard output is the protocol: nothing here (nor in the engine) prints to it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from podman_sandbox.api import Sandbox
from podman_sandbox.errors import SandboxError

DEFAULT_MAX_OUTPUT = 100_000  # bytes of stdout and of stderr shown per command
DEFAULT_TIMEOUT = 600.0  # seconds: an agent's command never hangs the server for good
MAX_FILE = 10 * 1024 * 1024  # bytes read_file returns at most

INSTRUCTIONS = """\
Tools for a podman-sandbox: a Podman container with the project folder mounted at
/workspace. `run` runs a shell command there (sh -c, in /workspace), with a timeout
(after which the command and everything it started are stopped) and optional stdin.
Files are read, written and listed under /workspace; paths are relative to it or
absolute under it; `..` and symlinks are refused. `commit` saves what was installed,
`reset` drops the saved state and the container. The sandbox's limits and grants
(mounts, network, capabilities) are the user's: they cannot be changed from here."""


class Tail:
    """The first and last `limit` // 2 bytes of a stream, and how many there were."""

    def __init__(self, limit: int):
        self.half = max(1, limit // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[:-self.half]

    def text(self) -> tuple[str, bool]:
        """The text to show (UTF-8, bad bytes replaced) and whether some was cut."""
        cut = self.total - len(self.head) - len(self.tail)
        if cut <= 0:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace"), False
        return (self.head.decode("utf-8", "replace")
                + f"\n[... {cut} bytes cut: {self.total} in all; the start and the end are shown ...]\n"
                + self.tail.decode("utf-8", "replace")), True


def _sdk() -> tuple[Any, type[Exception]]:
    """(the server class, the SDK's ToolError): MCPServer in mcp 2, FastMCP in mcp 1."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
        return MCPServer, ToolError
    except ImportError:
        from mcp.server.fastmcp import FastMCP  # type: ignore[attr-defined]  # mcp 1 only
        from mcp.server.fastmcp.exceptions import ToolError as V1ToolError  # type: ignore[import-not-found]  # mcp 1 only
        return FastMCP, V1ToolError


def tools(sandbox: Sandbox, tool_error: type[Exception], *, max_output: int = DEFAULT_MAX_OUTPUT,
          ) -> list[Callable[..., Any]]:
    """The tool functions over sandbox; a SandboxError becomes tool_error (is_error)."""

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except SandboxError as exc:
                raise tool_error("\n".join(exc.lines())) from None
        return call

    @guarded
    def run(command: str, timeout: float = DEFAULT_TIMEOUT, stdin: str | None = None,
            cwd: str | None = None) -> dict[str, Any]:
        """Run a shell command (sh -c) in the sandbox, in /workspace (or cwd under it).
        timeout: seconds; then the command and everything it started are stopped
        (exit_code 124). stdin: text given as its standard input. Returns exit_code,
        stdout, stderr (long output keeps its start and end), timed_out, oom_killed."""
        out, err = Tail(max_output), Tail(max_output)
        execution = sandbox.stream(command, timeout=timeout, input=stdin, cwd=cwd)
        for name, data in execution:
            (out if name == "stdout" else err).add(data)
        stdout, out_cut = out.text()
        stderr, err_cut = err.text()
        result: dict[str, Any] = {"exit_code": execution.exit_code, "stdout": stdout,
                                  "stderr": stderr, "timed_out": execution.timed_out,
                                  "oom_killed": execution.oom_killed}
        if out_cut or err_cut:
            result["truncated"] = [n for n, cut in (("stdout", out_cut), ("stderr", err_cut)) if cut]
        if execution.message:
            result["message"] = execution.message
        return result

    @guarded
    def read_file(path: str) -> dict[str, Any]:
        """Read a file under /workspace. Text comes as UTF-8 (encoding "utf-8"), other
        bytes as base64 (encoding "base64"); at most 10 MiB (truncated says so)."""
        data = sandbox.read_file(path, max_bytes=MAX_FILE + 1)
        result: dict[str, Any] = {"path": path, "size": min(len(data), MAX_FILE)}
        if len(data) > MAX_FILE:
            data = data[:MAX_FILE]
            result["truncated"] = f"only the first {MAX_FILE} bytes are shown"
        try:
            result.update(encoding="utf-8", content=data.decode("utf-8"))
        except UnicodeDecodeError:
            result.update(encoding="base64", content=base64.b64encode(data).decode("ascii"))
        return result

    @guarded
    def write_file(path: str, content: str, encoding: str = "utf-8") -> dict[str, Any]:
        """Write a file under /workspace (missing folders are made). encoding: "utf-8"
        (content is the text) or "base64" (content is the bytes, base64-encoded)."""
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except ValueError:
                raise tool_error("content is not valid base64") from None
        elif encoding == "utf-8":
            data = content.encode("utf-8")
        else:
            raise tool_error(f"encoding must be utf-8 or base64, not {encoding!r}")
        return {"path": path, "written": sandbox.write_file(path, data)}

    @guarded
    def list_files(path: str = "") -> dict[str, Any]:
        """List a folder under /workspace (default: /workspace itself): each entry's
        name, kind (file, dir, symlink, other) and size (files)."""
        return {"path": path or "/workspace", "entries": sandbox.list_files(path)}

    @guarded
    def status() -> dict[str, Any]:
        """The sandbox: running or not, image, limits, saved state, grants and consent."""
        return sandbox.status()

    @guarded
    def commit() -> dict[str, Any]:
        """Save the sandbox's state (installed packages survive a restart)."""
        return {"saved": sandbox.commit()}

    @guarded
    def reset() -> dict[str, Any]:
        """Drop the saved state and the container: the next command starts fresh from the
        image (files in /workspace stay: they are the project folder)."""
        return {"removed": sandbox.reset()}

    return [run, read_file, write_file, list_files, status, commit, reset]


def build(sandbox: Sandbox, *, max_output: int = DEFAULT_MAX_OUTPUT) -> Any:
    """The MCP server (not yet running) with the sandbox's tools."""
    server_class, tool_error = _sdk()
    server = server_class("podman-sandbox", instructions=INSTRUCTIONS)
    for fn in tools(sandbox, tool_error, max_output=max_output):
        server.add_tool(fn, name=fn.__name__, description=fn.__doc__)
    return server


def serve(sandbox: Sandbox, *, max_output: int = DEFAULT_MAX_OUTPUT) -> None:
    """Serve MCP on stdin/stdout until the client goes."""
    build(sandbox, max_output=max_output).run("stdio")

"""Sandbox: the Python API, for programs and agents that drive a sandbox from a long-lived
process. The MCP server (mcp/) is built on it.

    from podman_sandbox import Sandbox

    with Sandbox("path/to/project") as sb:
        result = sb.run("pytest -q", timeout=600)
        print(result.exit_code, result.stdout.decode())

The same engine as the CLI: a Sandbox is the CLI run in its folder. The spec is
found as `podman-sandbox` finds it there (the nearest sandbox.yaml above the
folder, or classic mode), and every change goes through the same converge
(consent check, ownership, locks, records). `run` takes the fast path's record
when it is still good (the spec file unchanged, the container running as
recorded) and converges first otherwise, exactly as `execute` does; it then
runs the command through engine/execute.py's capture mode, with execute's
guarantees (a timeout ends everything the command started, OOM named, exit
codes, output byte for byte).

Consent: a Sandbox never asks and never approves on its own. A spec with
grants nobody approved raises ConsentError (exit code 123, naming
`podman-sandbox allow`); `apply(allow=True)` approves, as `apply --allow`
does, for the program's author to use, never the sandboxed code.

Errors are the CLI's exceptions (errors.py), with the same exit_code.

Importing this module costs what the CLI's fast path costs (standard library
only); the engine's heavy parts load when a converge needs them.
"""

from __future__ import annotations

import os

from podman_sandbox import confined
from podman_sandbox.errors import SandboxError, UsageError

# Not typing's: importing typing costs milliseconds, collections.abc ~1 ms (mypy knows the name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator, Iterator, Mapping, Sequence
    from typing import Any

    from podman_sandbox.app import App
    from podman_sandbox.locate import Target

__all__ = ["Sandbox", "RunResult", "Execution"]


class RunResult:
    """What a command did. exit_code is what `execute` would exit with: the command's own
    code, 124 when the timeout ran out, 119 when what it started could not all be
    stopped, 125 when the sandbox went away under it, 128+N when a signal ended it."""

    __slots__ = ("exit_code", "stdout", "stderr", "timed_out", "oom_killed", "message", "via")

    def __init__(self, exit_code: int, stdout: bytes, stderr: bytes, timed_out: bool,
                 oom_killed: bool, message: str | None, via: str = "podman exec"):
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.oom_killed = oom_killed
        self.message = message  # the tool's own word on it (timed out, out of memory...)
        self.via = via  # "rest" (Podman's REST API) or "podman exec"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return (f"RunResult(exit_code={self.exit_code}, stdout={self.stdout[:60]!r}, "
                f"stderr={self.stderr[:60]!r}, timed_out={self.timed_out}, "
                f"oom_killed={self.oom_killed})")


class Execution:
    """A running command, from Sandbox.stream: iterate it for ("stdout" | "stderr", bytes)
    chunks as they come; afterwards exit_code, timed_out, oom_killed and message are
    set. Leaving the loop early (or close()) stops the command and all it started."""

    def __init__(self, chunks: Generator[tuple[str, bytes], None, Any]):
        self._chunks = chunks
        self.exit_code: int | None = None
        self.timed_out = False
        self.oom_killed = False
        self.message: str | None = None
        self.via = "podman exec"  # or "rest": how it ran (set once it has started)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        verdict = yield from self._chunks
        self.exit_code = verdict.code
        self.timed_out = bool(verdict.timed_out)
        self.oom_killed = bool(verdict.oom_killed)
        self.message = verdict.message

    def close(self) -> None:
        self._chunks.close()


def _command_text(cmd: str | Sequence[str]) -> str:
    """The text for `sh -c`: cmd itself, or an argv quoted so each item stays one argument."""
    if isinstance(cmd, str):
        return cmd
    if isinstance(cmd, (bytes, bytearray)) or not all(isinstance(a, str) for a in cmd):
        raise UsageError("a command is a string (run with sh -c) or a list of strings")
    import shlex
    return shlex.join(cmd)


def _check_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if not env:
        return None
    from podman_sandbox.engine.execute import EXEC_TAG

    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key or key == EXEC_TAG:
            raise UsageError(f"not a usable environment variable name: {key!r}")
        if not isinstance(value, str) or "\0" in value:
            raise UsageError(f"the value of {key} must be a string without NUL bytes")
    return dict(env)


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    from podman_sandbox.timeouts import parse_timeout

    try:
        return parse_timeout(str(timeout) if not isinstance(timeout, bool) else "")
    except ValueError as exc:
        raise UsageError(str(exc).replace("--timeout", "timeout")) from None


class Sandbox:
    """The sandbox of a project folder (or of a spec file), as the CLI sees it from there.

    project: a folder (default: the current one) or a sandbox.yaml. quiet: no
    progress lines on stderr (notices that matter, such as discarded changes, are
    always written there). verbose: show each podman command.

    As a context manager, entering applies (starts) the sandbox and leaving leaves it
    running: stopping removes the container and, without auto_commit, what was
    installed in it; call stop() for that.
    """

    def __init__(self, project: str | os.PathLike[str] | None = None, *,
                 instance: str | None = None, workspace: str | None = None,
                 quiet: bool = True, verbose: bool = False):
        """instance: the project's instance of that name (as the CLI's --instance): a
        container, saved states and workspace of its own; workspace: what a new instance
        mounts (bind, worktree or copy, as --workspace)."""
        from podman_sandbox import instance as inst

        if instance is not None and not (isinstance(instance, str) and inst.valid_name(instance)):
            raise UsageError(f"instance {instance!r}: {inst.NAME_RULE}")
        if workspace is not None and instance is None:
            raise UsageError("workspace= chooses what an instance mounts: add instance=NAME "
                             "(the plain sandbox always mounts the project folder)")
        self._instance = instance or ""
        self._workspace = workspace
        path = os.path.abspath(os.fspath(project)) if project is not None else None
        self._spec_file: str | None = None
        self._cwd: str | None = path
        if path is not None:
            if os.path.isfile(path):
                self._spec_file, self._cwd = path, os.path.dirname(path)
            elif not os.path.isdir(path):
                raise SandboxError(f"{path}: no such folder or spec file")
        self._quiet = quiet
        self._verbose = verbose
        self._rest: Any = False  # not looked for yet

    # --- the engine ------------------------------------------------------------------

    def _app(self) -> App:
        """A fresh App (the spec read again, as each CLI command reads it)."""
        from podman_sandbox.app import App

        return App(spec_file=self._spec_file, cwd=self._cwd, quiet=self._quiet,
                   verbose=self._verbose, prompt=False, instance=self._instance or None,
                   workspace=self._workspace)

    def _target(self) -> Target:
        from podman_sandbox.locate import locate

        return locate(self._spec_file, self._cwd)

    @property
    def instance(self) -> str | None:
        """The instance this Sandbox drives (None: the project's plain sandbox)."""
        return self._instance or None

    @property
    def project_dir(self) -> str:
        """The host folder mounted at /workspace: the project folder, or an instance's
        own worktree or copy (made here, after the consent check, if it is not yet)."""
        if not self._instance:
            return str(self._target().project_dir)
        app = self._app()
        if app.layout.meta is None:
            from podman_sandbox.engine.instances import ensure

            app.check_consent()  # as a converge does before it makes the workspace
            ensure(app.spec, app.layout, app.out)
        return str(app.spec.project_dir)

    def _serving(self) -> tuple[str, int | None, int | None, str, str]:
        """(container, init pid, memory limit, podman, default workdir) of a running
        sandbox that serves the spec as it is now: the fast path's record when it is
        still good, else after a converge (as `execute`)."""
        from podman_sandbox import fastpath, lite
        from podman_sandbox.engine import record

        target = self._target()
        podman = lite.which("podman")
        if podman is not None:
            rec = record.lookup(record.record_key(target.spec_path, target.project_dir,
                                                  self._instance))
            rec = fastpath.live_record(rec, podman) if rec is not None else None
            if rec is not None:
                return rec["id"], rec["pid"], rec.get("memory"), podman, target.workdir
        app = self._app()
        outcome = app.converge()
        return (app.spec.name, outcome.actual.pid, app.spec.memory, app.runner.executable(),
                app.target.workdir)

    # --- commands --------------------------------------------------------------------

    def stream(self, cmd: str | Sequence[str], *, timeout: float | None = None,
               input: bytes | str | None = None, env: Mapping[str, str] | None = None,
               cwd: str | None = None) -> Execution:
        """Start cmd (a string for `sh -c`, or an argv list) in the sandbox, converging
        first if needed; iterate the result for its output. See run() for the options."""
        from podman_sandbox.engine import execute

        command = _command_text(cmd)
        seconds = _check_timeout(timeout)
        extra = _check_env(env)
        data = input.encode() if isinstance(input, str) else input
        if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
            raise UsageError("input must be bytes or a string")
        container, pid, memory, podman, default_dir = self._serving()
        workdir = confined.workdir(cwd, default_dir)
        stdin = bytes(data) if data else None
        rest = self._rest_connection()

        def run_it() -> Generator[tuple[str, bytes], None, Any]:
            if rest is not None:  # Podman's REST API: no `podman exec` process per command
                from podman_sandbox.engine import restexec

                execution.via = "rest"
                verdict = yield from restexec.capture(
                    rest, container, command, workdir=workdir, input=stdin, env=extra,
                    timeout=seconds, init_pid=pid, memory_limit=memory, podman=podman)
                if verdict is not None:
                    return verdict
                execution.via = "podman exec"  # could not start there: nothing ran
            return (yield from execute.capture(
                container, command, workdir=workdir, input=stdin, env=extra, timeout=seconds,
                init_pid=pid, memory_limit=memory, podman=podman))

        def chunks() -> Generator[tuple[str, bytes], None, Any]:
            if not self._instance:
                return (yield from run_it())
            import time

            from podman_sandbox import instance as inst

            started = time.time()
            verdict = yield from run_it()
            # The instance's command log (`log --instance`), as the CLI's execute writes it.
            inst.append_log(inst.folder(self._target().project_dir, self._instance), started,
                            verdict.code, command)
            return verdict

        execution = Execution(chunks())
        return execution

    def _rest_connection(self) -> Any:
        """The API service's connection (engine/restexec.py), kept for the object's
        life; None when no socket answers (then `podman exec`)."""
        if self._rest is False:
            from podman_sandbox.engine import restexec

            self._rest = restexec.connect() if restexec.socket_path() else None
        return self._rest

    def run(self, cmd: str | Sequence[str], *, timeout: float | None = None,
            input: bytes | str | None = None, env: Mapping[str, str] | None = None,
            cwd: str | None = None) -> RunResult:
        """Run cmd in the sandbox and wait: its exit code, stdout and stderr (bytes, as
        written), whether it timed out or ran out of memory.

        timeout: seconds; then the command and everything it started are stopped
        (exit_code 124). input: all of its stdin (default: empty). env: extra
        environment variables for this command. cwd: its working folder, relative to
        /workspace or under it (default: as `execute` from this folder)."""
        out: list[bytes] = []
        err: list[bytes] = []
        execution = self.stream(cmd, timeout=timeout, input=input, env=env, cwd=cwd)
        for name, data in execution:
            (out if name == "stdout" else err).append(data)
        assert execution.exit_code is not None
        return RunResult(execution.exit_code, b"".join(out), b"".join(err), execution.timed_out,
                         execution.oom_killed, execution.message, execution.via)

    def apply(self, *, force: bool = False, allow: bool = False) -> dict[str, Any]:
        """Converge to the spec and leave the sandbox running (`apply`): what was done, as
        `apply --json` prints it. allow: approve the spec's grants first (`--allow`)."""
        from podman_sandbox.views import applied_dict

        app = self._app()
        outcome = app.converge(force=force, imperative=False, allow=allow)
        return applied_dict(app, outcome)

    def start(self) -> dict[str, Any]:
        """Start the sandbox, creating it if needed (`start`: apply, but in classic mode a
        new folder is remounted as the CLI does)."""
        from podman_sandbox.views import applied_dict

        app = self._app()
        return applied_dict(app, app.converge())

    def plan(self) -> dict[str, Any]:
        """What apply would change, as `plan --json` prints it. Changes nothing."""
        from podman_sandbox.app import check_workspace
        from podman_sandbox.engine.apply import survey
        from podman_sandbox.views import plan_dict

        app = self._app()
        check_workspace(app.spec.project_dir)
        found = survey(app.runner, app.desired)
        return plan_dict(app, found.plan, found.actual.base_image_id)

    def status(self) -> dict[str, Any]:
        """The sandbox as `status --json` shows it."""
        from podman_sandbox.status import status_dict

        app = self._app()
        app.tolerate_invalid_spec()
        return status_dict(app)

    def commit(self) -> str:
        """Save the sandbox's state (`commit`); the tag of the saved state."""
        from podman_sandbox.engine import lifecycle

        app = self._app()
        return str(lifecycle.commit(app.runner, app.desired, app.out))

    def stop(self) -> bool:
        """Stop and remove the container (`stop`; auto_commit commits first). False: none."""
        from podman_sandbox.engine import lifecycle

        app = self._app()
        app.tolerate_invalid_spec()
        stopped = bool(lifecycle.stop(app.runner, app.desired, app.out))
        app.forget_record()
        return stopped

    def reset(self) -> list[str]:
        """Drop the saved state and the container (`reset`); the tags removed."""
        from podman_sandbox.engine import lifecycle

        app = self._app()
        app.tolerate_invalid_spec()
        removed = lifecycle.reset(app.runner, app.desired, app.out)
        app.forget_record()
        return list(removed)

    # --- files under /workspace (confined.py: no .., no symlink, on the host side) -----

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes of a file under /workspace (path relative to it, or absolute under
        it); max_bytes: at most that many, the start of a larger file."""
        return confined.read(self.project_dir, path, max_bytes)

    def write_file(self, path: str, data: bytes | str, *, parents: bool = True) -> int:
        """Write a file under /workspace (a str is written as UTF-8); parents: make the
        missing folders. The bytes written."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return confined.write(self.project_dir, path, raw, parents=parents)

    def list_files(self, path: str = "") -> list[dict[str, Any]]:
        """The entries of a folder under /workspace: name, kind (file, dir, symlink,
        other), size (files only)."""
        return confined.listing(self.project_dir, path)

    # --- context manager ---------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        return None  # left running: see the class's note

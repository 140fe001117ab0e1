"""Entry point: `podman-sandbox` and `python -m podman_sandbox`.

`execute` and `apply` on an in-sync sandbox are served by fastpath.py with the
standard library alone. A plain `execute` it cannot serve (nothing made yet, a
change to converge) runs the same App.run_in_sandbox as the click command, without
loading click; everything else goes to the click CLI.
"""

from __future__ import annotations

import os
import sys


def _terminated(signum, _frame):
    # SIGTERM before or around the command: unwind like Ctrl-C (cleanups run), exit 143.
    raise SystemExit(128 + signum)


def main() -> None:
    argv = sys.argv[1:]
    try:
        from podman_sandbox.lite import signals

        signals.signal(signals.SIGTERM, _terminated)
        from podman_sandbox.fastpath import serve

        code = serve(argv)
    except KeyboardInterrupt:  # Ctrl-C before the command started: nothing to stop
        code = 130
    if code is not None:
        _exit_now(code)  # served by the fast path
    plain = None
    try:
        from podman_sandbox.fastpath import plain_execute

        plain = plain_execute(argv)
        if plain is not None:
            from podman_sandbox.guard import guarded

            code = guarded(lambda: _execute(plain))
        else:
            from podman_sandbox.cli.main import run

            code = run(argv)
    except KeyboardInterrupt:
        code = 130
    if plain is not None:
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown, which costs a command that loaded the
    planner and PyYAML 15 to 30 ms: a plain `execute` (fast path or not) leaves
    nothing to clean up but our own stdio buffers (its locks, reads and temporary
    folders are all closed by the with-blocks that made them; nothing uses atexit)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _execute(opts: dict) -> int:
    """cli/execute.py's command for a plain form: the App the click group would make
    (-f, else PODMAN_SANDBOX_FILE as click's envvar reads it; the instance)."""
    from podman_sandbox.app import App

    app = App(spec_file=opts["file"] or os.environ.get("PODMAN_SANDBOX_FILE") or None,
              instance=opts["instance"] or None)
    return app.run_in_sandbox(opts["command"], interactive=opts["interactive"],
                              timeout=opts["timeout"])


if __name__ == "__main__":
    main()

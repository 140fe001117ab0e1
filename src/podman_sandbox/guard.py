"""The one place an error becomes a line on stderr and an exit code, never a traceback.

Used by the click CLI (cli/main.py, which adds click's own exceptions) and by the
plain `execute` the fast path could not serve (__main__.py), which runs without
click: loading it costs tens of ms on a first execute.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from podman_sandbox.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SandboxError
from podman_sandbox.output import Output, printable


def guarded(call: Callable[[], int]) -> int:
    """call()'s exit code; a SandboxError is its lines and its exit code, Ctrl-C 130, a
    closed output 0, a bug one line (PODMAN_SANDBOX_DEBUG=1 shows the traceback)."""
    try:
        return call()
    except SandboxError as exc:
        lines = exc.lines()
        Output().error(lines[0])
        for line in lines[1:]:
            sys.stderr.write("  " + printable(line, "\t") + "\n")  # one line each
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("PODMAN_SANDBOX_DEBUG"):
            raise
        Output().error(f"internal error: {type(exc).__name__}: {exc} "
                       "(set PODMAN_SANDBOX_DEBUG=1 to see the traceback)")
        return EXIT_INTERNAL

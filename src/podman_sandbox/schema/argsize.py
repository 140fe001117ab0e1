"""What one command line can carry on Linux, so a spec too big for Podman's argv is
refused before anything runs (not with "Argument list too long" after setup ran).

Linux takes at most MAX_ARG_STRLEN bytes per argument (32 pages, the NUL
included) and at most ARG_MAX bytes for all of argv and the environment together
(strings, their NULs and one pointer each). Every spec value that reaches Podman
does so as an argument: an env entry is `--env K=V`, a setup step is `sh -c STEP`,
and the create command's settings label holds env, setup and mounts all at once.

Standard library only.
"""

from __future__ import annotations

import os

MAX_ARG_STRLEN = 131072  # bytes per argument, NUL included (PAGE_SIZE * 32 on Linux)
_POINTER = 8
# Room left for what we do not count exactly (Podman's own re-exec, the label's JSON).
SLACK = 16384


def arg_max() -> int:
    try:
        value = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        value = -1
    return value if value > 0 else 2097152


def arg_bytes(text: str) -> int:
    """What one argument costs: its bytes and the NUL."""
    return len(text.encode("utf-8", "surrogatepass")) + 1


def environ_bytes(env=None) -> int:
    env = os.environ if env is None else env
    return sum(arg_bytes(f"{k}={v}") + _POINTER for k, v in env.items())


def argv_problems(argv: list[str], what: str) -> list[str]:
    """One line per argument too long, and one if the whole command is; [] when it fits."""
    problems = []
    for arg in argv:
        size = arg_bytes(arg)
        if size > MAX_ARG_STRLEN:
            shown = arg[:40].split("=", 1)[0]
            problems.append(f"{what}: one argument ({shown}...) is {size} bytes; Linux passes at "
                            f"most {MAX_ARG_STRLEN} bytes in one argument")
    total = sum(arg_bytes(a) + _POINTER for a in argv) + environ_bytes()
    if total > arg_max() - SLACK:
        problems.append(f"{what}: the command line is {total} bytes with the environment; "
                        f"Linux allows at most {arg_max()} (ARG_MAX)")
    return problems

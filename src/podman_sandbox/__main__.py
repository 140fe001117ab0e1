"""Entry point: `podman-sandbox` and `python -m podman_sandbox`.

`execute` on a running, unchanged sandbox is served by fastpath.py with the
standard library alone; everything else goes to the click CLI.
"""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    from podman_sandbox.fastpath import try_execute

    code = try_execute(argv)
    if code is None:
        from podman_sandbox.cli.main import run

        code = run(argv)
    sys.exit(code)


if __name__ == "__main__":
    main()

"""Progress and notices on stderr, so stdout stays the command's own (or JSON).

What they carry may come from the spec, which the sandbox writes (a setup step,
an env value in Podman's error): control characters are shown as escapes, so
nothing but the tool's own colours reaches the terminal from them."""

from __future__ import annotations

import os
import sys


def is_control(ch: str) -> bool:
    """C0 (newline, ESC), DEL or C1 (U+0080..U+009F; U+009B is CSI, which terminals act
    on like ESC [): what must never reach a terminal from a name someone else chose."""
    return ord(ch) < 32 or 0x7f <= ord(ch) <= 0x9f


def printable(text: str, keep: str = "") -> str:
    """text with every control character but those in keep written as an escape (\\x9b)."""
    return "".join(repr(ch)[1:-1] if is_control(ch) and ch not in keep else ch for ch in text)


class Output:
    def __init__(self, quiet: bool = False, verbose: bool = False):
        self.quiet = quiet
        self.verbose = verbose

    @property
    def color(self) -> bool:
        return sys.stderr.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def step(self, text: str) -> None:
        """Progress: one line per step of long work."""
        if not self.quiet:
            sys.stderr.write(self._paint("==> ", "1;34") + printable(text, "\n\t") + "\n")
            sys.stderr.flush()

    def notice(self, text: str) -> None:
        """Something the user must know even with --quiet (e.g. what is discarded)."""
        sys.stderr.write(self._paint("podman-sandbox: ", "1;33") + printable(text, "\n\t") + "\n")
        sys.stderr.flush()

    def error(self, text: str) -> None:
        sys.stderr.write(self._paint("podman-sandbox: error: ", "1;31") + printable(text, "\n\t") + "\n")
        sys.stderr.flush()

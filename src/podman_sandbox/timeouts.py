"""What `execute --timeout` accepts: one rule for the fast path and the CLI.

A number of seconds, finite, above 0 and at most MAX_SECONDS. The bound keeps
the value far inside what setitimer(2) takes (a float that overflows it, or
inf, used to raise only after the command had started); a month is longer
than any command anyone means to bound. Standard library only (fast path).
"""

from __future__ import annotations

MAX_SECONDS = 30 * 24 * 3600  # 30 days


def parse_timeout(text: str) -> float:
    """The timeout in seconds; ValueError with a one-line reason when text is not one."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = None
    # The range check also turns away nan and inf (nan compares false to everything).
    if value is None or not 0 < value <= MAX_SECONDS:
        raise ValueError(f"--timeout must be a number of seconds above 0 and at most "
                         f"{MAX_SECONDS} (30 days), not {text!r}")
    return value

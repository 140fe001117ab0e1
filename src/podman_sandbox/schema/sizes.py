"""Podman sizes ("512m", "1g", 1048576) to bytes and back."""

from __future__ import annotations

import os
import re

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([bkmg]?)$", re.IGNORECASE)

# Podman refuses memory limits below 6 MiB.
MIN_MEMORY = 6 * 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def parse_size(value: str | int) -> int:
    """Bytes for a Podman size; ValueError when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"not a size: {value!r}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def page_aligned(nbytes: int) -> int:
    """The limit the kernel actually enforces: rounded down to whole pages."""
    return nbytes - nbytes % PAGE


def format_size(nbytes: int | None) -> str:
    """Shortest exact Podman spelling: 67108864 -> '64m'; None -> 'unlimited'."""
    if nbytes is None:
        return "unlimited"
    for unit in ("g", "m", "k"):
        if nbytes % _UNITS[unit] == 0:
            return f"{nbytes // _UNITS[unit]}{unit}"
    return f"{nbytes}b"

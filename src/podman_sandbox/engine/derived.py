"""What changed in a sandbox that is only a cache: never a reason to refuse a discard.

Running a test suite writes __pycache__ folders under site-packages; a package
manager fills /var/cache; nothing there is anyone's work. Paths matching
DEFAULTS or the spec's `ignore_changes:` globs (gitignore-style, see
patterns.py: `/var/log` is anchored at /, `*.whl` matches at any depth) are
left out of the uncommitted changes that make `apply` refuse. A commit still
saves them: `podman commit` takes the whole filesystem.
"""

from __future__ import annotations

from podman_sandbox import patterns

DEFAULTS = ("__pycache__", "*.pyc", "*.pyo", "/tmp", "/var/tmp", "/run", "/var/cache",
            "/root/.cache", "/home/*/.cache")


def rules(spec) -> list:
    return patterns.parse_lines(DEFAULTS + tuple(spec.ignore_changes))


def work(paths, found_rules) -> list[str]:
    """The changed paths that are not derived (paths: absolute, in the container)."""
    return [p for p in paths if not patterns.excluded(found_rules, p.lstrip("/"))]

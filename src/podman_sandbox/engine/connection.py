"""Which Podman engine we talk to: the one definition of the podman argv prefix.

Podman itself reads CONTAINER_HOST (a URL: unix://, tcp://, ssh://) and
CONTAINER_CONNECTION (a name from `podman system connection list`); either
makes it a client of a remote service. `--connection NAME` on our command line
is passed as `podman --connection NAME ...` to every Podman call (runner.py,
and the posix_spawn calls of execute.py, stopping.py and fastpath.py).

On a remote engine the host's /proc and cgroup files are not the sandbox's:
callers ask is_remote() and use what the engine itself tells (inspect, an exec
inside the sandbox) instead. Standard library only, and cheap: the hot path
imports it.
"""

from __future__ import annotations

import os

HOST_ENV = "CONTAINER_HOST"
CONNECTION_ENV = "CONTAINER_CONNECTION"

_chosen: str | None = None  # --connection NAME, for this process


def choose(name: str | None) -> None:
    """Use the named Podman connection for every Podman call of this process."""
    global _chosen
    _chosen = name or None


def options() -> list[str]:
    """The global podman options for the chosen engine (empty: Podman's own default)."""
    return ["--connection", _chosen] if _chosen else []


def argv(podman: str = "podman") -> list[str]:
    """The start of every podman command line: the executable, then options()."""
    return [podman, *options()]


def is_remote() -> bool:
    """Podman is a client of a service that may run on another machine: --connection,
    CONTAINER_HOST or CONTAINER_CONNECTION (Podman's own variables)."""
    return bool(_chosen or os.environ.get(HOST_ENV) or os.environ.get(CONNECTION_ENV))


def describe() -> str:
    """The engine in words, for status and messages."""
    if _chosen:
        return f"remote Podman (connection {_chosen})"
    if os.environ.get(CONNECTION_ENV):
        return f"remote Podman ({CONNECTION_ENV}={os.environ[CONNECTION_ENV]})"
    if os.environ.get(HOST_ENV):
        return f"remote Podman ({HOST_ENV}={os.environ[HOST_ENV]})"
    return "local Podman"

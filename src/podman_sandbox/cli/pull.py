"""podman-sandbox pull DIR: the Pod's /workspace back (Kubernetes)."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.cli.kube import cluster_options


@click.command("pull")
@click.argument("dest", metavar="DIR", type=click.Path())
@cluster_options
@click.pass_obj
def command(app: App, dest: str, where) -> int:
    """Copy /workspace of the sandbox's Pod into DIR, a new folder.

    On Kubernetes /workspace is a copy of the project (kube.workspace): this is
    how its files come back. Only folders and regular files are written (no
    symlinks, devices, setuid bits); nothing is written over: DIR must not exist.

    \b
    Example:
      podman-sandbox pull ../results && diff -r . ../results
    """
    from podman_sandbox.cli.kube import pull

    return pull(app, where, dest)

"""podman-sandbox doctor."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("doctor")
@click.option("--image", metavar="IMAGE",
              help="Probe with this image (it needs sh). Default: one made from the host's busybox.")
@click.pass_obj
def command(app: App, image: str | None) -> int:
    """Check that sandboxes can work on this host, and print the fix for what cannot.

    Checks podman and its version, `podman info`, what rootless Podman needs
    (subordinate ids, newuidmap, XDG_RUNTIME_DIR, /dev/net/tun, cgroup v2),
    then runs a small probe container with the sandbox's options. Known host
    failures are named with their fix; a containers.conf fix is tried before
    it is recommended. Exit 0: sandboxes work here; 122: they cannot yet.

    On a remote engine (CONTAINER_HOST, CONTAINER_CONNECTION, --connection) it
    checks that engine, says so on its first line, and skips what only the
    server's own files could tell.

    \b
    Example:
      podman-sandbox doctor
    """
    from podman_sandbox.engine import doctor

    return doctor.run(app.runner, app.out, image=image)

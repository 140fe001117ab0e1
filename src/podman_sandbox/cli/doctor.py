"""podman-sandbox doctor."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("doctor")
@click.pass_obj
def command(app: App) -> int:
    """Check that sandboxes can work on this host, and print the fix for what cannot.

    \b
    Example:
      podman-sandbox doctor
    """
    from podman_sandbox.engine import doctor

    return doctor.run(app.runner, app.out)

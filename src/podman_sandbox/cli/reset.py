"""podman-sandbox reset."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("reset")
@click.pass_obj
def command(app: App) -> int:
    """Drop the saved state: the next start is fresh from the image (plus setup).

    A running sandbox made from the saved state is removed too (its
    uncommitted changes are listed first), so the next command starts fresh.

    \b
    Example:
      podman-sandbox reset && podman-sandbox start
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.engine import lifecycle

    removed = lifecycle.reset(app.runner, app.desired, app.out)
    app.forget_record()
    if removed:
        for tag in removed:
            click.echo(f"removed {tag}")
    else:
        click.echo("no saved state to remove")
    return 0

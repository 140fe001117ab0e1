"""podman-sandbox stop."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.cli.kube import kube_options


@click.command("stop")
@kube_options
@click.pass_obj
def command(app: App) -> int:
    """Stop the sandbox and remove its container.

    With auto_commit on, its state is committed first, so installed packages
    survive. Otherwise uncommitted changes are discarded, and listed first.

    \b
    Example:
      podman-sandbox stop
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.engine import lifecycle

    stopped = lifecycle.stop(app.runner, app.desired, app.out)
    app.forget_record()
    if not stopped:
        app.out.step(f"{app.spec.name} is not running")
    return 0

"""podman-sandbox commit."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("commit")
@click.pass_obj
def command(app: App) -> int:
    """Save the sandbox's state so installed packages survive a restart.

    The container keeps running. The next start uses the saved state; the
    previous one is kept as a fallback (see `reset`). With no changes since
    the last commit there is nothing to save: exit 1, and both are kept.

    \b
    Example:
      podman-sandbox execute "apk add git" && podman-sandbox commit
    """
    from podman_sandbox.engine import lifecycle

    tag = lifecycle.commit(app.runner, app.desired, app.out)
    click.echo(tag)
    return 0

"""podman-sandbox discard --instance NAME."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("discard")
@click.option("--force", is_flag=True, help="Also when its work is not merged (it is lost).")
@click.pass_obj
def command(app: App, force: bool) -> int:
    """Remove an instance: its container, saved states, worktree or copy, and branch.

    Refused (exit 123) while the instance holds work you have not taken:
    uncommitted or new files, or commits on sandbox/NAME your HEAD does not
    contain (a copy: any change). --force drops them. Changes inside its
    container (outside /workspace) are listed and discarded, as `stop` does.

    \b
    Examples:
      podman-sandbox discard --instance a
      podman-sandbox discard --instance b --force
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.engine import instances

    found = instances.discard(app.runner, app.desired, app.layout, app.out, force=force)
    app.forget_record()
    if not found:
        app.out.step(f"no instance {app.instance!r} here: nothing to discard")
    return 0

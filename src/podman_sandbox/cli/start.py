"""podman-sandbox start."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.cli import report


@click.command("start")
@click.option("--image", metavar="IMAGE",
              help="Use IMAGE from now on (saved as with `configure --image`).")
@click.pass_obj
def command(app: App, image: str | None) -> int:
    """Start the sandbox, creating it if needed (the same as apply).

    \b
    Example:
      podman-sandbox start --image python:3.12-slim
    """
    if image:
        from podman_sandbox.cli.configure import save_settings
        changed = save_settings(app, {"image": image})
        for key, old, new in changed:
            app.out.step(f"{key}: {old or 'unset'} -> {new} (saved in {app.target.spec_path})")
        if not changed:
            app.out.step(f"image: {image} (already set in {app.target.spec_path})")
    outcome = app.converge()
    report.applied(app, outcome, as_json=False)
    return 0

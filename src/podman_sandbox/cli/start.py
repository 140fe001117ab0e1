"""podman-sandbox start."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.cli import report


@click.command("start")
@click.option("--image", metavar="IMAGE",
              help="Use IMAGE from now on (saved as with `configure --image`).")
@click.option("--allow", is_flag=True,
              help="Approve what the spec grants (mounts, capabilities, ...) first.")
@click.pass_obj
def command(app: App, image: str | None, allow: bool) -> int:
    """Start the sandbox, creating it if needed (the same as apply).

    \b
    Example:
      podman-sandbox start --image python:3.12-slim
    """
    from podman_sandbox import settings

    saved = settings.Saved(app.target.spec_path, ())
    if image:
        app.check_consent(allow=allow)  # refused: the image is not saved either
        saved = settings.save(app, {"image": image})
        for key, old, new in saved.changed:
            app.out.step(f"{key}: {settings.shown(old)} -> {settings.shown(new)} "
                         f"(saved in {app.target.spec_path})")
        if not saved.changed:
            app.out.step(f"image: {image} (already set in {app.target.spec_path})")
    with settings.undone_on_failure(app, saved):  # an image that cannot be pulled is not kept
        outcome = app.converge(allow=allow)
    report.applied(app, outcome, as_json=False)
    return 0

"""podman-sandbox local-image."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.localimage import DEFAULT_TAG, build_busybox_image


@click.command("local-image")
@click.option("--tag", default=DEFAULT_TAG, show_default=True, help="Name of the image to make.")
@click.pass_obj
def command(app: App, tag: str) -> int:
    """Make a small busybox image from the host, for machines with no registry.

    \b
    Example:
      podman-sandbox local-image && podman-sandbox configure --image localhost/podman-sandbox/busybox:latest
    """
    app.out.step(f"building {tag} from the host's static busybox")
    image_id = build_busybox_image(app.runner, tag)
    click.echo(f"{tag} {image_id[:12]}")
    return 0

"""podman-sandbox local-image."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.localimage import DEFAULT_TAG, ensure_busybox_image


@click.command("local-image")
@click.option("--tag", default=DEFAULT_TAG, show_default=True, help="Name of the image to make.")
@click.option("--rebuild", is_flag=True,
              help="Import it again even when the image was made from this busybox.")
@click.pass_obj
def command(app: App, tag: str, rebuild: bool) -> int:
    """Make a small busybox image from the host, for machines with no registry.

    Kept as it is when it was made from the host's busybox as it is now: a new
    image would re-run the setup steps of every sandbox on it.

    \b
    Example:
      podman-sandbox local-image && podman-sandbox configure --image localhost/podman-sandbox/busybox:latest
    """
    image_id, made = ensure_busybox_image(app.runner, tag, rebuild=rebuild)
    app.out.step(f"built {tag} from the host's static busybox" if made
                 else f"{tag} is up to date (made from this host's busybox)")
    click.echo(f"{tag} {image_id[:12]}")
    return 0

"""podman-sandbox schema."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("schema")
@click.pass_obj
def command(app: App) -> int:
    """Print the JSON Schema of sandbox.yaml, for editors.

    \b
    Example:
      podman-sandbox schema > .sandbox.schema.json
      # then start sandbox.yaml with:
      # yaml-language-server: $schema=./.sandbox.schema.json
    """
    from importlib import resources

    text = resources.files("podman_sandbox").joinpath("schema/sandbox.schema.json").read_text("utf-8")
    click.echo(text, nl=not text.endswith("\n"))
    return 0

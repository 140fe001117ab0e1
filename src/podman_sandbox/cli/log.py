"""podman-sandbox log --instance NAME."""

from __future__ import annotations

import json

import click

from podman_sandbox.app import App


@click.command("log")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def command(app: App, as_json: bool) -> int:
    """Every command run in an instance: start time (UTC), duration, exit code, command.

    The log is kept in the instance's private folder in your state directory,
    outside the sandbox: code in it can neither read nor rewrite it.

    \b
    Examples:
      podman-sandbox log --instance a
      podman-sandbox log --instance a --json
    """
    from podman_sandbox import instance

    entries = instance.read_log(app.layout.folder)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return 0
    if not entries:
        click.echo(f"No commands run in instance {app.instance} yet.")
        return 0
    for e in entries:
        click.echo(f"{e['time']}  {e['duration']:8.3f}s  exit {e['exit_code']:<3}  {e['command']}")
    return 0

"""podman-sandbox configure: options -> settings.py -> what changed and what was applied."""

from __future__ import annotations

import json

import click

from podman_sandbox import settings
from podman_sandbox.app import App


@click.command("configure")
@click.option("-m", "--memory", metavar="LIMIT", help="Memory limit, e.g. 512m or 1g; 'none' for no limit.")
@click.option("--image", metavar="IMAGE", help="Base image, e.g. python:3.12-slim.")
@click.option("--auto-commit/--no-auto-commit", default=None,
              help="Commit the sandbox's state automatically before it stops.")
@click.option("--cpus", metavar="CORES", help="CPU limit in cores, e.g. 1.5; 'none' for no limit.")
@click.option("--pids-limit", type=click.IntRange(min=0), help="Most processes at once (0: no limit).")
@click.option("--network", type=click.Choice(["bridge", "none", "host"]), help="Sandbox network.")
@click.option("--show", is_flag=True, help="Show the current settings and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --show: print JSON.")
@click.option("--no-restart", is_flag=True,
              help="Only save; a running sandbox picks the change up at its next start or execute.")
@click.pass_obj
def command(app: App, memory: str | None, image: str | None, auto_commit: bool | None,
            cpus: str | None, pids_limit: int | None, network: str | None, show: bool,
            as_json: bool, no_restart: bool) -> int:
    """Change the sandbox's settings and apply them to a running sandbox.

    Prints what changed. A memory or CPU change is applied live (no restart,
    nothing lost); a change baked into the container (image, network, ...)
    re-creates it. A change that cannot be applied (an image that cannot be
    pulled, say) is rolled back, and configure says so. In a project this
    edits sandbox.yaml in place, keeping comments; elsewhere
    ~/.config/podman-sandbox/config.json.

    \b
    Examples:
      podman-sandbox configure --memory 512m
      podman-sandbox configure --image python:3.12-slim --no-restart
      podman-sandbox configure --auto-commit
      podman-sandbox configure --show --json
    """
    updates: dict = {}
    if memory is not None:
        updates["memory"] = settings.parse_memory(memory)
    if cpus is not None:
        updates["cpus"] = settings.parse_cpus(cpus)
    for key, value in (("image", image), ("auto_commit", auto_commit),
                       ("pids_limit", pids_limit), ("network", network)):
        if value is not None:
            updates[key] = value
    if show or not updates:
        view = settings.view(app.spec)
        if as_json:
            click.echo(json.dumps(view, indent=2))
        else:
            for key, value in view.items():
                click.echo(f"{key + ':':13} {value if isinstance(value, str) else json.dumps(value)}")
        return 0

    saved = settings.save(app, updates)
    if not saved.changed:
        click.echo("Nothing changed: the settings already have those values.")
        return 0
    click.echo(f"Updated {app.target.spec_path}:")
    for key, old, new in saved.changed:
        click.echo(f"  {key}: {settings.shown(old)} -> {settings.shown(new)}")
    for grant in saved.approved:  # you typed it: that is consent
        click.echo(f"Approved: {grant.text}")
    ignored = settings.unenforced(app, saved)
    if ignored:  # never shown as applied when this host ignores it (rootless, cgroup v1)
        from podman_sandbox.engine import host
        click.echo(f"Not enforced: {host.describe_limits(ignored)} requested, but {host.NOT_ENFORCED_REASON}")
    if no_restart:
        click.echo("Saved; not applied now (--no-restart).")
        return 0
    outcome = settings.apply_if_running(app, saved)  # rolled back (and says so) if it fails
    if outcome is None:
        click.echo("The sandbox is not running: the settings apply when it next starts.")
        return 0
    for action in outcome.plan.actions:
        click.echo(f"Applied: {action.kind} ({action.change_class}): {action.reason}")
    if outcome.plan.in_sync:
        click.echo("Applied: nothing to change in the running sandbox.")
    return 0

"""podman-sandbox apply."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.cli.kube import kube_options
from podman_sandbox.cli import report


@click.command("apply")
@click.option("--force", is_flag=True,
              help="Go ahead even if uncommitted changes in the sandbox would be discarded.")
@click.option("--allow", is_flag=True,
              help="Approve what the spec grants (mounts, capabilities, ...) first (for CI).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@kube_options
@click.pass_obj
def command(app: App, force: bool, allow: bool, as_json: bool) -> int:
    """Bring the sandbox in line with its spec, and leave it running.

    Pulls the image and runs setup steps when needed, updates limits live,
    re-creates the container when something baked in changed (the new one is
    started before the old one goes). A second apply with nothing changed
    touches nothing. Refuses (exit 123) to discard uncommitted changes unless
    auto_commit is on or --force is given, and to use grants (mounts,
    capabilities, network: host, ...) you have not approved with
    `podman-sandbox allow` or --allow.

    \b
    Example (CI):
      podman-sandbox plan --exit-code || podman-sandbox apply --allow
    """
    outcome = app.converge(force=force, imperative=False, allow=allow)
    report.applied(app, outcome, as_json=as_json)
    return 0

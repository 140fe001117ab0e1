"""podman-sandbox gc."""

from __future__ import annotations

import json
import shlex

import click

from podman_sandbox.app import App
from podman_sandbox.errors import EXIT_PODMAN


@click.command("gc")
@click.option("--yes", "-y", "remove", is_flag=True,
              help="Remove what is listed (without it, gc only lists: a dry run).")
@click.option("--under", metavar="DIR", type=click.Path(file_okay=False),
              help="Only sandboxes of projects at or below DIR (e.g. a CI builds folder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (see docs/json-output.md).")
@click.pass_obj
def command(app: App, remove: bool, under: str | None, as_json: bool) -> int:
    """List, or remove with --yes, sandboxes whose project folder is gone.

    Deleted checkouts and finished CI jobs leave sandboxes behind. gc finds
    the containers podman-sandbox made for project folders that no longer
    exist, their saved states (commit), and setup images nothing uses any
    more. Only containers and images carrying podman-sandbox's labels are
    ever considered; a folder that cannot be read counts as present. The
    classic sandbox's saved state is kept (use `reset`).

    \b
    Examples:
      podman-sandbox gc                      # what would be removed
      podman-sandbox gc --yes                # remove it
      podman-sandbox gc --yes --under /builds
    """
    from podman_sandbox.engine import gc

    orphans = gc.find(app.runner, under=under)
    if remove:
        gc.remove(app.runner, orphans, app.out)
    if as_json:
        click.echo(json.dumps({"dry_run": not remove,
                               "orphans": [o.as_dict() for o in orphans]}, indent=2))
    elif not orphans:
        click.echo("Nothing to collect: every sandbox's project folder exists.")
    else:
        width = max(len(o.kind) for o in orphans)
        for o in orphans:
            status = "" if not remove else ("removed  " if o.removed else "KEPT     ")
            click.echo(f"{status}{o.kind:{width}}  {o.name}  ({o.reason})")
        if not remove:
            # The same scope as this listing: a bare `gc --yes` would collect host-wide.
            again = ["podman-sandbox", "gc", "--yes"] + (["--under", under] if under else [])
            click.echo(f"{len(orphans)} item(s) to collect; run `{shlex.join(again)}` "
                       "to remove them.")
    failed = [o for o in orphans if remove and not o.removed]
    return EXIT_PODMAN if failed else 0

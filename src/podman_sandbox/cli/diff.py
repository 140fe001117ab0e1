"""podman-sandbox diff --instance NAME."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("diff")
@click.option("--stat", "stat_only", is_flag=True, help="Only a summary per file.")
@click.option("--name-status", "names_only", is_flag=True, help="Only the changed paths (A/M/D).")
@click.pass_obj
def command(app: App, stat_only: bool, names_only: bool) -> int:
    """Show what an instance changed against where it started.

    Its commits on sandbox/NAME and its uncommitted and new files (a worktree),
    or every change in its copy, as a patch that `git apply` takes: the way to
    export a copy's work.

    \b
    Examples:
      podman-sandbox diff --instance a
      podman-sandbox diff --instance a --stat
      podman-sandbox diff --instance b > b.patch && git apply b.patch
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.engine import workspace
    from podman_sandbox.errors import SandboxError

    meta = app.layout.meta
    if meta is None:
        raise SandboxError(f"no instance {app.instance!r} of {app.project_spec.project_dir}",
                           hint=f"start it: podman-sandbox execute --instance {app.instance} CMD")
    text = workspace.changes(meta, stat_only=stat_only, names_only=names_only)
    click.echo(text, nl=False)
    return 0

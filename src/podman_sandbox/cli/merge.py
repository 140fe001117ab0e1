"""podman-sandbox merge --instance NAME."""

from __future__ import annotations

import click

from podman_sandbox.app import App


@click.command("merge")
@click.pass_obj
def command(app: App) -> int:
    """Take an instance's work: exactly `git merge sandbox/NAME` in your repository.

    Its uncommitted and new files are first committed on sandbox/NAME (code in
    the sandbox cannot reach the repository's git metadata, so it cannot commit
    itself). Both steps are printed as they run. git runs with hooks and
    fsmonitor off, whatever the repository's config says.

    \b
    Example:
      podman-sandbox diff --instance a && podman-sandbox merge --instance a
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.engine import workspace
    from podman_sandbox.errors import SandboxError

    meta = app.layout.meta
    name = app.instance
    if meta is None:
        raise SandboxError(f"no instance {name!r} of {app.project_spec.project_dir}")
    if meta["mode"] != "worktree":
        raise SandboxError(f"instance {name!r} has a {meta['mode']} workspace, not a git branch",
                           hint=f"copy: `podman-sandbox diff --instance {name} > {name}.patch`, then "
                                "apply it; bind: its work is in the project folder already")
    made = workspace.commit_work(meta, f"podman-sandbox: the work of instance {name}")
    if made:
        app.out.step(f"committed the uncommitted files of instance {name} on {meta['branch']} "
                     f"as {made[:12]}")
    app.out.step(f"running: git merge {meta['branch']} (in {meta['repo']})")
    result = workspace.merge(meta)
    if result.stdout:
        click.echo(result.stdout, nl=False)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise SandboxError(f"git merge {meta['branch']} failed: {last[-1] if last else result.returncode}",
                           hint="resolve it in your repository as with any merge (git status)")
    return 0

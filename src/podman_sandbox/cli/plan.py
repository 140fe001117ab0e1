"""podman-sandbox plan."""

from __future__ import annotations

import json

import click

from podman_sandbox.app import App
from podman_sandbox.cli import report
from podman_sandbox.errors import SandboxError

EXIT_PENDING = 2
EXIT_ERROR = 1


@click.command("plan")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit 0 when in sync, 2 when changes are pending, 1 on error (for CI).")
@click.pass_obj
def command(app: App, as_json: bool, exit_code: bool) -> int:
    """Show what apply would change, why, and the exact podman commands.

    Changes nothing. Each action names its class: live (applied to the
    running container), recreate, rebuild (setup steps), create, start.

    \b
    Example (CI drift check):
      podman-sandbox plan --exit-code
    """
    from podman_sandbox.engine.apply import survey

    from podman_sandbox.app import check_workspace

    try:
        check_workspace(app.spec.project_dir)
        found = survey(app.runner, app.desired)
    except SandboxError as exc:
        if exit_code:
            exc.exit_code = EXIT_ERROR
        raise
    data = report.plan_dict(app, found.plan, found.actual.base_image_id)
    if app.instance and app.layout.meta is None and app.layout.mode != "bind":
        app.out.notice(f"instance {app.instance} has no {app.layout.mode} yet: the first start "
                       f"makes it at {app.layout.mount}"
                       + (f" (git worktree add -b sandbox/{app.instance} from HEAD)"
                          if app.layout.mode == "worktree" else ""))
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        report.print_plan(data, app.spec_file)
    if exit_code and not found.plan.in_sync:
        return EXIT_PENDING
    return 0

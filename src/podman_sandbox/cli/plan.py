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
@click.option("--target", type=click.Choice(["podman", "pod", "sandbox"]), default="podman",
              show_default=True, help="podman: this engine; pod / sandbox: what Kubernetes "
              "would hold of each field (enforced, weaker, refused), see `render`.")
@click.option("--accept-weaker", "accept_weaker", multiple=True, type=click.Choice(["pids_limit"]),
              help="With --target pod|sandbox: as `render --accept-weaker`.")
@click.pass_obj
def command(app: App, as_json: bool, exit_code: bool, target: str,
            accept_weaker: tuple[str, ...]) -> int:
    """Show what apply would change, why, and the exact podman commands.

    Changes nothing. Each action names its class: live (applied to the
    running container), recreate, rebuild (setup steps), create, start.

    \b
    Example (CI drift check):
      podman-sandbox plan --exit-code
    """
    if target != "podman":
        return _kube_plan(app, target, accept_weaker, as_json)
    from podman_sandbox.engine.apply import survey

    from podman_sandbox.app import check_workspace
    from podman_sandbox.engine import connection, remote

    try:
        if connection.is_remote():
            remote.check_spec(app.spec)
        else:
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


def _kube_plan(app: App, target: str, accept_weaker: tuple[str, ...], as_json: bool) -> int:
    """Per field: how the target holds it. Exit 123 when any is refused (render would be)."""
    from podman_sandbox.cli.render import refusal, translation

    found = translation(app, target, accept_weaker, strict=False)
    if as_json:
        click.echo(json.dumps({"target": target, "renders": not found.refused,
                               "fields": [{"field": r.field, "status": r.status, "how": r.how}
                                          for r in found.rows]}, indent=2))
    else:
        click.echo(f"Kubernetes ({target}) for {app.spec.name}:")
        for row in found.rows:
            click.echo(f"  {row.status:9} {row.field:17} {row.how}")
    if found.refused and not as_json:
        raise refusal(found, target)
    return 0

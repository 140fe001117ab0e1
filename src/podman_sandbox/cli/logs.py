"""podman-sandbox logs."""

from __future__ import annotations

import click

from podman_sandbox.app import App
from podman_sandbox.errors import SandboxError


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output as it comes (Ctrl-C ends).")
@click.option("-n", "--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines.")
@click.option("--since", metavar="TIME",
              help="Only output since TIME: a timestamp or a duration such as 10m.")
@click.option("-t", "--timestamps", is_flag=True, help="Prefix each line with its time.")
@click.pass_obj
def command(app: App, follow: bool, tail: int | None, since: str | None, timestamps: bool) -> int:
    """Show the sandbox container's own output (`podman logs`).

    That is what the sandbox's main process and anything writing to it
    (e.g. `> /proc/1/fd/1`) printed; `execute` output goes to your terminal,
    not here. Bytes pass through unchanged.

    \b
    Examples:
      podman-sandbox logs
      podman-sandbox logs --follow --tail 20
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.engine import actual as act
    from podman_sandbox.engine.render import render

    name = app.spec.name
    found = act.observe(app.runner, app.desired)
    if found.state == "missing":
        raise SandboxError(f"no sandbox container {name!r}",
                           hint="start it first: `podman-sandbox start`")
    if not found.managed:
        raise SandboxError(f"a container named {name!r} exists but was not made by podman-sandbox")
    from podman_sandbox.engine import ownership
    ownership.require("sandbox", name, found.labels, app.spec)  # its output is its owner's
    return app.runner.passthrough(render("logs", name=name, follow=follow, tail=tail,
                                         since=since, timestamps=timestamps))

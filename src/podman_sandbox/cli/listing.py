"""podman-sandbox list."""

from __future__ import annotations

import json

import click

from podman_sandbox.app import App
from podman_sandbox.errors import SpecError


def containers(app: App) -> list[dict]:
    from podman_sandbox.engine import answers
    from podman_sandbox.engine.labels import (LABEL_INSTANCE, LABEL_MANAGED, LABEL_PROJECT,
                                              LABEL_ROLE)

    listed = answers.containers(app.runner)
    try:
        current, spec = app.spec.name, app.spec
    except SpecError:
        current, spec = None, None
    from podman_sandbox.engine import ownership
    rows = []
    for c in listed:
        labels = c.get("Labels") or {}
        name = (c.get("Names") or [""])[0]
        sandbox = labels.get(LABEL_MANAGED) == "true" and labels.get(LABEL_ROLE) != "setup"
        rows.append({"name": name, "id": (c.get("Id") or "")[:12], "image": _image(c, sandbox),
                     "state": c.get("State", ""), "sandbox": sandbox,
                     "project": labels.get(LABEL_PROJECT) if sandbox else None,
                     "instance": (labels.get(LABEL_INSTANCE) or None) if sandbox else None,
                     # The one serving this folder: that name, and this folder's (ownership.py).
                     "current": sandbox and name == current and ownership.is_ours(labels, spec)})
    return rows


def _image(container: dict, sandbox: bool) -> str:
    """A sandbox's image as its spec names it (it runs from a setup or state image)."""
    if sandbox:
        from podman_sandbox.engine.labels import LABEL_SPEC
        try:
            return json.loads((container.get("Labels") or {})[LABEL_SPEC])["image"]
        except (KeyError, ValueError, TypeError):
            pass
    return container.get("Image", "")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def command(app: App, as_json: bool) -> int:
    """List all Podman containers, marking sandboxes and the one for this folder (*).

    \b
    Examples:
      podman-sandbox list
      podman-sandbox list --json
    """
    rows = containers(app)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return 0
    if not rows:
        click.echo("No containers.")
        return 0
    width = max(len(r["name"]) for r in rows) + 4
    click.echo(f"  {'NAME':{width}}  {'STATE':9} {'SANDBOX':8} IMAGE")
    instances = [r for r in rows if r["instance"]]

    def show(r, indent=""):
        mark = "*" if r["current"] else " "
        kind = "yes" if r["sandbox"] else "-"
        click.echo(f"{mark} {indent + r['name']:{width}}  {r['state']:9} {kind:8} {r['image']}"
                   + (f"  (instance {r['instance']})" if r["instance"] else ""))

    shown = set()
    for r in rows:  # each project's instances right under its own sandbox
        if r["instance"]:
            continue
        show(r)
        if r["sandbox"]:
            for i in instances:
                if i["project"] == r["project"] and id(i) not in shown:
                    shown.add(id(i))
                    show(i, "  ")
    for project in dict.fromkeys(i["project"] for i in instances if id(i) not in shown):
        click.echo(f"  instances of {project}:")
        for i in instances:
            if i["project"] == project and id(i) not in shown:
                show(i, "  ")
    return 0

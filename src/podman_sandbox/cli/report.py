"""Human renderings of plans and outcomes, shared by plan/apply/start/configure (the data: views.py)."""

from __future__ import annotations

import json
import shlex

import click

from podman_sandbox.app import App
from podman_sandbox.engine.diff import show_value
from podman_sandbox.views import applied_dict, consent_dict, plan_dict  # noqa: F401 - re-exported
from podman_sandbox.output import printable


def _say(text: str) -> None:
    """One line of a human report: what the spec says (env values, setup steps) never
    steers the terminal (output.printable)."""
    click.echo(printable(text))


def print_consent(consent: dict, spec_file: str | None = None) -> None:
    """The grants, each marked approved or not (plan, status)."""
    from podman_sandbox.trust import allow_command

    if not consent["grants"]:
        return
    _say("Grants (beyond a default sandbox):")
    for grant in consent["grants"]:
        _say(f"  [{'approved' if grant['approved'] else 'NOT APPROVED'}] {grant['description']}")
    if consent.get("note"):
        _say(f"  note: {consent['note']}")
    if not consent["approved"]:
        _say(f"  apply, start and execute refuse until you run `{allow_command(spec_file)}`")


def print_plan(data: dict, spec_file: str | None = None) -> None:
    _say(f"Sandbox {data['sandbox']} ({data['source']})")
    print_consent(data["consent"], spec_file)
    if data.get("not_enforced"):
        _say(f"Not enforced here: {', '.join(data['not_enforced'])} "
                   "(rootless Podman cannot set limits on cgroup v1 hosts)")
    if data.get("disk_not_enforced"):
        _say(f"Not enforced here: {data['disk_not_enforced']}")
    if data["in_sync"]:
        _say("In sync: nothing to change.")
        return
    if data["changes"]:
        _say("Changes:")
        for c in data["changes"]:
            _say(f"  {c['field']}: {show_value(c['field'], c['old'])} -> "
                       f"{show_value(c['field'], c['new'])}  [{c['class']}]")
    _say("Actions:")
    for i, a in enumerate(data["actions"], 1):
        _say(f"  {i}. {a['kind']} ({a['class']}): {a['reason']}")
        if a["discards"]:
            _say(f"     discards {len(a['discards'])} uncommitted change(s): "
                       + ", ".join(a["discards"][:5]) + (" ..." if len(a["discards"]) > 5 else ""))
        for note in a.get("notes") or ():
            _say(f"     note: {note}")
        for argv in a["commands"]:
            _say(f"     $ {shlex.join(argv)}")


def applied(app: App, outcome, *, as_json: bool) -> None:
    data = applied_dict(app, outcome)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    elif outcome.plan.in_sync:
        app.out.step(f"{app.spec.name} is running and in sync: nothing changed")
    else:
        app.out.step(f"{app.spec.name} is running ({len(data['actions'])} action(s) done)")

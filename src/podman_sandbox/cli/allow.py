"""podman-sandbox allow."""

from __future__ import annotations

import json

import click

from podman_sandbox.app import App


@click.command("allow")
@click.option("--revoke", is_flag=True, help="Forget the approvals of this project's spec.")
@click.option("--json", "as_json", is_flag=True, help="Print what was approved as JSON.")
@click.pass_obj
def command(app: App, revoke: bool, as_json: bool) -> int:
    """Approve what the spec grants beyond a default sandbox.

    Code in the sandbox can edit /workspace/sandbox.yaml. Whatever the spec
    grants beyond the defaults (each mount, force, added capabilities,
    network: host, a looser pids limit, selinux_label: disable) is used only
    once you approved it here, outside the sandbox. This shows each grant in
    plain words and records them for this project, in your own state folder.
    A spec that only narrows what you approved needs nothing new.

    \b
    Examples:
      podman-sandbox allow
      podman-sandbox allow --revoke
    """
    from podman_sandbox import trust

    if revoke:
        return _revoke(app, as_json)
    spec = app.project_spec  # an instance's grants are its project's
    found = trust.consent(spec)
    path = None
    if found.grants and not found.consented_file:
        path = trust.approve(spec, found)
    if as_json:
        data = trust.Consent(found.grants, ()).as_json() if path else found.as_json()
        click.echo(json.dumps({"source": spec.source, "recorded_in": path, **data}, indent=2))
        return 0
    if not found.grants:
        click.echo(f"{spec.source} grants nothing beyond a default sandbox: nothing to approve.")
        return 0
    if found.consented_file:
        click.echo(f"{spec.source} is your own settings file, which only you can write: "
                   "what it grants needs no approval:")
    else:
        click.echo(f"Approved for {spec.project_dir} ({spec.source}):")
    for grant in found.grants:
        click.echo(f"  {grant.text}")
    if path:
        click.echo(f"Recorded in {path}; `podman-sandbox allow --revoke` forgets it.")
    return 0


def _revoke(app: App, as_json: bool) -> int:
    from podman_sandbox import trust

    app.tolerate_invalid_spec()
    spec = app.project_spec
    had = trust.revoke(spec.project_dir, spec.source)
    app.forget_project_records()  # the fast path must serve none of its containers any more
    if as_json:
        click.echo(json.dumps({"source": spec.source, "revoked": had}, indent=2))
    elif had:
        click.echo(f"Revoked the approvals of {spec.source}. execute, start and apply refuse its "
                   "grants until you allow them again; a running sandbox keeps them until it is "
                   "stopped or re-created.")
    else:
        click.echo(f"{spec.source} had no approvals.")
    return 0

"""podman-sandbox status."""

from __future__ import annotations

import json

import click

from podman_sandbox.app import App


def status_dict(app: App) -> dict:
    from podman_sandbox.engine import actual as act
    from podman_sandbox.engine import cgroup, disk, host, images, ownership, state
    from podman_sandbox.engine.plan import is_in_sync

    spec, desired = app.spec, app.desired
    found = act.observe(app.runner, desired)
    effective = None
    if found.state == "running" and found.pid and not host.rootless_cgroup_v1():
        readable, effective = cgroup.memory_limit(found.pid)
    saved = state.state_images(app.runner, spec)
    current = [s for s in saved if not s.tag.endswith("-prev")]
    # The state a container made now starts from: the one of the base image's id and
    # the setup steps. Others were made on another image or setup and are only kept.
    in_use = (images.state_tag(spec.name, images.setup_key(found.base_image_id, spec.setup,
                                                           found.owner_key))
              if found.base_image_id else None)
    # A container of this name that another project (or config folder) owns: shown as
    # such, never as this sandbox.
    foreign = (ownership.owner_of(found.labels) or "an unknown folder"
               if found.state != "missing" and found.managed
               and not ownership.is_ours(found.labels, spec) else None)
    return {
        "name": spec.name,
        "state": found.state,
        "running": found.state == "running",
        "container_id": found.container_id,
        "image": spec.image,
        "source": spec.source,
        "mode": spec.mode,
        "mount": {"source": spec.project_dir, "target": "/workspace"},
        "workdir": app.target.workdir,
        "memory": {"requested": spec.memory, "effective": effective,
                   "enforced": bool((spec.memory is None and found.state != "running")
                                    or (found.state == "running" and found.memory_enforced
                                        and effective == spec.memory))
                   if not host.rootless_cgroup_v1() else spec.memory is None},
        "cpus": spec.cpus,
        "pids_limit": spec.pids_limit,
        "disk": {"requested": spec.disk, "not_enforced": disk.not_enforced(app.runner, desired.container)},
        "network": spec.network,
        "auto_commit": spec.auto_commit,
        "committed_state": [{"tag": s.tag, "id": s.image_id, "size": s.size, "in_use": s.tag == in_use}
                            for s in current],
        "previous_state": [{"tag": s.tag, "id": s.image_id} for s in saved if s.tag.endswith("-prev")],
        "in_sync": is_in_sync(desired, found),
        "owner": ownership.identity(spec),
        "container_owner": foreign,  # set: the container of this name is another owner's
        # Saved states of this name this owner does not use: another project's, or of
        # the old tag format and not provably ours (`gc` and their owner deal with them).
        "other_owners_state": [s.tag for s in state.state_images(app.runner, spec, ours=False)],
        # Limits requested but ignored by this host (rootless Podman on cgroup v1).
        "not_enforced": sorted(host.unenforced_limits(desired.container)),
        # What the spec grants beyond a default sandbox, and whether each is approved.
        "consent": _consent(spec),
    }


def _consent(spec) -> dict:
    from podman_sandbox.cli.report import consent_dict
    return consent_dict(spec)


def _limit(data: dict, key: str) -> str:
    if not data[key]:
        return "no limit"
    if key in data["not_enforced"]:
        return f"{data[key]} requested, NOT enforced: rootless Podman cannot set limits on cgroup v1 hosts"
    return str(data[key])


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys, see README).")
@click.pass_obj
def command(app: App, as_json: bool) -> int:
    """Show the sandbox: running or not, image, effective limits, mount, saved state.

    The memory limit shown is read from the container's cgroup, which is what
    the kernel enforces (Podman's own reports go stale after a live update).

    \b
    Examples:
      podman-sandbox status
      podman-sandbox status --json
    """
    app.tolerate_invalid_spec()
    from podman_sandbox.engine import host
    from podman_sandbox.schema.sizes import format_size

    data = status_dict(app)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return 0
    mem = data["memory"]
    if mem["requested"] is None and mem["effective"] is not None:
        memory = (f"{format_size(mem['effective'])} (effective, from the cgroup); no limit "
                  "requested: run `podman-sandbox apply`")
    elif mem["requested"] is None:
        memory = "no limit"
    elif host.rootless_cgroup_v1():
        memory = (f"{format_size(mem['requested'])} requested, NOT enforced: rootless Podman "
                  "cannot set limits on cgroup v1 hosts")
    elif mem["effective"] is None and data["state"] != "running":
        memory = f"{format_size(mem['requested'])} (applies when running)"
    else:
        memory = f"{format_size(mem['effective'])} (effective, from the cgroup)"
        if not mem["enforced"]:
            memory += f"; {format_size(mem['requested'])} requested: run `podman-sandbox apply`"
    used = [s["tag"] for s in data["committed_state"] if s["in_use"]]
    others = [s["tag"] for s in data["committed_state"] if not s["in_use"]]
    sandbox = f"{data['name']} ({'not running, no container' if data['state'] == 'missing' else data['state']})"
    if data["container_owner"]:
        sandbox = (f"{data['name']}: the container of this name belongs to "
                   f"{data['container_owner']}, not to {data['owner']}; choose another `name:`")
    rows = [
        ("Sandbox", sandbox),
        ("Governed by", f"{data['source']} ({data['mode']})"),
        ("Image", data["image"]),
        ("Mount", f"{data['mount']['source']} -> /workspace"),
        ("Memory", memory),
        ("CPUs", _limit(data, "cpus")),
        ("Pids limit", _limit(data, "pids_limit")),
        ("Disk", "no limit" if not data["disk"]["requested"] else
         (data["disk"]["not_enforced"] or "").removeprefix("disk: ")
         or f"{format_size(data['disk']['requested'])} (Podman's storage enforces it)"),
        ("Network", data["network"]),
        ("Saved state", f"{used[0]} (in use)" if used else "none for this image and setup "
         "(a new container starts fresh)"),
        *([("Other saved states", ", ".join(others) + " (made on another image or setup; "
            "not used, `podman-sandbox reset` removes them)")] if others else []),
        *([("Not yours", ", ".join(data["other_owners_state"]) + " (saved states of this name "
            "that another project or config folder made, never used; or of the old tag format, "
            "adopted by your next start when their labels name this folder)")]
          if data["other_owners_state"] else []),
        ("Auto-commit", "on" if data["auto_commit"] else "off"),
        ("In sync", "yes" if data["in_sync"] else "no (see `podman-sandbox plan`)" if data["running"]
         else "- (not running)"),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':13} {value}")
    from podman_sandbox.cli.report import print_consent
    print_consent(data["consent"], app.spec_file)
    return 0

"""What plan, apply and status report, as data: the CLI prints it (or its JSON,
docs/json-output.md), the Python API returns it. No click here."""

from __future__ import annotations

from podman_sandbox.app import App
from podman_sandbox.engine.plan import Plan


def plan_dict(app: App, plan: Plan, base_id: str | None) -> dict:
    from podman_sandbox.engine.steps import commands_for

    desired = app.desired
    return {
        "sandbox": desired.spec.name,
        "source": desired.spec.source,
        "mode": desired.spec.mode,
        "in_sync": plan.in_sync,
        "changes": [{"field": c.field, "old": c.old, "new": c.new, "class": c.change_class}
                    for c in plan.changes],
        "actions": [{"kind": a.kind, "class": a.change_class, "reason": a.reason,
                     "discards": list(a.discards),
                     "notes": list(a.notes),
                     "commands": [cmd.argv for cmd in commands_for(a, desired, base_id)]
                     if a.kind != "commit" else []}
                    for a in plan.actions],
        # Limits requested but ignored by this host (rootless Podman on cgroup v1).
        "not_enforced": sorted(_unenforced(desired.container)),
        # What the spec grants beyond a default sandbox, and whether each is approved.
        "consent": consent_dict(desired.spec),
        "disk_not_enforced": _disk_note(app, desired.container),
    }


def consent_dict(spec) -> dict:
    from podman_sandbox import trust
    return trust.consent(spec).as_json()


def applied_dict(app: App, outcome) -> dict:
    return {"sandbox": app.spec.name, "changed": not outcome.plan.in_sync,
            "actions": [{"kind": a.kind, "class": a.change_class, "reason": a.reason,
                         "notes": list(a.notes)}
                        for a in outcome.plan.actions],
            "state": outcome.actual.state, "container_id": outcome.actual.container_id,
            # Limits requested but ignored by this host (rootless Podman on cgroup v1).
            "not_enforced": sorted(getattr(outcome, "not_enforced", None) or ())}


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
        "consent": consent_dict(spec),
    }


def _disk_note(app: App, container: dict) -> str | None:
    from podman_sandbox.engine import disk
    return disk.not_enforced(app.runner, container)


def _unenforced(container: dict) -> dict:
    from podman_sandbox.engine import host
    return host.unenforced_limits(container)

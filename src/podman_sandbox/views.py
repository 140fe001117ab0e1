"""What plan and apply report, as data: the CLI prints it (or its JSON,
docs/json-output.md), the Python API returns it. No click here. (status's data:
status.py.)"""

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
                     # Exactly what apply runs for it (steps.commands_for).
                     "commands": [cmd.argv for cmd in commands_for(a, desired, base_id)]}
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


def _disk_note(app: App, container: dict) -> str | None:
    from podman_sandbox.engine import disk
    return disk.not_enforced(app.runner, container)


def _unenforced(container: dict) -> dict:
    from podman_sandbox.engine import host
    return host.unenforced_limits(container)

"""What differs between actual and desired, field by field, and how each is applied.

Change classes:
  live     - applied to the running container (podman update): memory, cpus
  rebuild  - the setup steps changed: re-run them from the base, re-create
  recreate - baked in at create time: image, env, mounts, limits podman cannot
             update, network, user, ...
"""

from __future__ import annotations

import json

from dataclasses import dataclass

from podman_sandbox.engine.desired import LIVE_FIELDS, REBUILD_FIELDS


@dataclass(frozen=True)
class Change:
    """One field that differs between the desired and the actual sandbox, and how it is applied."""
    field: str
    old: object
    new: object
    change_class: str  # live | rebuild | recreate
    detail: str = ""  # inputs: the files that changed, when known

    def describe(self) -> str:
        if self.field == "inputs":
            if self.old is None or self.new is None:
                return f"setup: inputs {'declared' if self.old is None else 'removed'}"
            return f"setup: {self.detail or 'inputs'} changed"
        return f"{self.field}: {show_value(self.field, self.old)} -> {show_value(self.field, self.new)}"


def show_value(field: str, value) -> str:
    """A field's value as people read it: 64m, none, /a:/workspace, JSON for the rest."""
    if field == "memory":
        from podman_sandbox.schema.sizes import format_size
        return format_size(value)
    if value is None:
        return "none"
    if field == "inputs" and isinstance(value, str):
        return f"content {value[:12]}"
    if field == "mounts" and isinstance(value, list):
        return ", ".join(f"{m.get('source')}:{m.get('target')}{':ro' if m.get('read_only') else ''}"
                         for m in value) or "none"
    return json.dumps(value, sort_keys=True)


def classify(field: str, old: object = None, new: object = None) -> str:
    if field in LIVE_FIELDS:
        # Podman cannot lift a limit from a running container (`update --memory 0`
        # and `--cpus 0` succeed and change nothing): removing one re-creates.
        return "recreate" if new is None and old is not None else "live"
    if field in REBUILD_FIELDS:
        return "rebuild"
    return "recreate"


def changes(observed: dict, desired: dict) -> list[Change]:
    """Top-level fields whose values differ, in a stable order (deepdiff finds them)."""
    from deepdiff import DeepDiff

    diff = DeepDiff(observed, desired, ignore_order=False, verbose_level=2)
    fields: set[str] = set()
    for paths in diff.values():
        for path in (paths if isinstance(paths, (dict, list, set)) else ()):
            # "root['env']['A']" -> "env"
            text = str(path)
            if text.startswith("root["):
                fields.add(text[5:].split("]", 1)[0].strip("'\""))
    order = list(desired)
    return [Change(f, observed.get(f), desired.get(f), classify(f, observed.get(f), desired.get(f)))
            for f in sorted(fields, key=lambda f: order.index(f) if f in order else len(order))]

"""What the plan needs besides the sandbox container: leftovers of a killed run, the
saved-state images a commit or a create touches, the images a rebuild replaces.

Looked at once the core plan (engine/plan.make_plan) is known and not empty, so
that the housekeeping of a converge (plan.with_housekeeping) is decided with the
rest of the plan, before anything runs, and `plan` shows it. A few `podman
inspect` calls; none when in sync.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import images, ownership
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.plan import Plan
from podman_sandbox.engine.render import render
from podman_sandbox.engine.runner import Runner


@dataclass(frozen=True)
class ImageFacts:
    id: str
    tags: tuple[str, ...]
    layers: int
    ours: bool  # carries this owner's labels (ownership.is_ours)


@dataclass(frozen=True)
class Around:
    leftovers: tuple[str, ...] = ()  # NAME-setup / NAME-next of a killed run, this owner's
    images: dict[str, ImageFacts] = field(default_factory=dict)  # by the tag or id looked up
    container_layers: int | None = None  # of the image the sandbox container runs on
    squash_at: int = 100  # state.squash_threshold() when observed


def _inspect_one(runner: Runner, ref: str) -> dict | None:
    result = runner.run(render("inspect", names=[ref]), what="podman inspect", check=False)
    try:
        data = json.loads(result.stdout or "[]") or []
    except json.JSONDecodeError:
        return None
    return data[0] if data else None


def _facts(info: dict | None, spec) -> ImageFacts | None:
    if not info or "State" in info:  # absent, or a container of that name
        return None
    return ImageFacts(info.get("Id", ""), tuple(info.get("RepoTags") or ()),
                      len((info.get("RootFS") or {}).get("Layers") or ()),
                      ownership.is_ours(info.get("Labels"), spec))


def leftovers(runner: Runner, desired: Desired) -> tuple[str, ...]:
    """NAME-setup and NAME-next that podman-sandbox made for this owner, in one inspect;
    another owner's half-built sandbox is refused (ownership.require), never removed."""
    from podman_sandbox.engine.steps import next_name, setup_container_name

    name = desired.spec.name
    names = [setup_container_name(name), next_name(name)]
    result = runner.run(render("inspect", names=names), what="podman inspect", check=False)
    try:
        found = json.loads(result.stdout or "[]") or []
    except json.JSONDecodeError:
        return ()
    left = []
    for info in found:
        labels = (info.get("Config") or {}).get("Labels") or {}
        if info.get("Name") in names and "State" in info and labels.get(act.LABEL_MANAGED) == "true":
            ownership.require("container", info["Name"], labels, desired.spec)
            left.append(info["Name"])
    return tuple(left)


def observe(runner: Runner, desired: Desired, actual: act.Actual, plan: Plan) -> Around:
    """The facts plan.with_housekeeping needs for plan (a core plan of make_plan)."""
    from podman_sandbox.engine import state, superseded

    spec = desired.spec
    refs: list[str] = []
    container_layers = None
    for action in plan.actions:
        key = action.params.get("key", "")
        if action.kind == "commit":
            refs += [images.state_tag(spec.name, key), images.previous_state_tag(spec.name, key)]
            info = _inspect_one(runner, actual.container_id or spec.name)
            image = (info or {}).get("Image")
            facts = _facts(_inspect_one(runner, image), spec) if image else None
            container_layers = facts.layers if facts else None
        elif action.kind in ("create", "replace"):
            refs.append(action.params["image"])
            refs += superseded.replaced_tags(actual, desired)
    found = {}
    for ref in dict.fromkeys(refs):
        facts = _facts(_inspect_one(runner, ref), spec)
        if facts:
            found[ref] = facts
    return Around(leftovers(runner, desired), found, container_layers, state.squash_threshold())

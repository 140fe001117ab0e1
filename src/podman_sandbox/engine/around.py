"""What the plan needs besides the sandbox container: leftovers of a killed run, the
saved-state images a commit or a create touches, the images a rebuild replaces.

Looked at once the core plan (engine/plan.make_plan) is known and not empty, so
that the housekeeping of a converge (plan.with_housekeeping) is decided with the
rest of the plan, before anything runs, and `plan` shows it. A few `podman
inspect` calls; none when in sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import answers, images, ownership
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.plan import Plan
from podman_sandbox.engine.runner import Runner


@dataclass(frozen=True)
class ImageFacts:
    """What the plan needs to know of one image."""
    id: str
    tags: tuple[str, ...]
    layers: int
    ours: bool  # carries this owner's labels (ownership.is_ours)


@dataclass(frozen=True)
class Around:
    """What is around the sandbox container: leftovers of a killed run and the images the
    plan touches."""
    leftovers: tuple[str, ...] = ()  # NAME-setup / NAME-next of a killed run, this owner's
    images: dict[str, ImageFacts] = field(default_factory=dict)  # by the tag or id looked up
    container_layers: int | None = None  # of the image the sandbox container runs on
    squash_at: int = 100  # state.squash_threshold() when observed


def _facts(info: dict | None, spec) -> ImageFacts | None:
    if answers.kind(info) != "image":  # absent, or a container (or pod) of that name
        return None
    assert info is not None
    return ImageFacts(info.get("Id", ""), tuple(info.get("RepoTags") or ()),
                      len((info.get("RootFS") or {}).get("Layers") or ()),
                      ownership.is_ours(answers.labels_of(info), spec))


def _leftover_names(desired: Desired) -> list[str]:
    from podman_sandbox.engine.names import next_name, setup_container_name

    return [setup_container_name(desired.spec.name), next_name(desired.spec.name)]


def _leftovers(desired: Desired, names: list[str], entries: list[dict | None]) -> tuple[str, ...]:
    """Of names, the containers podman-sandbox made for this owner (an image that answers
    for a name is no leftover: only a container holds a container's name); another
    owner's half-built sandbox is refused (ownership.require), never removed."""
    left = []
    for asked, info in zip(names, entries):
        found = answers.container(info)
        if found is not None and found.managed:
            ownership.require("container", asked, found.labels, desired.spec)
            left.append(asked)
    return tuple(left)


def leftovers(runner: Runner, desired: Desired) -> tuple[str, ...]:
    """NAME-setup and NAME-next of a killed run that are this owner's, in one inspect."""
    names = _leftover_names(desired)
    return _leftovers(desired, names, answers.inspect(runner, names))


def observe(runner: Runner, desired: Desired, actual: act.Actual, plan: Plan,
            known: dict[str, dict | None] | None = None) -> Around:
    """The facts plan.with_housekeeping needs for plan (a core plan of make_plan).
    known: what the survey's own inspect answered, by name (the leftovers' names and
    the base image among them): not asked again."""
    from podman_sandbox.engine import state, superseded

    spec = desired.spec
    refs: list[str] = []
    container_layers = None
    for action in plan.actions:
        key = action.params.get("key", "")
        if action.kind == "commit":
            refs += [images.state_tag(spec.name, key), images.previous_state_tag(spec.name, key)]
            info = answers.inspect_one(runner, actual.container_id or spec.name)
            image = (info or {}).get("Image") if answers.kind(info) == "container" else None
            facts = _facts(answers.inspect_one(runner, image), spec) if image else None
            container_layers = facts.layers if facts else None
        elif action.kind in ("create", "replace"):
            refs.append(action.params["image"])
            refs += superseded.replaced_tags(actual, desired)
    # The leftovers and the images in one inspect (each answer is matched to its name),
    # of those the survey's inspect has not answered (none, for a first create).
    names = _leftover_names(desired)
    wanted = [ref for ref in dict.fromkeys(refs) if ref not in names]
    answered = dict(known or {})
    ask = [ref for ref in names + wanted if ref not in answered]
    if ask:
        answered.update(zip(ask, answers.inspect(runner, ask)))
    entries = [answered[ref] for ref in names + wanted]
    found = {}
    for ref, info in zip(wanted, entries[len(names):]):
        facts = _facts(info, spec)
        if facts:
            found[ref] = facts
    return Around(_leftovers(desired, names, entries[:len(names)]), found, container_layers,
                  state.squash_threshold())

"""Committed state: save a sandbox's filesystem, keep one generation back, drop it.

The state image is tagged per sandbox and per base (see images.py). A commit
first tags the current state as <key>-prev, then writes the new one: if the
commit is interrupted, the current tag still names the last good state.

Every commit of a container made from a state adds one layer on top of it,
and Podman's overlay storage cannot run an image of more than 128 layers
("max depth exceeded"). So before a container is made from a state whose
chain is long, the state is squashed into one layer (a squash action of the
plan, or a squashed commit: plan.with_housekeeping): rarely, since it takes
about a hundred start/commit cycles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import answers, images, ownership
from podman_sandbox.engine.render import render
from podman_sandbox.engine.runner import Runner
from podman_sandbox.engine.steps import commit_commands

# Squash a state image of this many layers or more before a container is made from it
# (overlay runs at most 128). PODMAN_SANDBOX_SQUASH_AT_LAYERS overrides it (tests).
SQUASH_AT_LAYERS = 100


@dataclass
class StateImage:
    """One saved state (a committed generation) of a sandbox."""
    tag: str
    image_id: str
    size: int
    created: str


def state_images(runner: Runner, spec, *, ours: bool = True) -> list[StateImage]:
    """Committed generations of the sandbox, every base: this owner's (tag prefix and
    image labels both say so), or with ours=False every other one of that name
    (another project's, or an old-format one not provably ours: listed, never used)."""
    return states_in(act.list_images(runner, images.state_repo(spec.name)), spec, ours=ours)


def states_in(rows: list[dict], spec, *, ours: bool = True) -> list[StateImage]:
    """state_images from rows `podman images` gave for the sandbox's state repository
    (one listing serves both owners' views)."""
    found = []
    repo = images.state_repo(spec.name)
    prefix = f"{repo}:{ownership.spec_owner_hash(spec)}-"
    for img in rows:
        mine = ownership.is_ours(img.get("Labels"), spec)
        for tag in img.get("Names") or img.get("names") or ():
            if tag.startswith(repo + ":") and (mine and tag.startswith(prefix)) == ours:
                found.append(StateImage(tag, img.get("Id", ""), img.get("Size", 0),
                                        str(img.get("CreatedAt", img.get("Created", "")))))
    return sorted(found, key=lambda s: s.tag)


def adopt_legacy(runner: Runner, spec, legacy=None) -> int:
    """Move this owner's saved states of the old tag format ("<key>", no owner) to the
    new one; legacy: act.Actual.legacy_states when already listed. Only states whose
    labels name this owner move (ownership.adoptable_legacy_tag). Returns how many."""
    if legacy is None:
        legacy = act._state_tags(runner, spec)[1]
    for image, old, new in legacy:
        runner.run(render("tag", image=image, tag=new), what=f"adopt the saved state {old}")
        runner.run(render("untag", image=image, tag=old), what=f"adopt the saved state {old}",
                   check=False)
    return len(legacy)


def _inspect_image(runner: Runner, ref: str) -> dict | None:
    """The image ref names; None when there is none (a failing Podman raises)."""
    found = answers.inspect_one(runner, ref)
    return found if answers.kind(found) == "image" else None


def image_id(runner: Runner, ref: str) -> str | None:
    found = _inspect_image(runner, ref)
    return found.get("Id") if found else None


def squash_threshold() -> int:
    try:
        return max(2, int(os.environ.get("PODMAN_SANDBOX_SQUASH_AT_LAYERS", "")))
    except ValueError:
        return SQUASH_AT_LAYERS


def commit(runner: Runner, spec, container: str, key: str, base_id: str) -> str:
    """Save container as the state for (spec.name, key); returns the tag.

    Callers check first that there is something new to commit (lifecycle, plan):
    each commit pushes the last good state to -prev and drops the one before."""
    name = spec.name
    tag = images.state_tag(name, key)
    prev_tag = images.previous_state_tag(name, key)
    current_id = image_id(runner, tag)
    old_prev_id = image_id(runner, prev_tag)
    # The generation before the previous one is untagged by the commit: drop it unless in use.
    drop = old_prev_id if old_prev_id and old_prev_id != current_id else None
    for cmd in commit_commands(spec, container, key, base_id, previous_exists=current_id is not None,
                               drop=drop):
        runner.run(cmd.argv, what=cmd.what, check=cmd.check)
    return tag


def reset(runner: Runner, spec) -> list[StateImage]:
    """Untag every committed state of this owner's sandbox and remove the images no
    container uses. Another owner's states of the same name are never touched."""
    removed = state_images(runner, spec)
    for img in removed:
        runner.run(render("untag", image=img.image_id, tag=img.tag), what=f"untag {img.tag}")
    for image in {img.image_id for img in removed}:
        runner.run(render("rmi", image=image), what="remove a state image", check=False)
    return removed

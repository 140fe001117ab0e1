"""Committed state: save a sandbox's filesystem, keep one generation back, drop it.

The state image is tagged per sandbox and per base (see images.py). A commit
first tags the current state as <key>-prev, then writes the new one: if the
commit is interrupted, the current tag still names the last good state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import images
from podman_sandbox.engine.render import render
from podman_sandbox.engine.runner import Runner
from podman_sandbox.engine.steps import commit_commands


@dataclass
class StateImage:
    tag: str
    image_id: str
    size: int
    created: str


def state_images(runner: Runner, name: str) -> list[StateImage]:
    """All committed generations of one sandbox, every base."""
    found = []
    for img in act.list_images(runner, images.state_repo(name)):
        for tag in img.get("Names") or img.get("names") or ():
            if tag.startswith(images.state_repo(name) + ":"):
                found.append(StateImage(tag, img.get("Id", ""), img.get("Size", 0),
                                        str(img.get("CreatedAt", img.get("Created", "")))))
    return sorted(found, key=lambda s: s.tag)


def image_id(runner: Runner, ref: str) -> str | None:
    result = runner.run(render("inspect", names=[ref]), what="podman inspect", check=False)
    try:
        data = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return None
    return data[0].get("Id") if data else None


def commit(runner: Runner, name: str, container: str, key: str, base_id: str) -> str:
    """Save container as the state for (name, key); returns the tag."""
    tag = images.state_tag(name, key)
    prev_tag = images.previous_state_tag(name, key)
    current_id = image_id(runner, tag)
    old_prev_id = image_id(runner, prev_tag)
    for cmd in commit_commands(name, container, key, base_id, previous_exists=current_id is not None):
        runner.run(cmd.argv, what=cmd.what)
    # The generation before the previous one is now untagged: drop it unless in use.
    if old_prev_id and old_prev_id != current_id:
        runner.run(render("rmi", image=old_prev_id), what="remove an old state", check=False)
    return tag


def reset(runner: Runner, name: str) -> list[StateImage]:
    """Untag every committed state of the sandbox and remove the images no container uses."""
    removed = state_images(runner, name)
    for img in removed:
        runner.run(render("untag", image=img.image_id, tag=img.tag), what=f"untag {img.tag}")
    for image in {img.image_id for img in removed}:
        runner.run(render("rmi", image=image), what="remove a state image", check=False)
    return removed

"""Images a rebuild leaves behind: the setup result (or built base image) it replaced.

When a converge makes the sandbox from a new setup or build image, its plan
ends by removing the one the old container was made from (plan.with_housekeeping,
the remove-replaced action): never with --force, so Podman itself keeps an image
a container still runs on or another image (a saved state committed on top of
it, another build's FROM) is made from. Only our own tags, carrying this owner's
labels, are touched (engine/around.py looks at the labels).
"""

from __future__ import annotations

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import answers, images, ownership
from podman_sandbox.engine.labels import LABEL_MANAGED
from podman_sandbox.engine.runner import Runner


def replaced_tags(before: act.Observed, desired) -> list[str]:
    """The setup and built images the container in before was made from, when the
    desired state now uses other ones."""
    if before.state == "missing" or not before.managed or before.observed is None:
        return []
    old = []
    if before.observed.get("setup") and before.built_from_base_id:
        tag = images.setup_tag(act.container_state_key(before))
        if before.base_image_id is None or tag != images.setup_tag(images.setup_key(
                before.base_image_id, desired.spec.setup, before.owner_key, desired.inputs_digest)):
            old.append(tag)
    image = before.observed.get("image") or ""
    if image.startswith(images.BUILD_REPO + ":") and image != desired.spec.image:
        old.append(image)
    return old


def owner_images(runner: Runner, spec) -> list[dict]:
    """This owner's setup, built and saved-state images (for `status`)."""
    found = {}
    for img in answers.managed_images(runner, LABEL_MANAGED):
        tags = img.get("Names") or img.get("names") or ()
        ours = ownership.is_ours(img.get("Labels"), spec) and any(
            t.startswith((images.SETUP_REPO + ":", images.BUILD_REPO + ":",
                          images.state_repo(spec.name) + ":")) for t in tags)
        if ours:
            found[img.get("Id")] = img
    return list(found.values())

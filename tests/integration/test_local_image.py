"""`podman-sandbox local-image`: a second run keeps the image it made (an import makes
a new image id each time, and a new base image id re-runs every sandbox's setup);
`--rebuild` makes it again."""

from __future__ import annotations

import uuid

from harness import podman, remove_images


def _id(tag: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def test_a_second_local_image_keeps_the_image_and_rebuild_makes_a_new_one(sandbox):
    tag = f"localhost/pstest-local-image/busybox:{uuid.uuid4().hex[:8]}"
    made = []
    try:
        first = sandbox.ok("local-image", "--tag", tag)
        made.append(_id(tag))
        assert "built" in first.stderr and first.stdout.split() == [tag, made[0][:12]]
        again = sandbox.ok("local-image", "--tag", tag)
        assert "up to date" in again.stderr, again.stderr
        assert _id(tag) == made[0]
        rebuilt = sandbox.ok("local-image", "--tag", tag, "--rebuild")
        made.append(_id(tag))
        assert "built" in rebuilt.stderr and made[1] != made[0]
    finally:
        remove_images(made)

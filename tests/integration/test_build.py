"""`build:` on real Podman: the base image from the project's Containerfile, offline
(FROM localhost/...), cached by the context's content, rebuilt when a file in it
changes (not when .containerignore excludes it), setup on top, args as one value."""

from __future__ import annotations

import json

import pytest
from harness import podman, remove_images

REFUSED = 123
SPEC_ERROR = 121


@pytest.fixture
def project(sandbox):
    yield sandbox
    # Built images carry the project label (not the test image's id): remove ours.
    sandbox.cleanup()
    out = podman("images", "--format", "json", "--filter",
                 f"label=io.podman-sandbox.project={sandbox.project}", check=False).stdout
    remove_images([img["Id"] for img in json.loads(out or "[]") or []])


def _builds(sandbox) -> list[str]:
    out = podman("images", "--format", "json", "--filter",
                 f"label=io.podman-sandbox.project={sandbox.project}", check=False).stdout
    return sorted(t for img in json.loads(out or "[]") or [] for t in img.get("Names") or ()
                  if t.startswith("localhost/podman-sandbox-build:"))


def _write(sandbox, *, arg="hello there"):
    (sandbox.project / "Containerfile").write_text(
        f"FROM {sandbox.image}\nARG GREETING=unset\nCOPY app.txt /app.txt\n"
        "RUN echo \"$GREETING\" > /greeting\n")
    (sandbox.project / ".containerignore").write_text("notes.txt\n")
    sandbox.write_spec("build:\n  containerfile: Containerfile\n"
                       f"  args: {{GREETING: {json.dumps(arg)}}}\n"
                       "setup:\n  - cp /greeting /root/from-setup\n")


def test_a_containerfile_builds_offline_is_cached_and_rebuilds_when_its_context_changes(project):
    sandbox = project
    (sandbox.project / "app.txt").write_text("v1\n")
    _write(sandbox)
    plan = sandbox.run("plan", "--exit-code")
    assert plan.returncode == 2 and "build (image): build: no image built" in plan.stdout, plan
    sandbox.ok("apply")
    seen = sandbox.ok("execute", "cat /app.txt /greeting /root/from-setup").stdout
    assert seen == "v1\nhello there\nhello there\n"  # the arg reached podman as one value
    first = _builds(sandbox)
    assert len(first) == 1

    # Cached: nothing to do, and an excluded file changes nothing either.
    (sandbox.project / "notes.txt").write_text("scratch\n")
    assert sandbox.run("plan", "--exit-code").returncode == 0
    assert sandbox.ok("apply") and _builds(sandbox) == first

    (sandbox.project / "app.txt").write_text("v2\n")
    plan = sandbox.run("plan", "--exit-code")
    assert plan.returncode == 2
    assert "build: app.txt changed in the context of Containerfile" in plan.stdout, plan.stdout
    # execute notices it too (the record re-checks the context's stat data).
    assert sandbox.ok("execute", "cat /app.txt /root/from-setup").stdout == "v2\nhello there\n"
    second = _builds(sandbox)
    assert len(second) == 1 and second != first  # the replaced build went with the rebuild


def test_a_containerfile_asking_for_a_shared_cache_mount_is_refused(project):
    sandbox = project
    (sandbox.project / "Containerfile").write_text(
        f"FROM {sandbox.image}\nRUN --mount=type=cache,target=/root/.cache,id=pip true\n")
    sandbox.write_spec("build: Containerfile\n")
    refused = sandbox.run("apply")
    assert refused.returncode == REFUSED, refused
    assert "type=cache" in refused.stderr and "Traceback" not in refused.stderr
    assert _builds(sandbox) == []


def test_image_and_build_together_are_a_spec_error(project):
    sandbox = project
    (sandbox.project / "Containerfile").write_text(f"FROM {sandbox.image}\n")
    sandbox.write_spec(f"image: {sandbox.image}\nbuild: Containerfile\n")
    bad = sandbox.run("plan")
    assert bad.returncode == SPEC_ERROR, bad
    assert "sandbox.yaml:2:1: build: give either image: or build:, not both" in bad.stderr, bad.stderr

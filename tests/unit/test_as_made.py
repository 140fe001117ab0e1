"""actual.as_made, the converge's view of a container it just made without a `podman
inspect`, against what the inspect of a real container said (the recorded fixture):
the same Observed, field by field, so the fast-path record written from either is
the same, and a limit the cgroup does not enforce shows as drift either way."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from fake_runner import RECORDED_DOC, RECORDED_IMAGE, RECORDED_NAME, RECORDED_PROJECT, FakeRunner, \
    recorded_cgroup
from podman_sandbox.engine import actual as act
from podman_sandbox.engine import answers
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.plan import is_in_sync
from podman_sandbox.schema.spec import build_spec

cgroup_reads = pytest.fixture(autouse=True)(recorded_cgroup)


def desired() -> Desired:
    spec = build_spec(copy.deepcopy(RECORDED_DOC), project_dir=RECORDED_PROJECT,
                      source=f"{RECORDED_PROJECT}/sandbox.yaml", mode="project")
    return Desired.from_spec(spec)


def _both():
    fake = FakeRunner.recorded("inspect_running.json", RECORDED_PROJECT)
    want = desired()
    container, image = answers.sandbox(fake, RECORDED_NAME, RECORDED_IMAGE)
    assert container is not None and container.pid
    inspected = act.from_answers(container, image, want, fake)
    made = act.as_made(want, inspected, container.id or "", container.pid,
                       container.pid_file or "", container.labels)
    return want, inspected, made


def test_as_made_says_what_the_inspect_of_the_same_container_says():
    want, inspected, made = _both()
    assert dataclasses.asdict(made) == dataclasses.asdict(inspected)
    assert is_in_sync(want, made) and is_in_sync(want, inspected)


def test_a_limit_the_cgroup_does_not_enforce_is_drift_for_both(cgroup_reads):
    cgroup_reads["memory"] = None  # the kernel enforces no memory limit
    want, inspected, made = _both()
    assert made.observed["memory"] == inspected.observed["memory"] is None
    assert not is_in_sync(want, made) and not is_in_sync(want, inspected)

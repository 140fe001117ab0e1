"""The engine and the fast path say "in sync" by one rule (engine/insync.py): fed the
same recorded Podman answers, they agree.

For each recording (Podman 4.3's and 5.4's, tests/unit/fixtures) and each world the
recorded sandbox can be in, two verdicts:

- the engine's: plan.is_in_sync on act.observe (one inspect through the FakeRunner,
  limits from the container's cgroup);
- the fast path's: the record a converge writes for the recorded, in-sync sandbox,
  checked the way `apply`'s fast path checks it: record.is_live (its process and
  cgroup limits, here the same simulated cgroup the engine reads) and
  fastpath.confirms on the same inspect answer (only an exit-0 answer reaches it).

Where the record describes the container seen (same container, same process) they
must be equal; where it does not (re-created, restarted), the fast path may only be
stricter: it never says "in sync" when the engine would not.
"""

from __future__ import annotations

import copy

import pytest

import fake_runner
from fake_runner import RECORDED_IMAGE, RECORDED_NAME, RECORDED_PROJECT, FakeRunner, load
from podman_sandbox import fastpath
from podman_sandbox.engine import actual as act
from podman_sandbox.engine import answers, cgroup, host, record
from podman_sandbox.engine.plan import is_in_sync
from podman_sandbox.errors import SandboxError
from test_plan_table import MIB, desired

RECORDINGS = {"podman-4.3": fake_runner.FIXTURES, "podman-5.4": fake_runner.FIXTURES / "podman5"}
RECORDED_MEMORY = 64 * MIB


class Host:
    """What the cgroup of the sandbox's process says, read by both sides."""

    def __init__(self, monkeypatch):
        self.memory = RECORDED_MEMORY
        self.alive = True
        monkeypatch.setattr(cgroup, "memory_limit", lambda pid: (True, self.memory))
        monkeypatch.setattr(cgroup, "cpu_limit", lambda pid: 0.0)
        monkeypatch.setattr(host, "rootless_cgroup_v1", lambda: False)
        monkeypatch.setattr(host, "limits_enforced", lambda: True)
        # record.is_live reads the process's start time and its cgroup's limit files.
        monkeypatch.setattr(record, "_alive_since", lambda pid: "4242" if self.alive else None)
        monkeypatch.setattr(record, "limits", lambda pid: f"memory={self.memory}")


@pytest.fixture(params=sorted(RECORDINGS))
def recording(request, monkeypatch):
    monkeypatch.setattr(fake_runner, "FIXTURES", RECORDINGS[request.param])
    return request.param


def the_record() -> dict:
    """What a converge writes for the recorded sandbox, found in sync (engine/apply.py)."""
    container, image = load("inspect_running.json")
    return {"key": "k", "container": RECORDED_NAME, "id": container["Id"],
            "pid": container["State"]["Pid"], "starttime": "4242",
            "limits": f"memory={RECORDED_MEMORY}", "image": RECORDED_IMAGE, "base": image["Id"],
            "insync": "1"}


def engine_says(fake: FakeRunner) -> bool:
    want = desired()
    try:
        return is_in_sync(want, act.observe(fake, want))
    except SandboxError:  # a pod of that name: not a sandbox at all
        return False


def fast_path_says(fake: FakeRunner, rec: dict) -> bool:
    result = fake.run(answers.inspect_argv([rec["container"], rec["image"]]), what="inspect",
                      check=False)
    if result.returncode != 0:
        return False  # fastpath._capture: no answer, the full path decides
    try:
        return fastpath.confirms(answers.decode(result.stdout, "podman inspect"), rec,
                                 live=record.is_live(rec))
    except SandboxError:
        return False


def _as_recorded(fake, sim):
    pass  # the world the record was written in


def _stopped(fake, sim):
    fake.containers[RECORDED_NAME] = copy.deepcopy(load("inspect_stopped.json")[0])
    sim.alive = False


def _live_update_behind_our_back(fake, sim):
    sim.memory = 96 * MIB  # `podman update --memory 96m` by someone else


def _image_tag_moved(fake, sim):
    fake._image(RECORDED_IMAGE)["Id"] = "f" * 64  # a newer pull under the same tag


def _image_removed(fake, sim):
    fake.images = [i for i in fake.images if RECORDED_IMAGE not in (i.get("RepoTags") or ())]


def _removed(fake, sim):
    del fake.containers[RECORDED_NAME]
    sim.alive = False


def _foreign(fake, sim):
    fake.containers[RECORDED_NAME] = copy.deepcopy(load("inspect_foreign.json")[0])
    sim.alive = False


def _a_pod_took_the_name(fake, sim):
    del fake.containers[RECORDED_NAME]
    fake.pods[RECORDED_NAME] = copy.deepcopy(load("inspect_pod.json")[0])
    sim.alive = False


def _labels_say_another_base(fake, sim):
    labels = fake.containers[RECORDED_NAME]["Config"]["Labels"]
    labels["io.podman-sandbox.base-id"] = "e" * 64


def _not_managed(fake, sim):
    del fake.containers[RECORDED_NAME]["Config"]["Labels"]["io.podman-sandbox.managed"]


# (world, what both must say)
AGREE = [(_as_recorded, True), (_stopped, False), (_live_update_behind_our_back, False),
         (_image_tag_moved, False), (_image_removed, False), (_removed, False),
         (_foreign, False), (_a_pod_took_the_name, False), (_labels_say_another_base, False),
         (_not_managed, False)]


@pytest.mark.parametrize("change, expected", AGREE, ids=[c.__name__.strip("_") for c, _ in AGREE])
def test_engine_and_fast_path_agree(recording, monkeypatch, change, expected):
    sim = Host(monkeypatch)
    fake = FakeRunner.recorded("inspect_running.json", RECORDED_PROJECT)
    change(fake, sim)
    rec = the_record()
    assert (engine_says(fake), fast_path_says(fake, rec)) == (expected, expected)


def _recreated(fake, sim):
    fake.containers[RECORDED_NAME]["Id"] = "d" * 64  # the same settings, another container


def _restarted(fake, sim):
    fake.containers[RECORDED_NAME]["State"]["Pid"] += 1  # another init process


@pytest.mark.parametrize("change", [_recreated, _restarted])
def test_the_fast_path_is_only_ever_stricter(recording, monkeypatch, change):
    """A container the record does not describe: the engine may still find it in sync
    (same settings), the fast path leaves it to the engine."""
    sim = Host(monkeypatch)
    fake = FakeRunner.recorded("inspect_running.json", RECORDED_PROJECT)
    change(fake, sim)
    assert engine_says(fake)
    assert not fast_path_says(fake, the_record())


def test_one_rootless_rule(monkeypatch):
    """host.rootless_cgroup_v1 (the engine) and the fast path's check are one predicate."""
    for euid, version, ignored in [(1000, 1, True), (1000, 2, False), (0, 1, False), (0, 2, False)]:
        monkeypatch.setattr(cgroup.os, "geteuid", lambda euid=euid: euid)
        monkeypatch.setattr(cgroup, "cgroup_version", lambda version=version: version)
        monkeypatch.setattr(host, "is_rootless", lambda euid=euid: euid != 0)
        monkeypatch.setattr(host, "cgroup_version", lambda version=version: version)
        assert cgroup.limits_ignored() == host.rootless_cgroup_v1() == ignored

"""Podman 4.3's and Podman 5.4's answers read alike.

tests/unit/fixtures holds the JSON Podman 4.3 gave for a recorded sandbox;
fixtures/podman5 the same sandbox recorded on Podman 5.4 (`sudo tests/podman5/run
--record`, see fixtures/record.py). Each test runs on both recordings: what the
engine and the fast path make of a sandbox must not depend on the version, except
where Podman itself differs (after a live `podman update` and a stop, Podman 4's
inspect shows, and a restart applies, the old limit; Podman 5's the new one).
"""

from __future__ import annotations

import pytest

import fake_runner
from fake_runner import RECORDED_NAME, RECORDED_PROJECT, FakeRunner, load
from podman_sandbox import fastpath
from podman_sandbox.engine import actual as act
from podman_sandbox.engine import cgroup, host
from podman_sandbox.engine.desired import spec_hash
from podman_sandbox.engine.labels import LABEL_HASH
from test_plan_table import CASES, MIB, desired, kinds, plan_for, world

RECORDINGS = {"podman-4.3": fake_runner.FIXTURES, "podman-5.4": fake_runner.FIXTURES / "podman5"}


@pytest.fixture(params=sorted(RECORDINGS))
def podman_version(request, monkeypatch):
    """Every fixture read in the test comes from this Podman's recording."""
    monkeypatch.setattr(fake_runner, "FIXTURES", RECORDINGS[request.param])
    # What the recorded container's cgroup says (its pid is not alive in this test).
    monkeypatch.setattr(cgroup, "memory_limit", lambda pid: (True, 64 * MIB))
    monkeypatch.setattr(cgroup, "cpu_limit", lambda pid: 0.0)
    monkeypatch.setattr(host, "rootless_cgroup_v1", lambda: False)
    monkeypatch.setattr(host, "limits_enforced", lambda: True)
    return request.param


@pytest.mark.parametrize("fixture, options, changes, expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_table_on_both(podman_version, fixture, options, changes, expected):
    """test_plan_table's whole table, on each Podman's answers."""
    plan = plan_for(world(fixture, **options), desired(**changes))
    assert kinds(plan) == expected
    assert plan.in_sync == (expected == [])


def test_observed_sandbox_is_its_spec(podman_version):
    for fixture in ("inspect_running.json", "inspect_stopped.json"):
        info = load(fixture)[0]
        observed, enforced = act.observe_container(info, rootless_v1=False)
        assert enforced
        assert observed == desired().container, fixture
        assert spec_hash(observed) == info["Config"]["Labels"][LABEL_HASH]


def test_memory_shown_after_a_live_update_and_a_stop(podman_version):
    """Recorded after `podman update --memory 96m` and `podman stop`: the engine takes
    a stopped container's limit from inspect, which is what a restart applies."""
    info = load("inspect_updated_stopped.json")[0]
    observed, _ = act.observe_container(info, rootless_v1=False)
    assert observed["memory"] == {"podman-4.3": 64, "podman-5.4": 96}[podman_version] * MIB
    # So a spec that asks for 96m: Podman 5 only starts it; Podman 4 starts it and
    # applies the limit again.
    expected = {"podman-4.3": [("start", "start"), ("update", "live")],
                "podman-5.4": [("start", "start")]}[podman_version]
    assert kinds(plan_for(world("inspect_updated_stopped.json"), desired(memory="96m"))) == expected


def test_uncommitted_paths_from_the_recorded_diff(podman_version):
    fake = FakeRunner.recorded("inspect_running.json", RECORDED_PROJECT)
    fake.diff = load("diff_clean.json")
    assert act.changed_paths(fake, RECORDED_NAME, None) == []
    fake.diff = load("diff_dirty.json")
    assert act.changed_paths(fake, RECORDED_NAME, None) == ["/opt/tool/bin", "/root/work.txt"]


def test_fast_path_confirms_the_recorded_container(podman_version):
    found = load("inspect_running.json")
    container, image = found
    rec = {"container": RECORDED_NAME, "id": container["Id"], "pid": container["State"]["Pid"],
           "base": image["Id"], "insync": "1"}
    assert fastpath.confirms(found, rec, live=True)
    assert not fastpath.confirms(found, dict(rec, pid=rec["pid"] + 1), live=True)
    assert not fastpath.confirms(load("inspect_stopped.json"), rec, live=True)

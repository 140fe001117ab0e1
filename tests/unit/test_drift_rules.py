"""What counts as drift: read-only mounts, lifted limits, the CPU limit the cgroup
enforces, and the limits a fast-path record notes. scripts/mutate breaks each rule
and expects a test here to fail.

Podman's answers are the recorded ones (tests/unit/fixtures) through the fake
runner; the cgroup of the recorded container (its pid is not alive here) is
stood in for by cgroup_reads, as in test_plan_table.py.
"""

from __future__ import annotations

import copy
import os

import pytest

from fake_runner import MIB, RECORDED_DOC, RECORDED_NAME, RECORDED_PROJECT, RECORDED_SPEC, \
    FakeRunner, invoke, load, make_project, recorded_cgroup, recorded_world
from podman_sandbox.engine import actual as act
from podman_sandbox.engine import record
from podman_sandbox.engine.apply import survey
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.diff import classify
from podman_sandbox.schema.spec import build_spec



cgroup_reads = pytest.fixture(autouse=True)(recorded_cgroup)


def desired(**changes) -> Desired:
    doc = dict(RECORDED_DOC, **changes)
    for key in [k for k, v in doc.items() if v is None]:
        del doc[key]
    spec = build_spec(doc, project_dir=RECORDED_PROJECT, source=f"{RECORDED_PROJECT}/sandbox.yaml",
                      mode="project")
    return Desired.from_spec(spec)


def recorded() -> FakeRunner:
    fake = FakeRunner.recorded("inspect_running.json", RECORDED_PROJECT)
    for row in load("images_setup.json"):
        fake.add_image(row)
    fake.diff = load("diff_clean.json")
    return fake


def kinds(plan) -> list[tuple[str, str]]:
    return [(a.kind, a.change_class) for a in plan.actions]


# --- read-only mounts -------------------------------------------------------------

def test_a_read_only_mount_is_observed_read_only(tmp_path, monkeypatch):
    """Made with a read-only mount, the sandbox is in sync with its spec (a second apply
    does nothing); the same mount found writable is drift that re-creates it."""
    project = make_project(tmp_path, monkeypatch, spec=RECORDED_SPEC + "mounts:\n"
                           "  - {source: data, target: /data}\n")  # read_only: true by default
    (project / "data").mkdir()
    fake = recorded_world(project, "inspect_missing.json")
    assert invoke(fake, "apply", "--allow").code == 0
    mount = next(m for m in fake.containers[RECORDED_NAME]["Mounts"] if m["Destination"] == "/data")
    assert mount["RW"] is False  # made :ro
    again = invoke(fake, "plan", "--json")
    assert again.code == 0, again
    assert again.json()["actions"] == [], again.json()

    mount["RW"] = True  # the container's mount is writable: not what the spec says
    drift = invoke(fake, "plan", "--json")
    assert [a["kind"] for a in drift.json()["actions"]] == ["replace"], drift.json()
    assert [c["field"] for c in drift.json()["changes"]] == ["mounts"], drift.json()


def test_observe_reads_rw_from_each_mount():
    info = copy.deepcopy(load("inspect_running.json")[0])
    info["Mounts"] = [{"Type": "bind", "Source": "/srv/a", "Destination": "/a", "RW": False},
                      {"Type": "bind", "Source": "/srv/b", "Destination": "/b", "RW": True}]
    observed, _ = act.observe_container(info, rootless_v1=False)
    assert [(m["target"], m["read_only"]) for m in observed["mounts"]] == [("/a", True), ("/b", False)]


# --- lifting a limit ----------------------------------------------------------------

@pytest.mark.parametrize("field, old", [("memory", 64 * MIB), ("cpus", 1.5)])
def test_lifting_a_limit_recreates_and_changing_it_is_live(field, old):
    """`podman update --memory 0` (or --cpus 0) succeeds and changes nothing: a limit
    that goes away needs a new container; a changed one is applied live."""
    assert classify(field, old, None) == "recreate"
    assert classify(field, old, old * 2) == "live"
    assert classify(field, None, old) == "live"


def test_removing_the_memory_limit_from_the_spec_replaces_the_sandbox():
    plan = survey(recorded(), desired(memory=None)).plan
    assert kinds(plan) == [("replace", "recreate")]
    assert [(c.field, c.change_class) for c in plan.changes] == [("memory", "recreate")]


def test_removing_the_cpu_limit_replaces_the_sandbox(cgroup_reads):
    cgroup_reads["cpus"] = 1.5  # made (or updated) with --cpus 1.5
    assert survey(recorded(), desired(cpus=1.5)).plan.in_sync
    plan = survey(recorded(), desired()).plan
    assert kinds(plan) == [("replace", "recreate")]


# --- the CPU limit comes from the cgroup -----------------------------------------------

def test_the_cpu_limit_is_read_from_the_cgroup(cgroup_reads):
    """The label says what the container was made with (no CPU limit); the cgroup says
    what is enforced now (a `podman update --cpus 0.5` since): the cgroup wins."""
    cgroup_reads["cpus"] = 0.5
    actual = act.observe(recorded(), desired())
    assert actual.observed["cpus"] == 0.5
    assert survey(recorded(), desired(cpus=0.5)).plan.in_sync
    plan = survey(recorded(), desired(cpus=2)).plan
    assert kinds(plan) == [("update", "live")]
    assert [(c.field, c.old, c.new) for c in plan.changes] == [("cpus", 0.5, 2)]


# --- a fast-path record notes the CPU limit -------------------------------------------

def test_a_record_goes_stale_when_the_cgroup_cpu_quota_changes(tmp_path, monkeypatch):
    """The fast path trusts a record only while the cgroup enforces what it noted: a CPU
    quota changed behind our back (cgroup v1 files) sends execute to the full path."""
    make_project(tmp_path, monkeypatch)
    tree = tmp_path / "cgroup"
    files = {"memory": {"memory.limit_in_bytes": "67108864", "memory.memsw.limit_in_bytes": "134217728"},
             "cpu": {"cpu.cfs_quota_us": "150000", "cpu.cfs_period_us": "100000"},
             "pids": {"pids.max": "2048"}}
    for controller, values in files.items():
        (tree / controller).mkdir(parents=True)
        for name, value in values.items():
            (tree / controller / name).write_text(value + "\n")
    monkeypatch.setattr(record, "cgroup_dirs", lambda pid: {c: str(tree / c) for c in files})
    pid = os.getpid()  # a live process with a start time, standing for the container's init
    key = record.record_key(str(tmp_path / "project" / "sandbox.yaml"), str(tmp_path / "project"))
    record.write(key, container=RECORDED_NAME, container_id="c0ffee", pid=pid, spec_hash="h",
                 memory=64 * MIB)
    rec = record.lookup(key)
    assert rec is not None and record.is_live(rec)

    (tree / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")  # podman update --cpus 0.5
    assert not record.is_live(record.lookup(key))
    (tree / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    assert record.is_live(record.lookup(key))  # the same limits again: the same record holds

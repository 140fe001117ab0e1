"""The default CPU limit: host cores less a share, so a runaway sandbox leaves the host
some CPU; `cpus: null` lifts it, and that is a grant (the sandbox could write it)."""

import os

import pytest

from podman_sandbox import trust
from podman_sandbox.engine import host
from podman_sandbox.schema import spec as spec_module
from podman_sandbox.schema.spec import build_spec


@pytest.fixture
def real_default(monkeypatch):
    monkeypatch.undo()  # the conftest's pin (no default) off; keep the rootful host
    monkeypatch.setattr(host, "is_rootless", lambda: False)
    return spec_module.default_cpus


@pytest.mark.parametrize("cores, expected", [(1, 0.75), (2, 1.5), (4, 3.5), (8, 7.5), (64, 63.5)])
def test_the_default_leaves_the_host_a_share(real_default, monkeypatch, cores, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert real_default() == expected


def test_no_default_where_podman_enforces_no_limit(real_default, monkeypatch):
    monkeypatch.setattr(host, "limits_enforced", lambda: False)  # rootless on cgroup v1
    assert real_default() is None


def _spec(doc, tmp_path):
    return build_spec({"image": "img", **doc}, project_dir=str(tmp_path),
                      source=str(tmp_path / "sandbox.yaml"), mode="project")


def test_absent_is_the_default_and_null_is_no_limit(real_default, monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert _spec({}, tmp_path).cpus == 1.5
    assert _spec({"cpus": None}, tmp_path).cpus is None
    assert _spec({"cpus": 0.5}, tmp_path).cpus == 0.5


def test_lifting_or_raising_the_default_is_a_grant(real_default, monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert [g.id for g in trust.grants(_spec({"cpus": None}, tmp_path))] == ["cpus:none"]
    assert [g.id for g in trust.grants(_spec({"cpus": 2}, tmp_path))] == ["cpus:2"]
    assert trust.grants(_spec({"cpus": 1.5}, tmp_path)) == ()
    assert trust.grants(_spec({}, tmp_path)) == ()
    # An approval of no limit covers any limit; one of 2 cores does not cover none.
    none, two = trust.grants(_spec({"cpus": None}, tmp_path))[0], trust.grants(_spec({"cpus": 2}, tmp_path))[0]
    assert two.covered_by(none) and not none.covered_by(two)

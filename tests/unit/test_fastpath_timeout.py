"""`execute --timeout N` served by the fast path runs with that timeout, as the CLI's does.

The fast path (fastpath.try_execute) is driven in this process against a record
that points at a live process of this test (test_hot_path_imports.World); what it
hands to engine/execute.run is captured, so both paths are held to the same call.
"""

from __future__ import annotations

import pytest

from fake_runner import captured_exec_runs
from podman_sandbox import fastpath
from test_hot_path_imports import World


@pytest.fixture
def world(tmp_path, monkeypatch):
    w = World(tmp_path, monkeypatch)
    yield w
    w.close()


@pytest.fixture
def runs(monkeypatch):
    return captured_exec_runs(monkeypatch, 0)


@pytest.mark.parametrize("argv, timeout", [
    (["execute", "--timeout", "2.5", "sleep 9"], 2.5),
    (["execute", "--timeout=90", "sleep 9"], 90.0),
    (["execute", "-i", "--timeout", "0.75", "--", "sleep 9"], 0.75),
    (["execute", "sleep 9"], None),
])
def test_the_fast_path_keeps_the_timeout(world, runs, argv, timeout):
    world.write_record(world.sleeper().pid)
    assert fastpath.try_execute(argv) == 0  # served by the record, not the full CLI
    (container, command, kw), = runs
    assert (container, command) == ("c0ffee", "sleep 9")
    assert kw["timeout"] == timeout

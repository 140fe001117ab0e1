"""The planner only ever sees a complete Actual: an observation that did not look for
uncommitted work cannot plan "no discards" and slip past the refusal.

act.observe gives an Observed (one inspect); act.complete makes the Actual from it and
everything a change needs, all at once; make_plan takes nothing else.
"""

from __future__ import annotations

import dataclasses

import pytest

from podman_sandbox.engine import actual as act
from podman_sandbox.engine.apply import refuse_discards, survey
from podman_sandbox.engine.diff import changes
from podman_sandbox.engine.plan import make_plan
from podman_sandbox.errors import RefusedError
from test_plan_table import desired, world

CHANGED = {"env": {"APP_ENV": "prod"}}  # a recreate: what the container holds is discarded


def test_an_observation_is_not_an_actual_and_cannot_be_planned():
    fake = world(uncommitted=True)
    want = desired(**CHANGED)
    seen = act.observe(fake, want)
    assert not isinstance(seen, act.Actual) and not hasattr(seen, "uncommitted")
    with pytest.raises(TypeError, match="needs an Actual"):
        make_plan(want, seen, changes(seen.observed, want.container))  # type: ignore[arg-type]


def test_an_actual_cannot_be_made_without_what_a_change_needs():
    seen = act.observe(world(), desired())
    observed = {f.name: getattr(seen, f.name) for f in dataclasses.fields(act.Observed)}
    with pytest.raises(TypeError, match="uncommitted"):
        act.Actual(**observed, setup_image_present=True, state_image=None,  # type: ignore[call-arg]
                   other_state_image=None, legacy_states=[], disk_unenforced=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        act.complete(world(), desired(), seen).uncommitted = []  # type: ignore[misc]


def test_the_completed_actual_names_the_work_and_the_refusal_holds():
    fake = world(uncommitted=True)
    want = desired(**CHANGED)
    found = survey(fake, want)
    assert isinstance(found.actual, act.Actual)
    assert found.actual.uncommitted == ["/opt/tool/bin", "/root/work.txt"]
    assert found.plan.discards == ("/opt/tool/bin", "/root/work.txt")
    with pytest.raises(RefusedError, match="would discard 2 uncommitted"):
        refuse_discards(found.plan, want, force=False, imperative=False)
    assert fake.changes_made() == []

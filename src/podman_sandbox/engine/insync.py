"""In sync: the one rule that says a sandbox needs nothing done.

The engine (plan.is_in_sync, from a full observation) and the fast path
(fastpath.confirms, from a record and one `podman inspect`) both decide with
in_sync() below; only how they know each fact differs:

- running, managed, and the base image: both read them from the same inspect
  entries (engine/answers.py);
- ours and the state: the engine compares the owner labels and the observed
  canonical state with the spec; the fast path knows both from its record
  (written by a converge that found exactly that: same container id, so the
  same labels and creation settings; same init process; the same limits in
  its cgroup, record.is_live).

tests/unit/test_insync_agree.py feeds the same recorded answers to both.
Standard library only and cheap: the fast path imports it.
"""

from __future__ import annotations


def in_sync(*, running: bool, managed: bool, ours: bool, same_state: bool,
            base_id: str | None, built_from: str | None) -> bool:
    """Running, made by podman-sandbox for this owner, in the state the spec asks for,
    and made from the image the spec's image name points at now."""
    return (running and managed and ours and same_state
            and base_id is not None and built_from == base_id)

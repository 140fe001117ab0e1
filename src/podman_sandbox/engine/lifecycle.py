"""stop, commit and reset: the imperative operations outside converge, each under the lock."""

from __future__ import annotations

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import images, ownership, state
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.lock import sandbox_lock
from podman_sandbox.engine.render import render
from podman_sandbox.engine.runner import Runner
from podman_sandbox.errors import SandboxError
from podman_sandbox.output import Output


def _ours(runner: Runner, desired: Desired) -> act.Observed:
    """The sandbox as it is, refused (never touched) when it is not this owner's;
    this owner's saved states of the old tag format are adopted first."""
    actual = act.observe(runner, desired)
    if actual.state != "missing" and not actual.managed:
        raise SandboxError(f"a container named {desired.spec.name!r} exists but was not made by "
                           "podman-sandbox; it is left alone")
    if actual.state != "missing":
        ownership.require("sandbox", desired.spec.name, actual.labels, desired.spec)
    state.adopt_legacy(runner, desired.spec)
    return actual


def _say_discarded(runner: Runner, actual: act.Observed, desired: Desired, out: Output) -> None:
    name = desired.spec.name
    lost = act.uncommitted_changes(runner, name, actual, desired.spec)
    if lost:
        out.notice(f"discarding {act.describe_uncommitted(lost, name)}; "
                   "run `podman-sandbox commit` first to keep such changes")


def _nothing_new(runner: Runner, actual: act.Observed, name: str) -> str | None:
    """What nothing changed since (the committed state's tag, or the container's making)
    when the container holds nothing new to commit; None when it does, or when
    `podman diff` cannot tell (then committing is the safe choice)."""
    since = act.committed_tag(runner, name, actual)
    changed = act.changed_paths(runner, name, since, act.mount_points(actual))
    if changed is None or changed:
        return None
    return since or f"{name} was created"


def _commit(runner: Runner, desired: Desired, actual: act.Observed, out: Output) -> str:
    name = desired.spec.name
    out.step(f"committing {name}")
    return state.commit(runner, desired.spec, name, act.container_state_key(actual),
                        actual.built_from_base_id or "")


def stop(runner: Runner, desired: Desired, out: Output) -> bool:
    """Stop and remove the sandbox (committing first with auto_commit). False: none there."""
    name = desired.spec.name
    with sandbox_lock(name):
        actual = _ours(runner, desired)
        if actual.state == "missing":
            return False
        if desired.spec.auto_commit:
            # Committing nothing new would push the last good state out of -prev.
            since = _nothing_new(runner, actual, name)
            if since:
                out.step(f"auto-commit: nothing new to commit (no changes since {since})")
            else:
                tag = _commit(runner, desired, actual, out)
                out.step(f"auto-commit: state saved as {tag}")
        else:
            _say_discarded(runner, actual, desired, out)
        out.step(f"stopping {name}")
        runner.run(render("remove", name=name), what=f"stop {name}")
        return True


def commit(runner: Runner, desired: Desired, out: Output) -> str:
    name = desired.spec.name
    with sandbox_lock(name):
        actual = _ours(runner, desired)
        if actual.state == "missing":
            raise SandboxError(f"no sandbox {name!r} to commit",
                               hint="start it (`podman-sandbox start`) and make your changes first")
        since = _nothing_new(runner, actual, name)
        if since:
            # A commit of nothing would replace the undo copy (-prev) with the current state.
            raise SandboxError(f"nothing to commit: no changes since {since}",
                               hint="the saved state and the one before it (-prev) are left as they are"
                               if since.startswith(images.STATE_REPO_PREFIX) else None)
        return _commit(runner, desired, actual, out)


def reset(runner: Runner, desired: Desired, out: Output) -> list[str]:
    """Remove every saved state of the sandbox, and the container if it exists."""
    name = desired.spec.name
    with sandbox_lock(name):
        actual = _ours(runner, desired)
        if actual.state != "missing":
            _say_discarded(runner, actual, desired, out)
            out.step(f"removing {name} so the next start is fresh")
            runner.run(render("remove", name=name), what=f"remove {name}")
        return [img.tag for img in state.reset(runner, desired.spec)]

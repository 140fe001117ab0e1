"""Converge: survey, plan, check the plan is safe, carry it out, remember the result.

A replaced container is made to work before the old one goes: the new one is
created and started under a temporary name, and only then is the old one
removed and the new one renamed. An image that cannot be pulled or a value
Podman rejects leaves the running sandbox exactly as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import host, images, mountcheck, ownership, record, state
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.lock import sandbox_lock, setup_lock
from podman_sandbox.engine.plan import IMAGE_ACTIONS, PENDING, Action, Plan, is_in_sync, make_plan
from podman_sandbox.engine.render import render
from podman_sandbox.engine.runner import Runner
from podman_sandbox.engine.steps import commands_for, next_name, setup_container_name
from podman_sandbox.errors import RefusedError, SpecError
from podman_sandbox.output import Output


@dataclass
class Survey:
    actual: act.Actual
    plan: Plan


@dataclass
class Outcome:
    plan: Plan  # what was carried out (empty: nothing to do)
    actual: act.Actual  # the state afterwards
    not_enforced: dict = field(default_factory=dict)  # limits requested, ignored by this host


def survey(runner: Runner, desired: Desired) -> Survey:
    """Actual state and the plan to reach desired. One podman call when in sync."""
    actual = act.observe(runner, desired)
    ownership.require_own_base(desired.spec, actual.base_labels)
    if is_in_sync(desired, actual):
        return Survey(actual, Plan(()))
    act.complete(runner, desired, actual)
    changes = []
    if actual.observed is not None:
        from podman_sandbox.engine.diff import changes as diff_changes
        changes = [_named_inputs(c, desired) for c in diff_changes(actual.observed, desired.container)]
    plan = make_plan(desired, actual, changes)
    if desired.build is not None and any(a.kind == "build" for a in plan.actions):
        from dataclasses import replace

        from podman_sandbox.engine import build
        why = build.reason(desired.spec, desired.build, (actual.observed or {}).get("image"))
        plan = replace(plan, actions=tuple(replace(a, reason=why) if a.kind == "build" else a
                                           for a in plan.actions))
    return Survey(actual, plan)


def _named_inputs(change, desired: Desired):
    """An inputs change, with the files that changed when the digest cache knows them."""
    if change.field != "inputs" or not change.old or not change.new:
        return change
    from dataclasses import replace

    from podman_sandbox.engine import inputdigest
    from podman_sandbox.engine.desired import inputs_cache_name

    files = inputdigest.changed_files(inputs_cache_name(desired.spec), change.old, change.new)
    if not files:
        return change
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return replace(change, detail=shown)


def refuse_discards(plan: Plan, desired: Desired, *, force: bool, imperative: bool) -> None:
    """`apply` never throws uncommitted work away unless told to (--force or auto_commit)."""
    if plan.discards and not (force or imperative):
        raise RefusedError(
            f"applying this plan would discard {act.describe_uncommitted(plan.discards, desired.spec.name)}",
            hint="commit them (`podman-sandbox commit`), set auto_commit: true, "
                 "or discard them with `podman-sandbox apply --force`")


def preflight(plan: Plan, desired: Desired, actual: act.Actual) -> None:
    """Every command the plan will run fits in a Linux command line: checked before the
    first of them (a setup step) runs, not found out at create after all of them did."""
    from podman_sandbox.schema.argsize import argv_problems

    problems = [p for action in plan.actions
                for cmd in commands_for(action, desired, actual.base_image_id)
                for p in argv_problems(cmd.argv, cmd.what)]
    if problems:
        raise SpecError([f"{desired.spec.source or desired.spec.name}: {p}" for p in problems],
                        hint="make env values and setup steps smaller (a setup step can run a "
                             "script from the project folder)")


def leftover_names(name: str) -> list[str]:
    return [setup_container_name(name), next_name(name)]


def _remove_leftovers(runner: Runner, desired: Desired, found: list | None = None) -> None:
    """NAME-setup and NAME-next of a run that was killed, whatever this plan needs:
    one podman inspect for both (found: what a create's inspect saw of them); only
    containers podman-sandbox made for this owner are removed (another project's
    half-built sandbox is refused, not removed).
    Not names added to the survey's inspect: with no such container, Podman answers
    with a local image of that short name, which could pass for the spec's image."""
    names = leftover_names(desired.spec.name)
    if found is None:
        result = runner.run(render("inspect", names=names), what="podman inspect", check=False)
        try:
            found = json.loads(result.stdout or "[]") or []
        except json.JSONDecodeError:
            return
    for info in found:
        labels = (info.get("Config") or {}).get("Labels") or {}
        if info.get("Name") in names and labels.get(act.LABEL_MANAGED) == "true":
            ownership.require("container", info["Name"], labels, desired.spec)
            runner.run(render("remove", name=info["Name"]), what=f"remove the leftover {info['Name']}",
                       check=False)


def _verify_mounts(runner: Runner, container: str, expected, image: str,
                   before: list[str] = ()) -> list | None:
    """The container just started: its mounts must be what mountcheck.check approved
    (a path swapped between the check and Podman's mount is caught here; the
    caller then removes the container before anything runs in it). The inspect of
    `before` (names), the container and the image, in that order (Podman answers in
    the order asked; the container, which exists, separates the two: see
    _after_container); None on a remote engine (nothing inspected)."""
    from podman_sandbox.engine import connection, mountcheck

    if connection.is_remote():
        return None  # its /proc is on the server; the sources were the server's to resolve
    found = act._inspect(runner, [*before, container, image])
    info = [i for i in found if "State" in i and i.get("Name") == container]
    pid = ((info[0].get("State") or {}).get("Pid") if info else None) or None
    problems = mountcheck.verify(pid, list(expected))
    if problems:
        raise RefusedError(f"the new container {container} does not have the mounts that were "
                           f"checked, so it is removed: {problems[0]}",
                           hint="a mount source changed while the sandbox was being made; "
                                "check the folders your mounts name, then run the command again")
    return found


def _after_container(found: list, container: str) -> tuple[list, list]:
    """(the entries before the container's, the container's and those after): what
    _verify_mounts asked about before it, and observe's own answer (act.from_inspect)."""
    for i, info in enumerate(found):
        if "State" in info and info.get("Name") == container:
            return found[:i], found[i:]
    return found, []


def _built_meanwhile(runner: Runner, desired: Desired, plan: Plan) -> bool:
    """Did another sandbox of the project pull or build what plan needs, between our
    survey and taking the setup lock? One `podman images` for a setup image."""
    for action in plan.actions:
        if action.kind in ("pull", "build"):
            return True  # rare: look again in full
        if action.kind == "build-setup":
            return any(ownership.is_projects(img.get("Labels"), desired.spec) for img in
                       act.list_images(runner, images.setup_tag(action.params["key"])))
    return False


def run_action(runner: Runner, action: Action, desired: Desired, actual: act.Actual,
               out: Output, also: list[str] = ()) -> list | None:
    """Carry out one action. For a create, the inspect of the also names, the new
    sandbox and its image made to verify its mounts (else None)."""
    name = desired.spec.name
    base_id = actual.base_image_id
    if action.kind == "commit":
        out.step(f"committing {name} ({action.reason})")
        state.commit(runner, desired.spec, name, action.params["key"], actual.built_from_base_id or "")
        return
    if action.discards:
        out.notice(f"discarding {act.describe_uncommitted(action.discards, name)}; "
                   "run `podman-sandbox commit` first to keep such changes")
    for note in action.notes:
        out.notice(note)
    squashed = None
    if action.kind in ("create", "replace") and \
            action.params.get("image") == images.state_tag(name, action.params.get("key", "")):
        # A long layer chain (one layer per start/commit cycle) would stop Podman
        # from running it at all: squash it first (rare, see state.compact).
        squashed = state.compact(runner, desired, action.params["image"], base_id or "", out)
    commands = commands_for(action, desired, base_id)
    cleanup = None
    # Leftovers of a killed run were removed before any action (converge).
    if action.kind == "build-setup":
        cleanup = setup_container_name(name)
    elif action.kind in ("create", "replace"):
        cleanup = next_name(name) if action.kind == "replace" else name
    out.step(f"{action.kind}: {action.reason}")
    seen = None
    try:
        for cmd in commands:
            if cmd.stream:
                out.step(cmd.what)
            runner.run(cmd.argv, what=cmd.what, stream=cmd.stream)
            seen = None  # only an inspect made after the last command tells the state
            if cmd.verify:
                seen = _verify_mounts(runner, *cmd.verify, desired.spec.image,
                                      also if action.kind == "create" else ())
            if cmd.commits:  # e.g. the old container is gone: the new one is the sandbox now
                cleanup = None
    except BaseException:
        # Until then, undo only what this action made; the old sandbox is untouched.
        if cleanup:
            runner.run(render("remove", name=cleanup), what="clean up", check=False)
        raise
    if squashed:
        # The image the squash replaced was still used by the old container: gone now.
        state.remove_if_untagged(runner, squashed)
    return seen if action.kind == "create" else None


def _remote() -> bool:
    from podman_sandbox.engine import connection
    return connection.is_remote()


def converge(runner: Runner, desired: Desired, *, out: Output, force: bool = False,
             imperative: bool = False, record_key: str | None = None) -> Outcome:
    """Bring the sandbox to desired and leave it running."""
    with sandbox_lock(desired.spec.name):
        found = survey(runner, desired)
        before = found.actual
        carried: list[Action] = []
        if not found.plan.in_sync:
            preflight(found.plan, desired, found.actual)  # before anything else is refused or done
            refuse_discards(found.plan, desired, force=force, imperative=imperative)
            if found.actual.legacy_states:
                # Saved states of the old tag format that are provably ours: adopt, replan.
                state.adopt_legacy(runner, desired.spec, found.actual.legacy_states)
                found = survey(runner, desired)
                refuse_discards(found.plan, desired, force=force, imperative=imperative)
            # A plan that only creates the sandbox needs neither NAME-setup nor NAME-next
            # out of the way: their leftovers are looked up in the create's own inspect
            # and removed after it (one Podman call fewer on a first execute).
            deferred = [a.kind for a in found.plan.actions] == ["create"] and not _remote()
            if not deferred:
                _remove_leftovers(runner, desired)
            if found.plan.needs_images:
                # One build for a project and all its instances: under the project's setup
                # lock, and only what is still missing once it is held.
                with setup_lock(found.actual.owner_key) as waited:
                    if waited or _built_meanwhile(runner, desired, found.plan):
                        found = survey(runner, desired)  # another sandbox of the project did it
                    for action in found.plan.actions:
                        # A setup key waiting for the pulled or built image's id: after the replan.
                        if action.kind in IMAGE_ACTIONS and action.params.get("key") != PENDING:
                            run_action(runner, action, desired, found.actual, out)
                            carried.append(action)
                # The setup key and state tag depend on the pulled image's id: plan again.
                found = survey(runner, desired)
                refuse_discards(found.plan, desired, force=force, imperative=imperative)
            seen = None
            also = leftover_names(desired.spec.name) if deferred else []
            for action in found.plan.actions:
                seen = run_action(runner, action, desired, found.actual, out, also)
                carried.append(action)
            leftovers, seen = _after_container(seen, desired.spec.name) if seen else (None, None)
            if deferred:
                _remove_leftovers(runner, desired, leftovers)
            # A create that came last has just inspected the new sandbox: no second look.
            after = act.from_inspect(seen, desired, runner) if seen \
                else act.observe(runner, desired)
            found = Survey(after, found.plan)
            if any(a.kind in ("create", "replace") for a in carried) and found.actual.state == "running":
                # The new sandbox runs: what the old one was made from may go.
                from podman_sandbox.engine import superseded
                superseded.remove_unused(runner, desired.spec,
                                         superseded.replaced_tags(before, desired), out)
        if record_key and found.actual.state == "running" and found.actual.pid:
            watch, watchsig = desired.watched()
            record.write(record_key, container=desired.spec.name,
                         container_id=found.actual.container_id or "", pid=found.actual.pid,
                         spec_hash=desired.hash,
                         memory=desired.container.get("memory") if found.actual.memory_enforced else None,
                         pid_file=found.actual.pid_file, image=desired.spec.image,
                         base_id=found.actual.base_image_id,
                         in_sync=is_in_sync(desired, found.actual),
                         links=tuple((m.source, mountcheck.desired_source(m.source))
                                     for m in desired.spec.mounts),
                         watch=watch, watchsig=watchsig)
        # Never let a limit this host ignores look applied (rootless Podman, cgroup v1).
        not_enforced = host.unenforced_limits(desired.container)
        if not_enforced:
            out.notice(host.not_enforced_message(desired.container))
        from podman_sandbox.engine import disk
        disk_note = disk.not_enforced(runner, desired.container)
        if disk_note:
            out.notice(disk_note)
            not_enforced["disk"] = desired.container["disk"]
        return Outcome(Plan(tuple(carried), found.plan.changes), found.actual, not_enforced)

"""Converge: survey, plan, check the plan is safe, carry it out, remember the result.

A replaced container is made to work before the old one goes: the new one is
created and started under a temporary name, and only then is the old one
removed and the new one renamed. An image that cannot be pulled or a value
Podman rejects leaves the running sandbox exactly as it was.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from podman_sandbox.engine import actual as act
from podman_sandbox.engine import answers, host, images, mountcheck, ownership, record
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.lock import sandbox_lock, setup_lock
from podman_sandbox.engine.plan import (PENDING, PREPARE_ACTIONS, Action, Plan, is_in_sync,
                                        make_plan, with_housekeeping)
from podman_sandbox.engine.render import render
from podman_sandbox.engine.firstlook import FirstLook
from podman_sandbox.engine.names import next_name, setup_container_name, survey_names
from podman_sandbox.engine.runner import Pending, Result, Runner
from podman_sandbox.engine.steps import commands_for, container_labels
from podman_sandbox.errors import RefusedError, SpecError
from podman_sandbox.output import Output


@dataclass
class Survey:
    """The sandbox as found and the plan from it: actual is complete (an Actual) whenever
    the plan has actions; in sync, the one inspect alone."""
    actual: act.Observed
    plan: Plan


@dataclass
class Outcome:
    """What a converge did, and the sandbox it left running."""
    plan: Plan  # what was carried out (empty: nothing to do)
    actual: act.Observed  # the state afterwards
    not_enforced: dict = field(default_factory=dict)  # limits requested, ignored by this host


def survey(runner: Runner, desired: Desired, *, change_likely: bool = False,
           first_look: FirstLook | None = None) -> Survey:
    """Actual state and the whole plan to reach desired (housekeeping included: what
    `plan` prints is what converge runs). One podman call when in sync.

    The one inspect asks for the leftovers of a killed run too (plan's housekeeping
    needs them whenever something changes, and extra names cost Podman next to
    nothing). change_likely (no fast-path record): the saved states are listed beside
    it, not after it, since a change needs them. first_look: those reads, begun
    earlier under the sandbox lock (engine/firstlook.py)."""
    spec = desired.spec
    if first_look is not None:
        states = first_look.states(images.state_repo(spec.name))
    else:
        states = act.start_state_listing(runner, spec) if change_likely else None
    try:
        return _survey(runner, desired, states, first_look)
    finally:
        if states is not None:
            states.result()  # read or not, never left running


def _survey(runner: Runner, desired: Desired, states: Pending | None,
            first_look: FirstLook | None) -> Survey:
    spec = desired.spec
    names = survey_names(spec.name, spec.image)
    answered = first_look.inspect(names) if first_look is not None else None
    entries = answers.read_inspect(names, answered) if answered is not None \
        else answers.inspect(runner, names)
    seen = act.from_answers(*answers.sandbox_entries(spec.name, entries[:2]), desired, runner)
    ownership.require_own_base(spec, seen.base_labels)
    if is_in_sync(desired, seen):
        return Survey(seen, Plan(()))
    actual = act.complete(runner, desired, seen, states)
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
    if not plan.in_sync:
        from podman_sandbox.engine import around
        plan = with_housekeeping(plan, desired, actual,
                                 around.observe(runner, desired, actual, plan, dict(zip(names, entries))))
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


def preflight(plan: Plan, desired: Desired, actual: act.Observed) -> None:
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


def _verify_mounts(runner: Runner, container: str, expected, desired: Desired,
                   before: act.Observed, created: Result, labels: dict[str, str] | None
                   ) -> act.Observed | None:
    """The container just started: its mounts must be what mountcheck.check approved
    (a path swapped between the check and Podman's mount is caught here; the
    caller then removes the container before anything runs in it).

    Returns what the sandbox container is now, when container is the sandbox (labels:
    those it was made with), so the converge needs no other look: found in /proc from
    the id `podman run` printed (engine/made.py), else by `podman inspect NAME IMAGE`.
    None on a remote engine (its /proc is on the server; the sources were the server's
    to resolve), and for any other container."""
    from podman_sandbox.engine import connection, made, mountcheck

    if connection.is_remote():
        return None
    container_id = created.stdout.strip()
    found = made.find(container_id)
    look = None
    if found is not None:
        pid: int | None = found[0]
    else:
        look = answers.sandbox(runner, container, desired.spec.image)
        pid = look[0].pid if look[0] is not None else None
    problems = mountcheck.verify(pid, list(expected))
    if problems:
        raise RefusedError(f"the new container {container} does not have the mounts that were "
                           f"checked, so it is removed: {problems[0]}",
                           hint="a mount source changed while the sandbox was being made; "
                                "check the folders your mounts name, then run the command again")
    if labels is None:
        return None
    if found is not None:
        return act.as_made(desired, before, container_id, found[0], found[1], labels)
    assert look is not None
    return act.from_answers(look[0], look[1], desired, runner)


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


def run_action(runner: Runner, action: Action, desired: Desired, actual: act.Observed,
               out: Output) -> act.Observed | None:
    """Run the commands of one planned action (steps.commands_for, as `plan` shows them).
    What the sandbox is now when the action was a create whose mounts were verified
    (the converge needs no other look); else None."""
    name = desired.spec.name
    if action.discards:
        out.notice(f"discarding {act.describe_uncommitted(action.discards, name)}; "
                   "run `podman-sandbox commit` first to keep such changes")
    for note in action.notes:
        out.notice(note)
    commands = commands_for(action, desired, actual.base_image_id)
    cleanup = None
    if action.kind in ("build-setup", "squash"):
        cleanup = setup_container_name(name)
    elif action.kind in ("create", "replace"):
        cleanup = next_name(name) if action.kind == "replace" else name
    out.step(f"committing {name} ({action.reason})" if action.kind == "commit"
             else f"{action.kind}: {action.reason}")
    look = None
    try:
        for cmd in commands:
            if cmd.stream:
                out.step(cmd.what)
            result = runner.run(cmd.argv, what=cmd.what, stream=cmd.stream, check=cmd.check)
            look = None  # only an inspect after the last command tells how that left it
            if result.returncode != 0:  # a command whose failure is Podman's answer (check=False)
                from podman_sandbox.engine.failures import podman_reason
                out.step(f"{cmd.what}: not done, podman said: {podman_reason(result.stderr)}")
            if cmd.verify:
                container, expected = cmd.verify
                made_as = container_labels(desired, actual.base_image_id or "") \
                    if action.kind == "create" else None
                look = _verify_mounts(runner, container, expected, desired, actual, result,
                                      made_as)
            if cmd.commits:  # e.g. the old container is gone: the new one is the sandbox now
                cleanup = None
    except BaseException:
        # Until then, undo only what this action made; the old sandbox is untouched.
        if cleanup:
            runner.run(render("remove", name=cleanup), what="clean up", check=False)
        raise
    return look if action.kind == "create" else None


# Actions after which the sandbox container is as it was: a create's look still holds.
_LEAVE_THE_SANDBOX = ("remove-replaced",)


def converge(runner: Runner, desired: Desired, *, out: Output, force: bool = False,
             imperative: bool = False, record_key: str | None = None,
             first_look: FirstLook | None = None) -> Outcome:
    """Bring the sandbox to desired and leave it running: the actions of survey's plan,
    in order. Planned again (survey) only where the plan says so: after adopting
    old-format states, after a pull or build (the setup key needs the image's id), and
    when another sandbox of the project made the images meanwhile.
    first_look: holds the sandbox lock and the survey's first reads (firstlook.py)."""
    if first_look is not None and (first_look.closed or first_look.name != desired.spec.name):
        first_look = None  # its lock is released or another sandbox's: ours is taken here
    with nullcontext() if first_look is not None else sandbox_lock(desired.spec.name):
        if first_look is not None:  # its caller decided whether to list the states
            found = survey(runner, desired, first_look=first_look)
        else:
            found = survey(runner, desired, change_likely=record_key is not None
                           and record.lookup(record_key) is None)
        carried: list[Action] = []
        if not found.plan.in_sync:
            preflight(found.plan, desired, found.actual)  # before anything else is refused or done
            refuse_discards(found.plan, desired, force=force, imperative=imperative)
            if any(a.kind == "adopt" for a in found.plan.actions):
                for action in found.plan.actions:
                    if action.kind == "adopt":
                        run_action(runner, action, desired, found.actual, out)
                        carried.append(action)
                found = survey(runner, desired)
                refuse_discards(found.plan, desired, force=force, imperative=imperative)
            if found.plan.needs_images:
                # One build for a project and all its instances: under the project's setup
                # lock, and only what is still missing once it is held.
                with setup_lock(found.actual.owner_key) as waited:
                    if waited or _built_meanwhile(runner, desired, found.plan):
                        found = survey(runner, desired)  # another sandbox of the project did it
                    for action in found.plan.actions:
                        # A setup key waiting for the pulled or built image's id: after the replan.
                        if action.kind in PREPARE_ACTIONS and action.params.get("key") != PENDING:
                            run_action(runner, action, desired, found.actual, out)
                            carried.append(action)
                # The setup key and state tag depend on the pulled image's id: plan again.
                found = survey(runner, desired)
                refuse_discards(found.plan, desired, force=force, imperative=imperative)
            look = None
            for action in found.plan.actions:
                done = run_action(runner, action, desired, found.actual, out)
                look = done if done is not None else look if action.kind in _LEAVE_THE_SANDBOX \
                    else None
                carried.append(action)
            # A create that verified the new sandbox's mounts has just looked at it.
            after = look if look is not None else act.observe(runner, desired)
            found = Survey(after, found.plan)
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
        message = host.not_enforced_message(desired.container)
        if message:
            out.notice(message)
        from podman_sandbox.engine import disk
        disk_note = disk.not_enforced(runner, desired.container)
        if disk_note:
            out.notice(disk_note)
            not_enforced["disk"] = desired.container["disk"]
        return Outcome(Plan(tuple(carried), found.plan.changes), found.actual, not_enforced)

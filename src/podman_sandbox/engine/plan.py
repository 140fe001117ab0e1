"""The planner: (Desired, Actual, changes) -> ordered actions. Pure: no I/O.

Given the same inputs it returns the same Plan, so it is tested as a table.
Every action says why it is there and which class of change it applies;
an action that throws away the user's uncommitted work lists what it drops.
make_plan decides the sandbox's own actions; with_housekeeping adds what goes
around them (from engine/around.py's observations), so that the plan is every
change apply makes, and `plan` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podman_sandbox.engine import images, insync, ownership
from podman_sandbox.engine.actual import Actual, Observed, container_state_key
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.diff import Change
from podman_sandbox.errors import SandboxError

TYPE_CHECKING = False  # typing's import costs milliseconds; mypy sees True
if TYPE_CHECKING:  # engine/around.py does the I/O; the planner only reads its result
    from podman_sandbox.engine.around import Around

PENDING = "after-pull"  # stands for a setup key that needs the pulled image's id
IMAGE_ACTIONS = ("pull", "build", "build-setup")  # carried out first, then the plan is made again


@dataclass(frozen=True)
class Action:
    """One step of a plan. kind: pull | build | build-setup | commit | create | replace |
    start | update, and the housekeeping of with_housekeeping: adopt | remove-leftover |
    squash | remove-replaced."""
    kind: str
    reason: str
    change_class: str  # image | rebuild | commit | create | recreate | start | live | cleanup
    params: dict = field(default_factory=dict, compare=False)
    discards: tuple[str, ...] = ()  # uncommitted paths this action throws away
    notes: tuple[str, ...] = ()  # what the user should know about it (shown by plan and apply)


@dataclass(frozen=True)
class Plan:
    """The actions that bring the sandbox to its desired state, and the changes behind them."""
    actions: tuple[Action, ...]
    changes: tuple[Change, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.actions

    @property
    def discards(self) -> tuple[str, ...]:
        return tuple(p for a in self.actions for p in a.discards)

    @property
    def needs_images(self) -> bool:
        return any(a.kind in IMAGE_ACTIONS for a in self.actions)


def is_in_sync(desired: Desired, actual: Observed) -> bool:
    """The fast check (engine/insync.py): running, ours (made by us, for this owner),
    same canonical state, same base image."""
    return insync.in_sync(running=actual.state == "running", managed=actual.managed,
                          ours=ownership.is_ours(actual.labels, desired.spec),
                          same_state=actual.observed_hash == desired.hash,
                          base_id=actual.base_image_id, built_from=actual.built_from_base_id)


def _source_image(desired: Desired, actual: Actual, key: str, committed_now: bool) -> str:
    """What a new container starts from: committed state, else setup image, else the base."""
    spec = desired.spec
    if committed_now:
        return images.state_tag(spec.name, key)
    if actual.state_image:  # the sandbox's own, or (an instance) the project's
        return actual.state_image
    if spec.setup:
        return images.setup_tag(key)
    return spec.image


def make_plan(desired: Desired, actual: Actual, changes: list[Change]) -> Plan:
    """actual: a completed observation (actual.complete); an Observed alone does not
    say what a change would discard, so it is refused."""
    if not isinstance(actual, Actual):
        raise TypeError("make_plan needs an Actual (actual.complete), not an Observed")
    spec = desired.spec
    if actual.state != "missing" and not actual.managed:
        raise SandboxError(
            f"a container named {spec.name!r} exists but was not made by podman-sandbox; "
            "it is left alone",
            hint="remove or rename it, or give the sandbox another name (name: in sandbox.yaml)")
    if actual.state != "missing":
        ownership.require("sandbox", spec.name, actual.labels, spec)
    if is_in_sync(desired, actual):
        return Plan(actions=())

    actions: list[Action] = []
    base_id = actual.base_image_id
    key = (images.setup_key(base_id, spec.setup, actual.owner_key, desired.inputs_digest)
           if base_id else PENDING)

    if base_id is None and spec.build is not None:
        # The tag is keyed by the context's content (engine/build.py): absent = changed.
        actions.append(Action("build", "build: no image built for this Containerfile and "
                              "context yet", "image", {"image": spec.image}))
    elif base_id is None:
        actions.append(Action("pull", f"image {spec.image} is not present locally", "image",
                              {"image": spec.image}))
    if spec.setup and not actual.setup_image_present:
        why = next((c.describe() for c in changes if c.field == "inputs"), None)
        actions.append(Action(
            "build-setup",
            why or f"{len(spec.setup)} setup step(s) have no cached result for this base image"
            + (" and inputs" if spec.inputs else ""),
            "rebuild", {"image": spec.image, "key": key, "steps": list(spec.setup)}))

    # --storage-opt size= only where Podman's storage enforces it (plan, apply and status
    # say when it does not: engine/disk.py).
    disk_ok = bool(desired.container.get("disk")) and actual.disk_unenforced is None
    if actual.state == "missing":
        actions.append(Action("create", "no sandbox container yet", "create",
                              {"image": _source_image(desired, actual, key, False), "key": key,
                               "disk": disk_ok}))
        return Plan(tuple(actions))

    base_changed = base_id is not None and actual.built_from_base_id != base_id
    rebuild = [c for c in changes if c.change_class in ("recreate", "rebuild")]
    live = [c for c in changes if c.change_class == "live"]

    if rebuild or base_changed:
        reasons = [c.describe() for c in rebuild]
        if base_id is not None and base_changed and not any(c.field == "image" for c in rebuild):
            reasons.append(f"image {spec.image} now has another id ({base_id[:12]})")
        commit_now = spec.auto_commit and bool(actual.uncommitted)
        old_key = container_state_key(actual)
        notes = []
        if commit_now:
            actions.append(Action(
                "commit", f"auto_commit: save {len(actual.uncommitted)} changed path(s) "
                "before the container is replaced", "commit",
                {"key": old_key, "container": spec.name}))
            same_state = old_key == key
        else:
            same_state = False
            if spec.auto_commit:
                notes.append("auto_commit: nothing new to commit (no uncommitted changes in the container)")
        # The container's own committed state (or the one auto_commit is about to save)
        # belongs to its old base and setup: the new container does not start from it.
        if base_id is not None and old_key != key:
            left = actual.other_state_image or (images.state_tag(spec.name, old_key) if commit_now else None)
            if left:
                notes.append(f"committed state {left} was made on the old image/setup and is not "
                             "used by the new sandbox; it is kept (switch back to use it, "
                             "`podman-sandbox reset` removes it)")
        actions.append(Action(
            "replace", "; ".join(reasons), "recreate",
            {"image": _source_image(desired, actual, key, same_state), "key": key, "disk": disk_ok},
            discards=() if commit_now else tuple(actual.uncommitted),
            notes=tuple(notes)))
        return Plan(tuple(actions), tuple(changes))

    if actual.state == "stopped":
        actions.append(Action("start", "the sandbox is stopped", "start", {}))
    if live:
        actions.append(Action("update", "; ".join(c.describe() for c in live), "live",
                              {"memory": desired.container["memory"],
                               "cpus": desired.container["cpus"]}))
    return Plan(tuple(actions), tuple(changes))


# Run before the rest, in the setup lock when images are made (apply.converge).
PREPARE_ACTIONS = ("adopt", "remove-leftover", *IMAGE_ACTIONS)
REPLANNED = ("apply plans again after this (the setup key and the saved-state tag depend "
             "on the pulled or built image's id): the tags shown after it are placeholders "
             "until then")


def with_housekeeping(plan: Plan, desired: Desired, actual: Actual, around: Around) -> Plan:
    """The whole program of a converge: plan (make_plan's) with what goes around it.

    Pure, as make_plan; around (engine/around.Around) holds what was observed. Adds:
    adopting old-format saved states and removing leftovers of a killed run (first);
    what a commit keeps and drops; squashing a saved state whose layer chain is long
    before a container is made from it (overlay runs at most 128 layers), or the commit
    itself squashed when it makes that state; and, last, removing the images a rebuild
    or a squash replaced (Podman refuses while something uses them).
    """
    if plan.in_sync:
        return plan
    spec = desired.spec
    first: list[Action] = []
    for image, old, new in actual.legacy_states:
        first.append(Action("adopt", f"saved state {old} has the old tag format: tag it {new}",
                            "cleanup", {"image": image, "old": old, "new": new},
                            notes=("apply plans again after adopting: what the sandbox "
                                   "starts from may change",)))
    for name in around.leftovers:
        first.append(Action("remove-leftover", f"{name} is left from a run that was killed",
                            "cleanup", {"name": name}))
    actions: list[Action] = []
    replaced: list[str] = []
    committed: dict[str, int] = {}  # state tag -> its layers, once this plan's commit made it
    for action in plan.actions:
        p = action.params
        if action.kind == "commit":
            tag = images.state_tag(spec.name, p["key"])
            current = around.images.get(tag)
            previous = around.images.get(images.previous_state_tag(spec.name, p["key"]))
            layers = around.container_layers + 1 if around.container_layers is not None else None
            squash = layers is not None and layers >= around.squash_at and _made_from(plan, tag)
            committed[tag] = 1 if squash else (layers or 0)
            notes = action.notes + ((f"committed as one layer: its chain would be {layers} layers",)
                                    if squash else ())
            action = Action(action.kind, action.reason, action.change_class,
                            {**p, "base_id": actual.built_from_base_id or "",
                             "previous_exists": current is not None,
                             "drop": previous.id if previous and previous.id != (current and current.id)
                             else None, "squash": squash},
                            action.discards, notes)
        elif action.kind in ("create", "replace") and p.get("key") != PENDING \
                and p["image"] == images.state_tag(spec.name, p["key"]) and p["image"] not in committed:
            facts = around.images.get(p["image"])
            if facts is not None and facts.layers >= around.squash_at:
                actions.append(Action(
                    "squash", f"squashing the saved state {p['image']} ({facts.layers} layers) into "
                    "one: overlay runs at most 128", "image", {"tag": p["image"]}))
                if not [t for t in facts.tags if t != p["image"]]:
                    replaced.append(facts.id)  # untagged by the squash
        actions.append(action)
    if any(a.kind in ("create", "replace") for a in plan.actions):
        from podman_sandbox.engine.superseded import replaced_tags
        replaced += [t for t in replaced_tags(actual, desired)
                     if t in around.images and around.images[t].ours]
    if replaced:
        actions.append(Action("remove-replaced", "the new sandbox no longer uses "
                              + ", ".join(r if ":" in r else r[:12] for r in replaced)
                              + " (Podman keeps what something else still uses)", "cleanup",
                              {"images": replaced}))
    if any(a.params.get("key") == PENDING for a in plan.actions):
        at = next(i for i, a in enumerate(actions) if a.kind in IMAGE_ACTIONS)
        actions[at] = Action(actions[at].kind, actions[at].reason, actions[at].change_class,
                             actions[at].params, actions[at].discards, actions[at].notes + (REPLANNED,))
    return Plan(tuple(first + actions), plan.changes)


def _made_from(plan: Plan, tag: str) -> bool:
    return any(a.kind in ("create", "replace") and a.params.get("image") == tag for a in plan.actions)

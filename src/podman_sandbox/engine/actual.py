"""Actual state: what Podman has, in the same canonical shape as Desired.

One `podman inspect CONTAINER IMAGE` answers the no-change question. Fields
Podman reports reliably come from inspect (mounts, env, pids limit, user,
read-only, network); limits that `podman update` changes live come from the
container's cgroup, because Podman 4's inspect keeps showing the old values
(Podman 5's does not; the cgroup is right on both); intent-only
fields (the user's image name, the setup steps) come from the label written
at create time. That is an Observed (observe()). The rest (images on disk,
uncommitted changes) is looked up only when something has to change, and makes
the Actual the planner requires (complete()). Podman's answers are read by
engine/answers.py: a failing Podman is an error here, never an empty answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from podman_sandbox.engine import answers, cgroup, connection, host, images, ownership
from podman_sandbox.engine.labels import (LABEL_BASE_ID, LABEL_HASH, LABEL_MANAGED, LABEL_PROJECT,
                                          LABEL_SOURCE, LABEL_SPEC)
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.render import render
from podman_sandbox.engine.runner import Pending, Runner
from podman_sandbox.errors import PodmanError

TYPE_CHECKING = False  # typing's import costs milliseconds; mypy sees True
if TYPE_CHECKING:  # pragma: no cover - types only
    from typing import AbstractSet


# Paths Podman itself changes in every container: not the user's changes.
_PODMAN_PATHS = {"/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run",
                 "/run/.containerenv", "/run/secrets", "/workspace", "/dev", "/proc", "/sys",
                 "/tmp", "/var", "/var/tmp", "/run/podman-init"}


@dataclass(frozen=True)
class Observed:
    """What one `podman inspect NAME IMAGE` shows (observe()): enough to tell "in sync"
    and what status, stop and logs need, not enough to plan a change: that takes an
    Actual (complete()), which the planner requires."""

    state: str  # missing | running | stopped
    container_id: str | None
    pid: int | None  # init process on the host, when running
    pid_file: str | None  # where Podman writes the init pid (read by the fast path)
    observed: dict | None  # canonical shape, as Desired.container
    managed: bool  # False: a container of that name that we did not make
    labels: dict  # the container's (whose it is: ownership.py)
    owner_key: str  # this spec's owner hash (ownership.spec_owner_hash): keys our tags
    base_image_id: str | None  # the spec's image as it is locally now (None: absent)
    base_labels: dict  # its labels (one we made is an owner's)
    built_from_base_id: str | None  # the base image id the container was made from
    memory_enforced: bool

    @property
    def observed_hash(self) -> str | None:
        from podman_sandbox.engine.desired import spec_hash
        return spec_hash(self.observed) if self.observed is not None else None


@dataclass(frozen=True)
class Actual(Observed):
    """Observed, and what only a change needs: images on disk and uncommitted work.

    Made by complete(), every field at once (none has a default): an Actual
    that plans no discards because nobody looked for them cannot be made."""

    setup_image_present: bool
    state_image: str | None  # committed state tag for this sandbox and base
    # The committed state of the container's own base and setup, when the spec now
    # keys another one (image or setup changed): kept, but not used by a new container.
    other_state_image: str | None
    # Saved states of the old tag format that are provably ours: (image id, old tag, new tag).
    legacy_states: list[tuple[str, str, str]]
    uncommitted: list[str]  # changed paths in the container
    disk_unenforced: str | None  # disk: asked for, and why Podman cannot enforce it here


def _env_map(env_list: list[str] | None) -> dict[str, str]:
    out = {}
    for item in env_list or ():
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _network(mode: str | None) -> str:
    """none and host as such; any other mode is Podman's default network (bridge, slirp4netns)."""
    return mode if mode in ("none", "host") else "bridge"


def observe_container(info: dict, *, rootless_v1: bool,
                      inside: tuple | None = None) -> tuple[dict | None, bool]:
    """(canonical observed container, memory limit enforced?) from one inspect entry.
    inside: the limits read in the sandbox (remote.limits_inside), for an engine whose
    processes are not in this host's /proc."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    try:
        intent = json.loads(labels.get(LABEL_SPEC, ""))
    except json.JSONDecodeError:
        return None, True
    cfg, hostcfg = info.get("Config") or {}, info.get("HostConfig") or {}
    state = info.get("State") or {}
    observed = dict(intent)
    observed["name"] = info.get("Name", intent.get("name"))
    env = _env_map(cfg.get("Env"))
    observed["env"] = {k: env[k] for k in intent.get("env", {}) if k in env}
    observed["mounts"] = sorted(
        ({"source": m.get("Source"), "target": m.get("Destination"), "read_only": not m.get("RW", True)}
         for m in info.get("Mounts") or () if m.get("Type", "bind") == "bind"),
        key=lambda m: m["target"])
    pids = hostcfg.get("PidsLimit") or 0
    observed["pids_limit"] = pids if pids > 0 else 0
    observed["read_only"] = bool(hostcfg.get("ReadonlyRootfs", False))
    # Without --user the image's own USER shows here: only a user we set is ours to compare.
    observed["user"] = (cfg.get("User") or None) if intent.get("user") else None
    observed["network"] = _network(hostcfg.get("NetworkMode"))
    enforced = True
    pid = state.get("Pid") or 0
    if state.get("Running") and pid > 0:
        enforced = _cgroup_limits(observed, intent, pid, rootless_v1=rootless_v1, inside=inside)
    else:
        # What a start applies: Podman 4 drops a live update at stop, Podman 5 keeps it;
        # inspect shows that on both (tests/unit/test_podman5_answers.py).
        memory = hostcfg.get("Memory") or 0
        if not rootless_v1:
            observed["memory"] = memory if memory > 0 else None
        nano = hostcfg.get("NanoCpus") or 0
        observed["cpus"] = nano / 1e9 if nano > 0 else None
    return observed, enforced


def _cgroup_limits(observed: dict, intent: dict, pid: int, *, rootless_v1: bool,
                   inside: tuple | None = None) -> bool:
    """observed's memory and cpus as the running pid's cgroup enforces them; whether
    the memory limit is enforced."""
    readable, limit = inside[:2] if inside else cgroup.memory_limit(pid)
    enforced = True
    if rootless_v1:
        # cgroup v1 rootless: Podman ignores limits; report intent, flag it.
        enforced = intent.get("memory") is None
    elif readable:
        observed["memory"] = limit
    cpus = inside[2] if inside else cgroup.cpu_limit(pid)
    if cpus is not None and not rootless_v1:
        observed["cpus"] = cpus or None
    return enforced


def _as_host_applies(observed: dict | None, enforced: bool, desired: Desired) -> bool:
    """Where Podman ignores the limits (rootless, cgroup v1) nothing can change them,
    so they are never drift; status and apply report them as not enforced."""
    if observed is not None and not host.limits_enforced():
        for key in host.LIMIT_FIELDS:
            observed[key] = desired.container.get(key)
        return desired.container.get("memory") is None
    return enforced


def observe(runner: Runner, desired: Desired) -> Observed:
    """The cheap part: one podman inspect for the container and the base image."""
    spec = desired.spec
    return from_answers(*answers.sandbox(runner, spec.name, spec.image), desired, runner)


def from_answers(container: answers.Container | None, image: dict | None, desired: Desired,
                 runner: Runner) -> Observed:
    """observe's answer from what `podman inspect NAME IMAGE` said (answers.sandbox): also
    the inspect a create makes to check the new sandbox's mounts (engine/apply.py)."""
    spec = desired.spec
    observed, enforced = None, True
    if container is not None and container.managed:
        inside = None
        if connection.is_remote() and container.running:
            from podman_sandbox.engine import remote
            inside = remote.limits_inside(runner, container.id or container.name)
        observed, enforced = observe_container(
            container.info, rootless_v1=host.rootless_cgroup_v1(), inside=inside)
    enforced = _as_host_applies(observed, enforced, desired)
    return Observed(
        state="missing" if container is None else "running" if container.running else "stopped",
        container_id=container.id if container else None,
        pid=container.pid if container else None,
        pid_file=container.pid_file if container else None,
        observed=observed,
        managed=container.managed if container else True,
        labels=dict(container.labels) if container else {},
        owner_key=ownership.spec_owner_hash(spec),
        base_image_id=(image.get("Id") or None) if image else None,
        base_labels=answers.labels_of(image),
        built_from_base_id=container.built_from if container else None,
        memory_enforced=enforced)


def as_made(desired: Desired, before: Observed, container_id: str, pid: int, pid_file: str,
            labels: dict[str, str]) -> Observed:
    """The sandbox container this converge has just created and started from desired
    with labels, told without asking Podman again (engine/made.py found its init).
    Its settings are those its create command carried (Podman makes a container as
    told or fails), its limits are read from its cgroup as for an inspected one, and
    its mounts were verified in /proc before this. before: the survey's view (the
    base image)."""
    intent = json.loads(labels[LABEL_SPEC])
    observed = dict(intent)
    enforced = _cgroup_limits(observed, intent, pid, rootless_v1=host.rootless_cgroup_v1())
    enforced = _as_host_applies(observed, enforced, desired)
    return Observed(state="running", container_id=container_id, pid=pid, pid_file=pid_file,
                    observed=observed, managed=True, labels=dict(labels),
                    owner_key=before.owner_key, base_image_id=before.base_image_id,
                    base_labels=dict(before.base_labels),
                    built_from_base_id=labels.get(LABEL_BASE_ID) or None,
                    memory_enforced=enforced)


def list_images(runner: Runner, reference: str) -> list[dict]:
    """`podman images` rows for reference (answers.images: a failing Podman raises)."""
    return answers.images(runner, reference)


def container_state_key(actual: Observed) -> str:
    """The key of the state a container belongs to: the base and setup it was made from."""
    observed = actual.observed or {}
    return images.setup_key(actual.built_from_base_id or "", observed.get("setup", []),
                            actual.owner_key, observed.get("inputs"))


def describe_uncommitted(lost, name: str) -> str:
    """'3 uncommitted changed path(s) in NAME (/a, /b, /c)': the first five, then a count."""
    listing = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
    return f"{len(lost)} uncommitted changed path(s) in {name} ({listing})"


def uncommitted_changes(runner: Runner, container: str, actual: Observed, spec=None, *,
                        must_know: bool = False) -> list[str]:
    """Paths changed in the container since its last commit (or since it was made);
    with spec, without the derived ones (engine/derived.py): what a discard would lose.
    must_know: `podman diff` giving no answer is an error, not "nothing changed"."""
    found = changed_paths(runner, container, committed_tag(runner, container, actual),
                          mount_points(actual))
    if found is None:
        if must_know:
            raise PodmanError(f"podman diff {container} failed: what a change would discard "
                              "cannot be told, so nothing is changed",
                              hint="run `podman diff " + container + "` to see why")
        found = []
    if spec is None:
        return found
    from podman_sandbox.engine import derived
    return derived.work(found, derived.rules(spec))


def mount_points(actual: Observed) -> set[str]:
    """Targets of the container's mounts and the folders above them: Podman makes them
    for the mount, so `podman diff` lists them; they are nobody's work."""
    points = set()
    for mount in (actual.observed or {}).get("mounts") or ():
        path = mount.get("target") or ""
        while path not in ("", "/"):
            points.add(path)
            path = path.rsplit("/", 1)[0]
    return points


def committed_tag(runner: Runner, container: str, actual: Observed) -> str | None:
    """The committed state of the container's own base and setup, if there is one."""
    tag = images.state_tag(container, container_state_key(actual))
    return tag if any(ownership.same_owner(ownership.owner_of(img.get("Labels")),
                                           ownership.owner_of(actual.labels))
                      for img in list_images(runner, tag)) else None


def changed_paths(runner: Runner, container: str, since: str | None,
                  ignore: AbstractSet[str] = frozenset()) -> list[str] | None:
    """Paths changed in the container since the image since (None: since it was made);
    None when `podman diff` gives no answer, so a caller can tell "unknown" from "none"."""
    result = runner.run(render("diff", name=container, since=since), what="podman diff", check=False)
    if result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout or "{}") or {}
    except json.JSONDecodeError:
        return None
    paths: set[str] = set()
    for kind in ("changed", "added", "deleted"):
        paths.update(data.get(kind) or ())
    paths -= _PODMAN_PATHS
    paths -= ignore
    # A changed folder whose changed children are listed is not a change of its own.
    return sorted(p for p in paths
                  if not any(q != p and q.startswith(p.rstrip("/") + "/") for q in paths))


def start_state_listing(runner: Runner, spec) -> Pending:
    """The `podman images` of the sandbox's saved states that complete() makes, begun
    now (beside the survey's inspect, when a change is likely: complete(states=))."""
    return answers.start_images(runner, images.state_repo(spec.name))


def complete(runner: Runner, desired: Desired, seen: Observed,
             states: Pending | None = None) -> Actual:
    """The expensive part, only when something may change: images and uncommitted work.
    The Actual the planner needs, made from seen and all of that at once.
    states: the saved states' listing, already started (start_state_listing)."""
    spec = desired.spec
    setup_present, state_image, other_state_image = False, None, None
    saved: set[str] = set()  # tags of this sandbox's committed states, listed once
    legacy: list[tuple[str, str, str]] = []
    if seen.base_image_id:
        key = images.setup_key(seen.base_image_id, spec.setup, seen.owner_key,
                               desired.inputs_digest)
        if spec.setup:
            setup_present = any(ownership.is_projects(img.get("Labels"), spec)
                                for img in list_images(runner, images.setup_tag(key)))
        saved, legacy = _state_tags(runner, spec, states)
        state = images.state_tag(spec.name, key)
        if state in saved:
            state_image = state
        elif spec.instance:  # an instance with no state of its own starts from the project's
            state = images.state_tag(spec.instance.project.name, key)
            if any(ownership.is_projects(img.get("Labels"), spec) for img in list_images(runner, state)):
                state_image = state
    uncommitted: list[str] = []
    if seen.state != "missing" and seen.managed:
        if seen.base_image_id and seen.built_from_base_id:
            own = images.state_tag(spec.name, container_state_key(seen))
            if own != state_image and own in saved:
                other_state_image = own
        uncommitted = uncommitted_changes(runner, spec.name, seen, spec, must_know=True)
    disk_unenforced = None
    if desired.container.get("disk"):
        from podman_sandbox.engine import disk
        disk_unenforced = disk.reason_for(runner)
    return Actual(**{f.name: getattr(seen, f.name) for f in fields(Observed)},
                  setup_image_present=setup_present, state_image=state_image,
                  other_state_image=other_state_image, legacy_states=legacy,
                  uncommitted=uncommitted, disk_unenforced=disk_unenforced)


def _state_tags(runner: Runner, spec,
                states: Pending | None = None) -> tuple[set[str], list[tuple[str, str, str]]]:
    """(this owner's state tags of the sandbox, its old-format states to adopt).
    states: their listing, already started (start_state_listing).

    A tag counts only when its image's labels name this owner as well: a state
    whose label names another project is never used, whatever its tag says."""
    ours, legacy = set(), []
    repo = images.state_repo(spec.name)
    prefix = f"{repo}:{ownership.spec_owner_hash(spec)}-"
    rows = answers.images_answer(states.result()) if states is not None else list_images(runner, repo)
    for img in rows:
        labels = img.get("Labels") or {}
        for tag in img.get("Names") or img.get("names") or ():
            if tag.startswith(prefix) and ownership.is_ours(labels, spec):
                ours.add(tag)
            else:
                new = ownership.adoptable_legacy_tag(tag, labels, spec, repo)
                if new:
                    legacy.append((img.get("Id", ""), tag, new))
    # Never let an old state overwrite a newer one of the same key.
    return ours, [item for item in legacy if item[2] not in ours]


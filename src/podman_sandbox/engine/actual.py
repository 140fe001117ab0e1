"""Actual state: what Podman has, in the same canonical shape as Desired.

One `podman inspect CONTAINER IMAGE` answers the no-change question. Fields
Podman reports reliably come from inspect (mounts, env, pids limit, user,
read-only, network); limits that `podman update` changes live come from the
container's cgroup, because Podman 4's inspect keeps showing the old values
(Podman 5's does not; the cgroup is right on both); intent-only
fields (the user's image name, the setup steps) come from the label written
at create time. The rest (images on disk, uncommitted changes) is looked up
only when something has to change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from podman_sandbox.engine import cgroup, connection, host, images, ownership
from podman_sandbox.engine.labels import (LABEL_BASE_ID, LABEL_HASH, LABEL_MANAGED, LABEL_PROJECT,
                                          LABEL_SOURCE, LABEL_SPEC)
from podman_sandbox.engine.desired import Desired
from podman_sandbox.engine.render import images_argv, render
from podman_sandbox.engine.runner import Runner
from podman_sandbox.errors import PodmanError


# Paths Podman itself changes in every container: not the user's changes.
_PODMAN_PATHS = {"/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run",
                 "/run/.containerenv", "/run/secrets", "/workspace", "/dev", "/proc", "/sys",
                 "/tmp", "/var", "/var/tmp", "/run/podman-init"}


@dataclass
class Actual:
    state: str = "missing"  # missing | running | stopped
    container_id: str | None = None
    pid: int | None = None  # init process on the host, when running
    pid_file: str | None = None  # where Podman writes the init pid (read by the fast path)
    observed: dict | None = None  # canonical shape, as Desired.container
    managed: bool = True  # False: a container of that name that we did not make
    labels: dict = field(default_factory=dict)  # the container's (whose it is: ownership.py)
    owner_key: str = ""  # this spec's owner hash (ownership.spec_owner_hash): keys our tags
    base_image_id: str | None = None  # the spec's image as it is locally now (None: absent)
    base_labels: dict = field(default_factory=dict)  # its labels (one we made is an owner's)
    built_from_base_id: str | None = None  # the base image id the container was made from
    memory_enforced: bool = True
    # Looked up only when the plan may change something (see complete()):
    setup_image_present: bool = False
    state_image: str | None = None  # committed state tag for this sandbox and base
    # The committed state of the container's own base and setup, when the spec now
    # keys another one (image or setup changed): kept, but not used by a new container.
    other_state_image: str | None = None
    # Saved states of the old tag format that are provably ours: (image id, old tag, new tag).
    legacy_states: list[tuple[str, str, str]] = field(default_factory=list)
    uncommitted: list[str] = field(default_factory=list)  # changed paths in the container
    disk_unenforced: str | None = None  # disk: asked for, and why Podman cannot enforce it here

    @property
    def observed_hash(self) -> str | None:
        from podman_sandbox.engine.desired import spec_hash
        return spec_hash(self.observed) if self.observed is not None else None


def inspect_argv(names: list[str]) -> list[str]:
    """render("inspect", names=names), without loading Jinja.

    This call is the whole no-change check of apply, execute and status, and
    Jinja's import costs tens of ms there; templates/inspect.j2 stays the
    reference (tests/unit/test_hot_path_imports.py holds the two equal).
    """
    return ["podman", "inspect", *(str(name) for name in names)]


def _inspect(runner: Runner, names: list[str]) -> list[dict]:
    result = runner.run(inspect_argv(names), what="podman inspect", check=False)
    try:
        found = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        found = []
    if result.returncode != 0 and not found and "no such object" not in result.stderr:
        raise PodmanError(f"podman inspect failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'exit ' + str(result.returncode)}",
                          argv=result.argv, stderr=result.stderr)
    return found


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
        readable, limit = inside[:2] if inside else cgroup.memory_limit(pid)
        if rootless_v1:
            # cgroup v1 rootless: Podman ignores limits; report intent, flag it.
            enforced = intent.get("memory") is None
        elif readable:
            observed["memory"] = limit
        cpus = inside[2] if inside else cgroup.cpu_limit(pid)
        if cpus is not None and not rootless_v1:
            observed["cpus"] = cpus or None
    else:
        # What a start applies: Podman 4 drops a live update at stop, Podman 5 keeps it;
        # inspect shows that on both (tests/unit/test_podman5_answers.py).
        memory = hostcfg.get("Memory") or 0
        if not rootless_v1:
            observed["memory"] = memory if memory > 0 else None
        nano = hostcfg.get("NanoCpus") or 0
        observed["cpus"] = nano / 1e9 if nano > 0 else None
    return observed, enforced


def observe(runner: Runner, desired: Desired) -> Actual:
    """The cheap part: one podman inspect for the container and the base image."""
    spec = desired.spec
    return from_inspect(_inspect(runner, [spec.name, spec.image]), desired, runner)


def from_inspect(found: list[dict], desired: Desired, runner: Runner | None = None) -> Actual:
    """observe's answer from the output of `podman inspect NAME IMAGE` (also the one a
    create makes to check the new sandbox's mounts: engine/apply.py)."""
    spec = desired.spec
    actual = Actual(owner_key=ownership.spec_owner_hash(spec))
    for info in found:
        if "State" in info and info.get("Name") == spec.name:
            _fill_container(actual, info, runner)
        elif "RootFS" in info or "RepoTags" in info:
            actual.base_image_id = info.get("Id")
            actual.base_labels = dict((info.get("Config") or {}).get("Labels") or info.get("Labels") or {})
    if actual.observed is not None and not host.limits_enforced():
        # Podman ignores these limits here (rootless, cgroup v1): nothing can change
        # them, so they are never drift; status and apply report them as not enforced.
        for key in host.LIMIT_FIELDS:
            actual.observed[key] = desired.container.get(key)
        actual.memory_enforced = desired.container.get("memory") is None
    return actual


def _fill_container(actual: Actual, info: dict, runner: Runner | None = None) -> None:
    labels = (info.get("Config") or {}).get("Labels") or {}
    state = info.get("State") or {}
    actual.container_id = info.get("Id")
    actual.state = "running" if state.get("Running") else "stopped"
    actual.pid = state.get("Pid") or None if state.get("Running") else None
    actual.pid_file = info.get("PidFile") or None
    actual.managed = labels.get(LABEL_MANAGED) == "true"
    actual.labels = dict(labels)
    actual.built_from_base_id = labels.get(LABEL_BASE_ID)
    if actual.managed:
        inside = None
        if runner is not None and connection.is_remote() and state.get("Running"):
            from podman_sandbox.engine import remote
            inside = remote.limits_inside(runner, info.get("Id") or info["Name"])
        actual.observed, actual.memory_enforced = observe_container(
            info, rootless_v1=host.rootless_cgroup_v1(), inside=inside)


def list_images(runner: Runner, reference: str) -> list[dict]:
    result = runner.run(images_argv(reference), what="podman images", check=False)
    try:
        return json.loads(result.stdout or "[]") or []
    except json.JSONDecodeError:
        return []


def container_state_key(actual: Actual) -> str:
    """The key of the state a container belongs to: the base and setup it was made from."""
    observed = actual.observed or {}
    return images.setup_key(actual.built_from_base_id or "", observed.get("setup", []),
                            actual.owner_key, observed.get("inputs"))


def describe_uncommitted(lost, name: str) -> str:
    """'3 uncommitted changed path(s) in NAME (/a, /b, /c)': the first five, then a count."""
    listing = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
    return f"{len(lost)} uncommitted changed path(s) in {name} ({listing})"


def uncommitted_changes(runner: Runner, container: str, actual: Actual, spec=None) -> list[str]:
    """Paths changed in the container since its last commit (or since it was made);
    with spec, without the derived ones (engine/derived.py): what a discard would lose."""
    found = changed_paths(runner, container, committed_tag(runner, container, actual),
                          mount_points(actual)) or []
    if spec is None:
        return found
    from podman_sandbox.engine import derived
    return derived.work(found, derived.rules(spec))


def mount_points(actual: Actual) -> set[str]:
    """Targets of the container's mounts and the folders above them: Podman makes them
    for the mount, so `podman diff` lists them; they are nobody's work."""
    points = set()
    for mount in (actual.observed or {}).get("mounts") or ():
        path = mount.get("target") or ""
        while path not in ("", "/"):
            points.add(path)
            path = path.rsplit("/", 1)[0]
    return points


def committed_tag(runner: Runner, container: str, actual: Actual) -> str | None:
    """The committed state of the container's own base and setup, if there is one."""
    tag = images.state_tag(container, container_state_key(actual))
    return tag if any(ownership.same_owner(ownership.owner_of(img.get("Labels")),
                                           ownership.owner_of(actual.labels))
                      for img in list_images(runner, tag)) else None


def changed_paths(runner: Runner, container: str, since: str | None,
                  ignore: set[str] = frozenset()) -> list[str] | None:
    """Paths changed in the container since the image since (None: since it was made);
    None when `podman diff` gives no answer, so a caller can tell "unknown" from "none"."""
    result = runner.run(render("diff", name=container, since=since), what="podman diff", check=False)
    if result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout or "{}") or {}
    except json.JSONDecodeError:
        return None
    paths = set()
    for kind in ("changed", "added", "deleted"):
        paths.update(data.get(kind) or ())
    paths -= _PODMAN_PATHS
    paths -= ignore
    # A changed folder whose changed children are listed is not a change of its own.
    return sorted(p for p in paths
                  if not any(q != p and q.startswith(p.rstrip("/") + "/") for q in paths))


def complete(runner: Runner, desired: Desired, actual: Actual) -> Actual:
    """The expensive part, only when something may change: images and uncommitted work."""
    spec = desired.spec
    saved = None  # tags of this sandbox's committed states, listed once
    if actual.base_image_id:
        key = images.setup_key(actual.base_image_id, spec.setup, actual.owner_key,
                               desired.inputs_digest)
        if spec.setup:
            actual.setup_image_present = any(ownership.is_projects(img.get("Labels"), spec)
                                             for img in list_images(runner, images.setup_tag(key)))
        saved, actual.legacy_states = _state_tags(runner, spec)
        state = images.state_tag(spec.name, key)
        if state in saved:
            actual.state_image = state
        elif spec.instance:  # an instance with no state of its own starts from the project's
            state = images.state_tag(spec.instance.project.name, key)
            if any(ownership.is_projects(img.get("Labels"), spec) for img in list_images(runner, state)):
                actual.state_image = state
    if actual.state != "missing" and actual.managed:
        if actual.base_image_id and actual.built_from_base_id:
            own = images.state_tag(spec.name, container_state_key(actual))
            if own != actual.state_image and own in (saved or ()):
                actual.other_state_image = own
        actual.uncommitted = uncommitted_changes(runner, spec.name, actual, spec)
    if desired.container.get("disk"):
        from podman_sandbox.engine import disk
        actual.disk_unenforced = disk.reason_for(runner)
    return actual


def _state_tags(runner: Runner, spec) -> tuple[set[str], list[tuple[str, str, str]]]:
    """(this owner's state tags of the sandbox, its old-format states to adopt).

    A tag counts only when its image's labels name this owner as well: a state
    whose label names another project is never used, whatever its tag says."""
    ours, legacy = set(), []
    repo = images.state_repo(spec.name)
    prefix = f"{repo}:{ownership.spec_owner_hash(spec)}-"
    for img in list_images(runner, repo):
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


"""Garbage collection: sandboxes and images left behind by project folders that are gone.

CI runs and deleted checkouts leave sandboxes behind. Each container and
image podman-sandbox makes carries its labels (managed, project path, the
canonical spec, the base image id), which is all this module looks at:
anything without the managed label, or outside our image repositories, is
never touched.

Orphans, in the order they are removed:

- containers (sandboxes, and leftovers of interrupted runs: NAME-next,
  NAME-setup) whose project folder no longer exists;
- committed state images (localhost/podman-sandbox-state-NAME) whose project
  folder no longer exists and whose sandbox is gone (or is being removed);
  the state of the classic sandbox (the one ~/.config governs, not a
  project) is never collected: `reset` drops it;
- setup images (localhost/podman-sandbox-setup) and built base images
  (localhost/podman-sandbox-build, from `build:`) that no remaining
  container, saved state or other image was made from, made for a project
  folder that is gone, or *superseded*: the project still exists, and either
  its sandbox runs on another one, or (no sandbox now) a newer one of the
  same kind was made for it since.

A folder is gone only when looking it up says "no such file": a folder we
may not read, or any other error, counts as present.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import asdict, dataclass, field

from podman_sandbox.engine import answers, images, ownership
from podman_sandbox.engine.labels import (LABEL_BASE_ID, LABEL_MANAGED, LABEL_PROJECT, LABEL_ROLE,
                                          LABEL_SANDBOX, LABEL_SOURCE, LABEL_SPEC)
from podman_sandbox.engine.lock import sandbox_lock
from podman_sandbox.engine.render import render
from podman_sandbox.engine.runner import Runner
from podman_sandbox.errors import SandboxError
from podman_sandbox.output import Output



@dataclass
class Orphan:
    kind: str  # container | state-image | setup-image | instance (its folder; id: the folder)
    name: str  # container name or image tag
    id: str
    project: str
    reason: str
    removed: bool = False
    error: str | None = None
    tags: list[str] = field(default_factory=list)  # images: every tag of ours it has

    def as_dict(self) -> dict:
        data = asdict(self)
        del data["tags"]
        return data


def folder_gone(path: str | None) -> bool:
    """True only when the folder certainly does not exist (ENOENT / ENOTDIR)."""
    if not path or not os.path.isabs(path):
        return False
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno in (errno.ENOENT, errno.ENOTDIR)
    return not os.path.isdir(path)


def within(path: str, root: str | None) -> bool:
    if root is None:
        return True
    root = os.path.normpath(os.path.abspath(root))
    path = os.path.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _spec_label(labels: dict) -> dict | None:
    try:
        spec = json.loads(labels.get(LABEL_SPEC, ""))
    except (json.JSONDecodeError, TypeError):
        return None
    return spec if isinstance(spec, dict) else None


def _setup_key_of(labels: dict) -> str | None:
    """The setup image a container or state image was made from (by key), if any."""
    spec = _spec_label(labels)
    base = labels.get(LABEL_BASE_ID)
    owner = ownership.owner_of(labels)
    if spec is None or not base or not spec.get("setup") or not owner:
        return None
    return images.setup_key(base, spec["setup"], ownership.owner_hash(owner), spec.get("inputs"))


def _is_classic(labels: dict) -> bool:
    """The classic sandbox: governed by the user's config.json, not by a project's file."""
    project, source = labels.get(LABEL_PROJECT), labels.get(LABEL_SOURCE)
    return bool(source and os.path.dirname(source) != project)


def find(runner: Runner, *, under: str | None = None) -> list[Orphan]:
    """Everything gc would remove, without changing anything."""
    label = LABEL_MANAGED
    containers = [c for c in answers.managed_containers(runner, label)
                  if (c.get("Labels") or {}).get(label) == "true"]
    found: list[Orphan] = []
    kept_containers = []
    for c in containers:
        labels = c.get("Labels") or {}
        project = labels.get(LABEL_PROJECT)
        name = (c.get("Names") or [""])[0]
        if project and within(project, under) and folder_gone(project):
            found.append(Orphan("container", name, c.get("Id", ""), project,
                                f"project folder {project} no longer exists"))
        else:
            kept_containers.append(c)
    # A saved state is kept with the sandbox of its name *and* owner (ownership.py).
    kept_names = {((c.get("Names") or [""])[0], ownership.owner_of(c.get("Labels")))
                  for c in kept_containers}

    imgs = [i for i in answers.managed_images(runner, label)
            if (i.get("Labels") or {}).get(label) == "true"]
    state_imgs = []
    setup_imgs = []
    for img in imgs:
        tags = img.get("Names") or []
        state_tags = [t for t in tags if t.startswith(images.STATE_REPO_PREFIX)]
        setup_tags = [t for t in tags if t.startswith(images.SETUP_REPO + ":")]
        build_tags = [t for t in tags if t.startswith(images.BUILD_REPO + ":")]
        if state_tags:
            state_imgs.append((img, state_tags))
        elif setup_tags:
            setup_imgs.append((img, setup_tags))
        elif build_tags:
            setup_imgs.append((img, build_tags))

    kept_states = []
    for img, tags in state_imgs:
        labels = img.get("Labels") or {}
        project = labels.get(LABEL_PROJECT)
        sandbox = labels.get(LABEL_SANDBOX) or tags[0].split(":", 1)[0][len(images.STATE_REPO_PREFIX):]
        owner = ownership.owner_of(labels)
        kept_with = any(n == sandbox and ownership.same_owner(o, owner) for n, o in kept_names)
        if (project and not _is_classic(labels) and not kept_with
                and within(project, under) and folder_gone(project)):
            found.append(Orphan("state-image", tags[0], img.get("Id", ""), project,
                                f"saved state of {sandbox}, whose project folder {project} "
                                "no longer exists", tags=tags))
        else:
            kept_states.append(img)

    in_use_keys = {k for k in (_setup_key_of(x.get("Labels") or {})
                               for x in [*kept_containers, *kept_states]) if k}
    in_use_ids = {c.get("ImageID") for c in kept_containers}
    # Images others were made from (a state's or a setup result's base, a parent layer),
    # unless those others go too (a deleted project's saved state is no reason to keep
    # the setup result it was committed on).
    going = {o.id for o in found}
    kept_imgs = [x for x in imgs if x.get("Id") not in going]
    in_use_ids |= {(x.get("Labels") or {}).get(LABEL_BASE_ID) for x in kept_imgs}
    in_use_ids |= {x.get("ParentId") or x.get("Parent") for x in kept_imgs}
    owners_running = {ownership.owner_of(c.get("Labels")) for c in kept_containers}
    newest: dict = {}  # (owner, repo) -> the latest image made, kept while no sandbox runs
    for img, tags in setup_imgs:
        group = (ownership.owner_of(img.get("Labels")), tags[0].split(":", 1)[0])
        if _created(img) >= _created(newest.get(group, {})):
            newest[group] = img
    for img, tags in setup_imgs:
        labels = img.get("Labels") or {}
        project = labels.get(LABEL_PROJECT)
        keys = {t.split(":", 1)[1] for t in tags}
        if keys & in_use_keys or img.get("Id") in in_use_ids or not project:
            continue
        kind = "build-image" if tags[0].startswith(images.BUILD_REPO + ":") else "setup-image"
        what = "built image" if kind == "build-image" else "setup result"
        if not within(project, under):
            continue
        if folder_gone(project):
            found.append(Orphan(kind, tags[0], img.get("Id", ""), project,
                                f"{what} no sandbox or saved state uses, built for "
                                f"{project}, which no longer exists", tags=tags))
            continue
        owner = ownership.owner_of(labels)
        if any(ownership.same_owner(owner, o) for o in owners_running):
            found.append(Orphan(kind, tags[0], img.get("Id", ""), project,
                                f"superseded {what} of {project}: its sandbox runs on another",
                                tags=tags))
        elif newest.get((owner, tags[0].split(":", 1)[0])) is not img:
            found.append(Orphan(kind, tags[0], img.get("Id", ""), project,
                                f"superseded {what} of {project}: a newer one was made since",
                                tags=tags))
    # Instances keep their worktree or copy in the user's state folder (instance.py).
    from podman_sandbox.engine import workspace
    for folder, meta in workspace.all_metas():
        project = meta.get("project")
        if project and within(project, under) and folder_gone(project):
            found.append(Orphan("instance", meta.get("name", os.path.basename(folder)), folder, project,
                                f"instance folder {folder}, whose project folder {project} "
                                "no longer exists"))
    return found


def _created(img: dict) -> int:
    value = img.get("Created", 0)
    return value if isinstance(value, int) else 0


def remove(runner: Runner, orphans: list[Orphan], out: Output) -> list[Orphan]:
    """Remove what find() returned, containers first; each failure is noted, not raised."""
    for orphan in orphans:
        out.step(f"removing {orphan.kind} {orphan.name}")
        try:
            if orphan.kind == "container":
                with sandbox_lock(orphan.name, wait=30):
                    runner.run(render("remove", name=orphan.id), what=f"remove {orphan.name}")
            elif orphan.kind == "instance":  # its folder (id): the worktree went with the repo
                from podman_sandbox.engine import workspace
                workspace.remove(None, orphan.id, out)
            else:
                # One tag at a time: the image itself goes with its last tag, and only
                # when no container or other image still needs it (no --force).
                for tag in orphan.tags or [orphan.name]:
                    runner.run(render("rmi", image=tag), what=f"remove {tag}")
            orphan.removed = True
        except SandboxError as exc:
            orphan.error = exc.message
            out.notice(f"kept {orphan.kind} {orphan.name}: {exc.message}")
    return orphans

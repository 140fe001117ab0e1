"""Whose sandbox is it: the one rule every command applies before it touches a
container, a saved state or a setup image by name.

A sandbox belongs to the folder of the file that governs it: the project folder
(sandbox.yaml's folder) in a project, the config folder
($XDG_CONFIG_HOME/podman-sandbox) in classic mode, where the mounted folder
changes with every cd. Containers and images carry it in their labels
(LABEL_SOURCE, the governing file; LABEL_PROJECT for what has no source label).
Names are not identities: any project may write `name: someone-else`.

So a container, state or setup image whose labels name another owner is never
replaced, started, committed into, reset or reused (RefusedError, exit 123).
Saved-state and setup tags start with a short hash of the owner
(images.setup_key), so another project's tags are never even looked up.

An instance (instance.py) is an owner of its own: the same folder and the
instance's name (LABEL_INSTANCE; none or "" for the project's own sandbox). So
instances never touch each other's containers and states, nor the plain
sandbox's. The project's setup image and committed state are an instance's
starting point: usable read-only (is_projects), never committed into.

Standard library only.
"""

from __future__ import annotations

import json
import os
import re

from podman_sandbox.engine.labels import (LABEL_BASE_ID, LABEL_INSTANCE, LABEL_MANAGED, LABEL_PROJECT,
                                          LABEL_SOURCE, LABEL_SPEC)
from podman_sandbox.errors import RefusedError
from podman_sandbox.lite import sha256

# Tags written before tags carried the owner: "<16 hex>" or "<16 hex>-prev".
LEGACY_TAG = re.compile(r"^[0-9a-f]{16}(-prev)?$")


def identity(spec) -> str:
    """The folder a spec's sandbox belongs to (see the module docstring)."""
    if spec.source:
        return os.path.dirname(os.path.normpath(spec.source))
    return spec.project_dir


def owner_of(labels: dict | None) -> str | None:
    """The owner folder that labels name; None when they name none (not ours to judge)."""
    labels = labels or {}
    source = labels.get(LABEL_SOURCE)
    if source:
        return os.path.dirname(os.path.normpath(source))
    return labels.get(LABEL_PROJECT) or None


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.normpath(path)


def same_owner(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return os.path.normpath(a) == os.path.normpath(b) or _real(a) == _real(b)


def owner_hash(folder: str) -> str:
    """Short, stable per owner folder (its real path: one folder, one hash)."""
    return sha256(_real(folder).encode()).hexdigest()[:10]


def spec_owner_hash(spec) -> str:
    return owner_hash(identity(spec))


def instance_of(labels: dict | None) -> str:
    """The instance labels name ("": the project's own sandbox, or its images)."""
    return (labels or {}).get(LABEL_INSTANCE) or ""


def spec_instance(spec) -> str:
    inst = getattr(spec, "instance", None)
    return inst.name if inst else ""


def is_ours(labels: dict | None, spec) -> bool:
    return same_owner(owner_of(labels), identity(spec)) and instance_of(labels) == spec_instance(spec)


def is_projects(labels: dict | None, spec) -> bool:
    """Made by the project itself (not by one of its instances): what its instances may
    start from (setup image, committed state), read-only."""
    return same_owner(owner_of(labels), identity(spec)) and instance_of(labels) == ""


def refusal(kind: str, name: str, labels: dict | None, spec) -> RefusedError:
    owner = owner_of(labels) or "an unknown folder (no project label)"
    if instance_of(labels):
        owner += f" (instance {instance_of(labels)})"
    mine = identity(spec)
    if spec_instance(spec):
        mine += f" (instance {spec_instance(spec)})"
    where = "config folder" if spec.mode == "classic" else "project"
    return RefusedError(
        f"{kind} {name!r} belongs to {owner}, not to this {where} ({mine}); it is left alone",
        hint=f"choose another `name:` in {spec.source or 'the spec'} (two projects, or two "
             "config folders, must not share a sandbox name)")


def require(kind: str, name: str, labels: dict | None, spec) -> None:
    """The rule: refuse (exit 123) anything of that name whose labels name another owner."""
    if not is_ours(labels, spec):
        raise refusal(kind, name, labels, spec)


def require_own_base(spec, labels: dict | None) -> None:
    """`image:` is no grant, but an image podman-sandbox made (a saved state, a setup
    result, or one built FROM them: labels are inherited) is its owner's: another
    project naming it as its base would start from what that project saved."""
    if (labels or {}).get(LABEL_MANAGED) == "true" and owner_of(labels):
        require("image", spec.image, labels, spec)


def require_not_a_lost_project(runner, folder: str) -> None:
    """Classic mode in a folder that is (or is inside) a project whose sandbox.yaml is gone:
    refused. Code in that project's sandbox can delete its own sandbox.yaml; your next
    `execute` there would run in your classic sandbox, with your config.json's env, mounts
    and saved state, instead of the project's. Its containers and images say it was one."""
    from podman_sandbox.engine import answers
    from podman_sandbox.locate import SPEC_NAMES

    here = _real(folder).rstrip("/") + "/"
    for kind, listing in (("ps_managed", answers.managed_containers),
                          ("images_managed", answers.managed_images)):
        for item in listing(runner, LABEL_MANAGED):
            source = ((item or {}).get("Labels") or {}).get(LABEL_SOURCE) or ""
            owner = os.path.dirname(_real(source)).rstrip("/") + "/"
            if os.path.basename(source) in SPEC_NAMES and here.startswith(owner) \
                    and not os.path.isfile(source):
                names = item.get("Names") or [str(item.get("Id", ""))[:12]]
                remove = "podman rm -f" if kind == "ps_managed" else "podman rmi"
                raise RefusedError(
                    f"{owner.rstrip('/')} is a project ({names[0]} is its), but its "
                    f"{os.path.basename(source)} is gone; refusing to run it in classic mode, "
                    "with your own settings (code in its sandbox can delete that file)",
                    hint=f"restore {source} (git checkout?), or remove what is left of that "
                         f"project (`{remove} {names[0]}`, ...) to use classic mode there")


def adoptable_legacy_tag(tag: str, labels: dict | None, spec, name_repo: str) -> str | None:
    """The new-format tag a saved state of the old format moves to, or None to leave it.

    Old states (tag "<key>" with no owner) are adopted only when the image's own
    labels, inherited from the container that committed it, name this owner: the
    tool wrote them at create time from the governing file's folder. Anything else
    (another project's state, one with no labels, one committed by a project
    that had taken the name over) is left where it is: `status` and `gc` list it.
    """
    from podman_sandbox.engine import images

    repo, _, tail = tag.rpartition(":")
    if repo != name_repo or not LEGACY_TAG.match(tail) or not is_ours(labels, spec):
        return None
    base = (labels or {}).get(LABEL_BASE_ID)
    try:
        setup = json.loads((labels or {}).get(LABEL_SPEC, "")).get("setup", [])
    except (json.JSONDecodeError, AttributeError):
        return None
    if not base or not isinstance(setup, list):
        return None
    key = images.setup_key(base, setup, spec_owner_hash(spec))
    return f"{repo}:{key}{'-prev' if tail.endswith('-prev') else ''}"

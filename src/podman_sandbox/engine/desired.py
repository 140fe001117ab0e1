"""Desired state: the canonical container a Spec asks for, and its hash.

The canonical form is plain JSON (sorted keys, lists in spec order) so it can
travel in a container label, be compared by deepdiff, and be hashed.
auto_commit is a tool-side setting and is deliberately not part of it:
changing it must never touch the container.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from podman_sandbox.engine.mountcheck import desired_source
from podman_sandbox.schema.spec import WORKSPACE, Spec

# Field -> how a change to it is applied (see engine/diff.py).
LIVE_FIELDS = ("memory", "cpus")
REBUILD_FIELDS = ("setup",)


def relabels(source: str, project_dir: str) -> bool:
    """On SELinux hosts, Podman's `z` rewrites the host files' labels: only the project's
    own files get it (the folder at /workspace and what really lies inside it, symlinks
    followed), never a system file or another folder the sandbox merely uses."""
    import os

    project = os.path.realpath(project_dir)
    real = os.path.realpath(source)
    return real == project or real.startswith(project.rstrip("/") + "/")


def volume_options(mount: dict, project_dir: str, selinux_label: str = "project") -> str:
    """The --volume options of a canonical mount: ro or rw, and z for the project's own."""
    mode = "ro" if mount["read_only"] else "rw"
    if selinux_label == "project" and relabels(mount["source"], project_dir):
        return mode + ",z"
    return mode


def canonical(spec: Spec) -> dict:
    from podman_sandbox.engine.remote import workspace_source

    mounts = [{"source": workspace_source(spec.project_dir), "target": WORKSPACE, "read_only": False}]
    # Extra mounts by their real path: what Podman is given (engine/mountcheck.py), so a
    # symlink retargeted since the last create is drift. /workspace keeps the path the
    # user works in (code in the sandbox cannot move the project folder itself).
    mounts += [{"source": desired_source(m.source), "target": m.target, "read_only": m.read_only}
               for m in spec.mounts]
    mounts.sort(key=lambda m: m["target"])  # Podman reports mounts in its own order
    container = {
        "name": spec.name,
        "image": spec.image,
        "setup": list(spec.setup),
        "mounts": mounts,
        "env": dict(spec.env),
        "memory": spec.memory,
        "cpus": None if spec.cpus is None else round(spec.cpus, 3),
        "pids_limit": spec.pids_limit,
        "network": spec.network,
        "read_only": spec.read_only,
        "cap_drop": list(spec.cap_drop),
        "cap_add": list(spec.cap_add),
        "user": spec.user,
    }
    if spec.selinux_label != "project":  # only when set: the hash of every other spec stays
        container["selinux_label"] = spec.selinux_label
    return container


def _with_disk(container: dict, spec: Spec) -> dict:
    # Only when set: every sandbox made before `disk:` existed keeps its hash.
    if spec.disk is not None:
        container["disk"] = spec.disk
    return container


def spec_hash(container: dict) -> str:
    blob = json.dumps(container, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Desired:
    spec: Spec
    container: dict
    hash: str

    @classmethod
    def from_spec(cls, spec: Spec) -> "Desired":
        container = _with_disk(canonical(spec), spec)
        return cls(spec=spec, container=container, hash=spec_hash(container))

"""Desired state: the canonical container a Spec asks for, and its hash.

The canonical form is plain JSON (sorted keys, lists in spec order) so it can
travel in a container label, be compared by deepdiff, and be hashed.
auto_commit is a tool-side setting and is deliberately not part of it:
changing it must never touch the container.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from podman_sandbox.engine.mountcheck import desired_source
from podman_sandbox.lite import sha256
from podman_sandbox.locate import WORKSPACE
from podman_sandbox.schema.spec import Spec

TYPE_CHECKING = False  # typing's import costs milliseconds; mypy sees True
if TYPE_CHECKING:  # imported when there are inputs or a build, not for every Desired
    from typing import Any

    from podman_sandbox.engine.build import Context
    from podman_sandbox.engine.inputdigest import Digest

# Field -> how a change to it is applied (see engine/diff.py).
LIVE_FIELDS = ("memory", "cpus")
REBUILD_FIELDS = ("setup", "inputs")


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

    mounts: list[dict[str, Any]] = [{"source": workspace_source(spec.project_dir), "target": WORKSPACE, "read_only": False}]
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


def inputs_cache_name(spec: Spec) -> str:
    return f"inputs\0{spec.project_dir}"


def setup_inputs(spec: Spec):
    """The content digest of the spec's `inputs:` (inputdigest.Digest), or None when the
    setup has none. An input that escapes the project is refused (exit 123)."""
    if not (spec.setup and spec.inputs):
        return None
    from podman_sandbox.engine import inputdigest, inputs
    from podman_sandbox.errors import RefusedError

    try:
        return inputdigest.digest(spec.project_dir, spec.inputs, cache_name=inputs_cache_name(spec),
                                  boundary=spec.project_dir)
    except inputs.InputError as exc:
        raise RefusedError(f"inputs: {exc}") from None


def _with_disk(container: dict, spec: Spec) -> dict:
    # Only when set: every sandbox made before `disk:` existed keeps its hash.
    if spec.disk is not None:
        container["disk"] = spec.disk
    return container


def spec_hash(container: dict) -> str:
    blob = json.dumps(container, sort_keys=True, separators=(",", ":"))
    return sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Desired:
    """What the sandbox container must be: the spec's canonical container fields and
    their hash (stored as a label), with the digests of setup inputs and build context."""
    spec: Spec
    container: dict
    hash: str
    inputs: Digest | None = None  # of the setup's inputs
    build: Context | None = None  # of `build:`

    @property
    def inputs_digest(self) -> str | None:
        return self.inputs.digest if self.inputs is not None else None

    def watched(self) -> tuple[str, str]:
        """(inputs.watch_text, combined signature) of the files this desired state was
        computed from (setup inputs, build context): the fast path re-checks their stat
        data before it trusts a record; ("", "") when there are none."""
        from podman_sandbox.engine import inputs

        sets, sigs = [], []
        if self.inputs is not None:
            spec = self.spec
            sets.append((spec.project_dir, spec.inputs, spec.project_dir, inputs.IGNORE_FILE, False))
            sigs.append(self.inputs.signature)
        if self.build is not None:
            sets.extend(self.build.watch_sets)
            sigs.extend(self.build.signatures)
        if not sets:
            return "", ""
        return inputs.watch_text(sets), inputs.combined(sigs)

    @classmethod
    def from_spec(cls, spec: Spec, *, strict: bool = True) -> "Desired":
        """strict=False (stop, reset, status, logs): an input or build context that is
        refused or missing leaves those parts out instead, so a broken one never locks
        you out."""
        from podman_sandbox.errors import RefusedError, SpecError

        build = found = None
        if spec.build is not None:
            from dataclasses import replace

            from podman_sandbox.engine import build as building
            try:
                build = building.context(spec)
                spec = replace(spec, image=build.tag)  # everything downstream uses the built tag
            except (RefusedError, SpecError):
                if strict:
                    raise
        try:
            found = setup_inputs(spec)
        except RefusedError:
            if strict:
                raise
        container = _with_disk(canonical(spec), spec)
        if found is not None:  # only then: every other spec keeps its hash
            container["inputs"] = found.digest
        return cls(spec=spec, container=container, hash=spec_hash(container), inputs=found,
                   build=build)

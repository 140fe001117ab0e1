"""Spec: a validated sandbox description with defaults applied and paths resolved.

Built from a document that already passed validation (sandbox.yaml in a
project, or the user's config.json in classic mode); it never re-checks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from podman_sandbox.schema.naming import image_name, resolve_host_path, sandbox_name
from podman_sandbox.schema.sizes import page_aligned, parse_size

TYPE_CHECKING = False  # typing's import costs milliseconds; mypy sees True
if TYPE_CHECKING:  # pragma: no cover - types only
    from typing import Any

DEFAULT_PIDS_LIMIT = 2048


@dataclass(frozen=True)
class Mount:
    """mounts: one host folder or file in the sandbox."""
    source: str  # absolute host path
    target: str  # absolute path in the sandbox
    read_only: bool = True
    force: bool = False  # broad sources allowed: a grant (trust.py), checked again at every create (mountcheck.py)


@dataclass(frozen=True)
class Build:
    """build: the base image made from a Containerfile (engine/build.py)."""
    context: str  # absolute host folder
    containerfile: str  # absolute host path
    args: tuple[tuple[str, str], ...] = ()  # sorted by name
    target: str | None = None


@dataclass(frozen=True)
class Kube:
    """kube: how the sandbox runs on Kubernetes (engine/kube/); local Podman ignores it."""
    workspace: str = "emptydir"  # emptydir | pvc
    size: int | None = None  # bytes: the PVC's request (None: 1 GiB), the emptyDir's sizeLimit
    storage_class: str | None = None
    registry: str | None = None  # where `push` puts images and the Pod pulls them


@dataclass(frozen=True)
class Instance:
    """What makes a spec an instance's (instances.py): one of several sandboxes of one
    project, each with its own container, saved states and copy of the files."""
    name: str  # the instance name (--instance)
    mode: str  # bind | worktree | copy: what is mounted at /workspace
    project: "Spec"  # the project's own spec: consent, setup image, starting state


@dataclass(frozen=True)
class Spec:
    """A sandbox as its spec asks for it: defaults applied, host paths resolved."""
    image: str
    name: str
    project_dir: str  # absolute host path mounted at /workspace
    source: str  # the file this spec came from (for messages); "" for built-in defaults
    mode: str  # "project" (sandbox.yaml) or "classic" (user config, cwd mounted)
    memory: int | None = None  # bytes, page aligned; None = no limit
    disk: int | None = None  # bytes the container may write (engine/disk.py); None = no limit
    cpus: float | None = None  # None: no limit (`cpus: null`); absent from the spec: default_cpus()
    pids_limit: int = DEFAULT_PIDS_LIMIT  # 0 = no limit
    auto_commit: bool = False
    setup: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # sorted by name
    network: str = "bridge"
    read_only: bool = False
    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    user: str | None = None
    mounts: tuple[Mount, ...] = field(default=())
    selinux_label: str = "project"  # "disable": --security-opt label=disable (a grant)
    inputs: tuple[str, ...] = ()  # files the setup steps read (engine/inputs.py)
    ignore_changes: tuple[str, ...] = ()  # globs of derived paths (engine/derived.py)
    build: Build | None = None  # image: is then the tag the build makes (engine/build.py)
    workspace: str | None = None  # what instances mount: bind | worktree | copy (None: by repo)
    instance: Instance | None = None  # set on an instance's spec only (instances.py)
    kube: Kube = field(default_factory=Kube)


def default_cpus() -> float | None:
    """The CPU limit of a spec that names none: the host's cores less a share, so that a
    runaway sandbox (a fork bomb) leaves the host's own processes some CPU. A CPU weight
    would not: Podman puts every container under one parent cgroup, which already competes
    with the host as one group. 1 core: 0.75; 2: 1.5; 8: 7.5. None where Podman enforces
    no limit for us (rootless on cgroup v1): nobody asked for one, nothing warns about it."""
    from podman_sandbox.engine.host import limits_enforced

    if not limits_enforced():
        return None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return round(max(cores - 0.5, cores * 0.75), 2)


def _cpus(doc: dict) -> float | None:
    if "cpus" not in doc:
        return default_cpus()
    return None if doc["cpus"] is None else float(doc["cpus"])


def _env_value(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _capability(name: str) -> str:
    name = name.upper()
    return name if name == "ALL" or name.startswith("CAP_") else f"CAP_{name}"


def build_spec(doc: dict, *, project_dir: str, source: str, mode: str) -> Spec:
    """Spec from a validated document (sandbox.yaml or config.json contents)."""
    project_dir = os.path.normpath(os.path.abspath(project_dir))
    memory = doc.get("memory")
    build = _build(doc.get("build"), project_dir)
    mounts = tuple(
        Mount(
            source=resolve_host_path(m["source"], project_dir),
            target=os.path.normpath(m["target"]),
            read_only=m.get("read_only", True),
            force=m.get("force") is True,
        )
        for m in doc.get("mounts") or ()
    )
    return Spec(
        image=image_name(doc),
        name=sandbox_name(doc, project_dir=project_dir, mode=mode),
        project_dir=project_dir,
        source=source,
        mode=mode,
        memory=None if memory is None else page_aligned(parse_size(memory)),
        disk=None if doc.get("disk") is None else parse_size(doc["disk"]),
        cpus=_cpus(doc),
        pids_limit=int(doc.get("pids_limit", DEFAULT_PIDS_LIMIT)),  # 5.0 validates as an integer
        auto_commit=bool(doc.get("auto_commit", False)),
        setup=tuple(doc.get("setup") or ()),
        env=tuple(sorted((k, _env_value(v)) for k, v in (doc.get("env") or {}).items())),
        network=doc.get("network") or "bridge",
        read_only=bool(doc.get("read_only", False)),
        cap_drop=tuple(_capability(c) for c in doc.get("cap_drop") or ()),
        cap_add=tuple(_capability(c) for c in doc.get("cap_add") or ()),
        user=doc.get("user"),
        mounts=mounts,
        selinux_label=doc.get("selinux_label") or "project",
        inputs=tuple(doc.get("inputs") or ()),
        ignore_changes=tuple(doc.get("ignore_changes") or ()),
        build=build,
        workspace=doc.get("workspace"),
        kube=_kube(doc.get("kube") or {}),
    )


def _kube(fields: dict) -> Kube:
    size = fields.get("size")
    return Kube(workspace=fields.get("workspace") or "emptydir",
                size=None if size is None else parse_size(size),
                storage_class=fields.get("storage_class"), registry=fields.get("registry"))


def _build(value, project_dir: str) -> Build | None:
    if value is None:
        return None
    fields: dict[str, Any] = {"containerfile": value} if isinstance(value, str) else value
    context = os.path.normpath(os.path.join(project_dir, fields.get("context") or "."))
    containerfile = fields.get("containerfile")
    if containerfile:
        containerfile = os.path.normpath(os.path.join(project_dir, containerfile))
    else:
        containerfile = os.path.join(context, "Containerfile")
        if not os.path.lexists(containerfile) and os.path.lexists(os.path.join(context, "Dockerfile")):
            containerfile = os.path.join(context, "Dockerfile")
    args = tuple(sorted((k, _env_value(v)) for k, v in (fields.get("args") or {}).items()))
    return Build(context=context, containerfile=containerfile, args=args,
                 target=fields.get("target") or None)

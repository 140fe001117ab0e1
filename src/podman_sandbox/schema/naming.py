"""What a validated document names: its sandbox (container), its image and the host
paths of its mounts.

Cheap to import (no dataclasses): validation uses these, and App.converge begins the
survey's first reads (engine/firstlook.py) from them before it builds the Spec
(schema/spec.py, which uses the same functions).
"""

from __future__ import annotations

import os
import re

from podman_sandbox.lite import sha256

DEFAULT_IMAGE = "alpine:latest"
CLASSIC_NAME = "podman-sandbox"
BUILD_IMAGE = "localhost/podman-sandbox-build:pending"  # until engine/build.py names the tag


def default_project_name(project_dir: str) -> str:
    """Readable and unique per path: sandbox-<folder>-<8 hex of the path>."""
    folder = re.sub(r"[^a-zA-Z0-9_.-]+", "-", os.path.basename(project_dir.rstrip("/")) or "root")
    folder = folder.strip("-.") or "root"
    digest = sha256(project_dir.encode()).hexdigest()[:8]
    return f"sandbox-{folder[:40]}-{digest}"


def sandbox_name(doc: dict, *, project_dir: str, mode: str) -> str:
    if mode == "classic":
        return doc.get("name") or CLASSIC_NAME
    return doc.get("name") or default_project_name(os.path.normpath(os.path.abspath(project_dir)))


def image_name(doc: dict) -> str:
    return doc.get("image") or (BUILD_IMAGE if doc.get("build") is not None else DEFAULT_IMAGE)


def resolve_host_path(path: str, base_dir: str) -> str:
    """~ expanded, relative paths taken from base_dir, normalised (links kept)."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return os.path.normpath(path)

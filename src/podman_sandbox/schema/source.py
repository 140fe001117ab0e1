"""Load the Spec that governs a Target: sandbox.yaml in a project, config.json elsewhere.

Validation (pyyaml + jsonschema) is the slow part of start-up, so the
validated document is cached under the cache folder, keyed by the file's
bytes: an unchanged file is never parsed or validated twice.
"""

from __future__ import annotations

import hashlib
import json
import os

from podman_sandbox import __version__, paths
from podman_sandbox.errors import SpecError
from podman_sandbox.locate import Target
from podman_sandbox.schema.spec import Spec, build_spec


def display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


def _cache_path(content: bytes, path: str, kind: str) -> str:
    h = hashlib.sha256(f"{__version__}\0{kind}\0{path}\0".encode() + content).hexdigest()
    return os.path.join(paths.cache_dir(), "specs", h[:32] + ".json")


def read_document(path: str, *, kind: str) -> dict:
    """The validated document in path (kind: "project" or "classic")."""
    try:
        with open(path, "rb") as fh:
            content = fh.read()
    except FileNotFoundError:
        if kind == "classic":
            return {}
        raise SpecError([f"{display_path(path)}: no such file"]) from None
    except OSError as exc:
        raise SpecError([f"{display_path(path)}: cannot read: {exc.strerror}"]) from None
    cached = _cache_path(content, path, kind)
    try:
        with open(cached, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        pass
    doc = validate_text(path, content.decode("utf-8", errors="replace"), kind=kind)
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        tmp = f"{cached}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, cached)
    except OSError:
        pass  # a cache we cannot write only costs speed
    return doc


def validate_text(path: str, text: str, *, kind: str) -> dict:
    from podman_sandbox.schema.loader import load_document
    from podman_sandbox.schema.validate import validate_document

    name = display_path(path)
    doc, locator = load_document(path, text=text, display_name=name)
    validate_document(doc, locator, name, require_image=(kind == "project"),
                      base_dir=os.path.dirname(os.path.abspath(path)))
    return doc


def load_spec(target: Target) -> Spec:
    doc = read_document(target.spec_path, kind=target.mode)
    return build_spec(doc, project_dir=target.project_dir, source=target.spec_path, mode=target.mode)
